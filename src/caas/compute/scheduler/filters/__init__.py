"""Host filters: pure predicates over a ``HostState`` for one ``RequestSpec``.

Holds the ``HostFilter`` protocol, ``default_filters()`` and re-exports each filter class.
One module per filter, named after Nova's class.
"""

from __future__ import annotations

from typing import Protocol

from caas.compute.scheduler.filters.affinity import ServerGroupAffinityFilter
from caas.compute.scheduler.filters.anti_affinity import ServerGroupAntiAffinityFilter
from caas.compute.scheduler.filters.availability_zone import AvailabilityZoneFilter
from caas.compute.scheduler.filters.compute import ComputeFilter
from caas.compute.scheduler.filters.cpu import VCPUFilter
from caas.compute.scheduler.filters.different_host import DifferentHostFilter
from caas.compute.scheduler.filters.disk import DiskFilter
from caas.compute.scheduler.filters.pci_passthrough import PciPassthroughFilter
from caas.compute.scheduler.filters.ram import RamFilter
from caas.compute.scheduler.filters.same_host import SameHostFilter
from caas.compute.scheduler.state import HostState, RequestSpec


class HostFilter(Protocol):
    """``host_passes`` is a pure predicate and returns True whenever the filter does not
    concern the spec. ``applies`` (optional; assumed True when missing) says whether the
    filter can remove any host for this spec, so the scheduler skips it otherwise."""

    name: str

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool: ...


def default_filters() -> list[HostFilter]:
    """Every filter, in the order the scheduler applies them (and reports them in faults)."""
    return [
        ComputeFilter(),
        AvailabilityZoneFilter(),
        VCPUFilter(),
        RamFilter(),
        DiskFilter(),
        PciPassthroughFilter(),
        ServerGroupAffinityFilter(),
        ServerGroupAntiAffinityFilter(),
        SameHostFilter(),
        DifferentHostFilter(),
    ]


__all__ = [
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "DifferentHostFilter",
    "DiskFilter",
    "HostFilter",
    "PciPassthroughFilter",
    "RamFilter",
    "SameHostFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
    "VCPUFilter",
    "default_filters",
]
