"""Holds ``VCPUFilter``: enough vCPUs, overcommit by ``cpu_allocation_ratio``."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class VCPUFilter:
    """Passes when ``vcpus_used + spec.vcpus <= vcpus * cpu_allocation_ratio``."""

    name = "VCPUFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.vcpus_used + spec.vcpus <= host.vcpus * host.cpu_allocation_ratio
