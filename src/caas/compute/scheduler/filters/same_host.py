"""Holds ``SameHostFilter``: the scheduler hint ``same_host``."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class SameHostFilter:
    """Without the hint (``spec.same_host`` None) every host passes; with it only the hosts
    named in it (an empty set, e.g. instances not placed yet, lets none pass)."""

    name = "SameHostFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.same_host is not None

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return spec.same_host is None or host.name in spec.same_host
