"""Holds ``ServerGroupSoftAntiAffinityWeigher``: "soft-anti-affinity" groups spread out."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec
from caas.compute.scheduler.weighers.soft_affinity import SOFT_MULTIPLIER


class ServerGroupSoftAntiAffinityWeigher:
    """For policy "soft-anti-affinity" only. Raw weight: minus the group's members already on
    the host (fewer is better). Never excludes a host; multiplier ``SOFT_MULTIPLIER`` (see
    soft_affinity.py for why it outweighs the resource weighers)."""

    name = "ServerGroupSoftAntiAffinityWeigher"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.group_policy == "soft-anti-affinity"

    def multiplier(self, strategy: str) -> float:
        return SOFT_MULTIPLIER

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return -spec.group_hosts.get(host.name, 0)
