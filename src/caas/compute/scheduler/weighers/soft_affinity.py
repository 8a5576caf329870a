"""Holds ``ServerGroupSoftAffinityWeigher``: "soft-affinity" groups prefer their hosts."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec

# Nova's default soft_affinity_weight_multiplier is 1.0, but Nova's resource weighers are
# fewer or weaker by default. Here three resource weighers each add up to 1.0, so a 1.0 soft
# weigher could be outvoted by free capacity; 10.0 makes the soft policy decide first and
# capacity only break its ties, which is what a user asking for soft-affinity expects.
SOFT_MULTIPLIER = 10.0


class ServerGroupSoftAffinityWeigher:
    """For policy "soft-affinity" only. Raw weight: the group's members already on the host
    (more is better). Never excludes a host; the strategy does not change its sign."""

    name = "ServerGroupSoftAffinityWeigher"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.group_policy == "soft-affinity"

    def multiplier(self, strategy: str) -> float:
        return SOFT_MULTIPLIER

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return spec.group_hosts.get(host.name, 0)
