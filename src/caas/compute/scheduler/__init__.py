"""The compute scheduler: pure Python over host snapshots, no database and no HTTP.

Holds (re-exported): ``HostState``, ``RequestSpec``, ``PciAlias``, ``PciRequest`` (state.py),
``pci_requests`` (pci.py), ``Decision``, ``Scheduler``, ``default_scheduler`` (scheduler.py).
Filters live in filters/, weighers in weighers/, one module each.
"""

from __future__ import annotations

from caas.compute.scheduler.pci import pci_requests
from caas.compute.scheduler.scheduler import Decision, Scheduler, default_scheduler
from caas.compute.scheduler.state import HostState, PciAlias, PciRequest, RequestSpec, disk_gb

__all__ = [
    "Decision",
    "HostState",
    "PciAlias",
    "PciRequest",
    "RequestSpec",
    "Scheduler",
    "default_scheduler",
    "disk_gb",
    "pci_requests",
]
