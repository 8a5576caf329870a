"""Holds ``CPUWeigher``: rank by free vCPUs."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class CPUWeigher:
    """Raw weight: free vCPUs, ``vcpus * cpu_allocation_ratio - vcpus_used``.
    "spread" prefers the most free (+1.0), "stack" the least (-1.0)."""

    name = "CPUWeigher"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def multiplier(self, strategy: str) -> float:
        return -1.0 if strategy == "stack" else 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return host.vcpus * host.cpu_allocation_ratio - host.vcpus_used
