"""Holds ``RAMWeigher``: rank by free memory."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class RAMWeigher:
    """Raw weight: free RAM, ``memory_mb * ram_allocation_ratio - memory_mb_used``.
    "spread" prefers the most free (+1.0), "stack" the least (-1.0)."""

    name = "RAMWeigher"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def multiplier(self, strategy: str) -> float:
        return -1.0 if strategy == "stack" else 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return host.memory_mb * host.ram_allocation_ratio - host.memory_mb_used
