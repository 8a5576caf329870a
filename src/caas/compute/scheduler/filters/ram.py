"""Holds ``RamFilter``: enough memory, overcommit by ``ram_allocation_ratio``."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class RamFilter:
    """Passes when ``memory_mb_used + spec.memory_mb <= memory_mb * ram_allocation_ratio``."""

    name = "RamFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.memory_mb_used + spec.memory_mb <= host.memory_mb * host.ram_allocation_ratio
