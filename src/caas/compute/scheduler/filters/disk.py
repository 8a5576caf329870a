"""Holds ``DiskFilter``: enough local disk, overcommit by ``disk_allocation_ratio``."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class DiskFilter:
    """Passes when ``local_gb_used + spec.disk_gb <= local_gb * disk_allocation_ratio``."""

    name = "DiskFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.local_gb_used + spec.disk_gb <= host.local_gb * host.disk_allocation_ratio
