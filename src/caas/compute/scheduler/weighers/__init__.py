"""Host weighers: rank the hosts that passed the filters.

Holds the ``HostWeigher`` protocol, ``default_weighers()`` and re-exports each weigher class.
One module per weigher, named after Nova's class.
"""

from __future__ import annotations

from typing import Protocol

from caas.compute.scheduler.state import HostState, RequestSpec
from caas.compute.scheduler.weighers.cpu import CPUWeigher
from caas.compute.scheduler.weighers.disk import DiskWeigher
from caas.compute.scheduler.weighers.ram import RAMWeigher
from caas.compute.scheduler.weighers.soft_affinity import ServerGroupSoftAffinityWeigher
from caas.compute.scheduler.weighers.soft_anti_affinity import ServerGroupSoftAntiAffinityWeigher


class HostWeigher(Protocol):
    """``weigh`` gives a raw weight (higher is better before the multiplier); the scheduler
    min-max normalises raw weights over the candidates and multiplies by
    ``multiplier(strategy)``. ``applies`` (optional; assumed True when missing) says whether
    the weigher takes part for this spec."""

    name: str

    def multiplier(self, strategy: str) -> float: ...

    def weigh(self, host: HostState, spec: RequestSpec) -> float: ...


def default_weighers() -> list[HostWeigher]:
    """Every weigher: the three resource weighers and the two soft server-group weighers."""
    return [
        RAMWeigher(),
        CPUWeigher(),
        DiskWeigher(),
        ServerGroupSoftAffinityWeigher(),
        ServerGroupSoftAntiAffinityWeigher(),
    ]


__all__ = [
    "CPUWeigher",
    "DiskWeigher",
    "HostWeigher",
    "RAMWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
    "default_weighers",
]
