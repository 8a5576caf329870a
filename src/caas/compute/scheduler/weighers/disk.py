"""Holds ``DiskWeigher``: rank by free local disk."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class DiskWeigher:
    """Raw weight: free disk, ``local_gb * disk_allocation_ratio - local_gb_used``.
    "spread" prefers the most free (+1.0), "stack" the least (-1.0)."""

    name = "DiskWeigher"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def multiplier(self, strategy: str) -> float:
        return -1.0 if strategy == "stack" else 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return host.local_gb * host.disk_allocation_ratio - host.local_gb_used
