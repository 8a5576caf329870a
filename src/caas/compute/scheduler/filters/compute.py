"""Holds ``ComputeFilter``: only hosts whose compute service is enabled and up."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class ComputeFilter:
    """Passes a host whose nova-compute service is enabled and up. Applies to every spec,
    forced hosts included: a disabled or dead host cannot take the instance either way."""

    name = "ComputeFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.enabled and host.up
