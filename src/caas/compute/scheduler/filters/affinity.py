"""Holds ``ServerGroupAffinityFilter``: hard "affinity" groups stay on one host."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class ServerGroupAffinityFilter:
    """For policy "affinity": any host passes while the group has no member yet; after
    that only the hosts in ``spec.group_hosts``. Other policies: every host passes."""

    name = "ServerGroupAffinityFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.group_policy == "affinity" and bool(spec.group_hosts)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != "affinity" or not spec.group_hosts:
            return True
        return host.name in spec.group_hosts
