"""Holds ``ServerGroupAntiAffinityFilter``: hard "anti-affinity" groups spread out."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class ServerGroupAntiAffinityFilter:
    """For policy "anti-affinity": a host passes while it holds fewer than
    ``spec.max_server_per_host`` members of the group. Other policies: every host passes."""

    name = "ServerGroupAntiAffinityFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.group_policy == "anti-affinity"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != "anti-affinity":
            return True
        return spec.group_hosts.get(host.name, 0) < spec.max_server_per_host
