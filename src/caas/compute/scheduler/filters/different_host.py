"""Holds ``DifferentHostFilter``: the scheduler hint ``different_host``."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class DifferentHostFilter:
    """Passes a host not named in ``spec.different_host``."""

    name = "DifferentHostFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.different_host)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.name not in spec.different_host
