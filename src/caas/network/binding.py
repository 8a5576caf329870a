"""The network service as compute sees it: a small typed interface (networks a server may
use, ports to bind to a server on a host, the ports a server has) so that compute never
handles the network's rows or requests. It calls the network service in-process; its inputs
and outputs are plain data that could cross a process."""

from __future__ import annotations

from dataclasses import dataclass

from caas.context import AuthContext
from caas.network.records import NetworkRecord, ServerPort
from caas.network.requests import PortChanges, PortCreate


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    project_id: str
    shared: bool
    external: bool
    has_subnets: bool


@dataclass(frozen=True)
class PortInfo:
    id: str
    network_id: str
    device_id: str


@dataclass(frozen=True)
class GroupInfo:
    id: str
    name: str
    project_id: str


@dataclass(frozen=True)
class PortBinding:
    """Where a server's port is bound: the server, the host and the owner (``compute:ZONE``)."""

    server_id: str
    host: str | None
    owner: str


class NetworkBinding:
    """Compute's view of a NetworkService (``network``)."""

    def __init__(self, network) -> None:
        self.network = network

    def ensure_default_security_group(self, project_id: str) -> None:
        self.network.ensure_default_security_group(project_id)

    def networks(self, ctx: AuthContext) -> list[NetworkInfo]:
        """The networks the caller can see."""
        return [_network(n) for n in self.network.list_networks(ctx)]

    def network_info(self, ctx: AuthContext, network_id: str) -> NetworkInfo:
        """One network the caller can see; NotFound otherwise."""
        return _network(self.network.show_network(ctx, network_id))

    def port(self, ctx: AuthContext, port_id: str) -> PortInfo:
        """One port the caller can see; NotFound otherwise."""
        p = self.network.show_port(ctx, port_id).row
        return PortInfo(p.id, p.network_id, p.device_id)

    def security_groups(self, ctx: AuthContext) -> list[GroupInfo]:
        return [GroupInfo(g.row.id, g.row.name, g.row.project_id) for g in self.network.list_security_groups(ctx)]

    def server_ports(self, server_ids: list[str]) -> dict[str, list[ServerPort]]:
        """Every given server's ports (an empty list for one without), in creation order."""
        return self.network.device_ports(server_ids)

    def bind_port(self, ctx: AuthContext, port_id: str, binding: PortBinding) -> None:
        """Give an existing port to a server on a host."""
        self.network.update_port(ctx, port_id, PortChanges(device_id=binding.server_id, device_owner=binding.owner,
                                                           host_id=binding.host))

    def create_port(self, ctx: AuthContext, project_id: str, network_id: str, binding: PortBinding,
                    security_groups: list[str], fixed_ip: str | None = None) -> None:
        """A new port on ``network_id`` for a server (the network's default groups when
        ``security_groups`` is empty; an address of its choosing unless ``fixed_ip``)."""
        self.network.create_port(ctx, PortCreate(network_id, project_id=project_id, device_id=binding.server_id,
                                                 device_owner=binding.owner, host_id=binding.host,
                                                 security_groups=security_groups or None,
                                                 fixed_ips=[{"ip_address": fixed_ip}] if fixed_ip else None))

    def unbind_port(self, ctx: AuthContext, port_id: str) -> None:
        """Take a port back from its server (the user's own port outlives the server)."""
        self.network.update_port(ctx, port_id, PortChanges(device_id="", device_owner="", host_id=""))

    def delete_port(self, ctx: AuthContext, port_id: str) -> None:
        self.network.delete_port(ctx, port_id)


def _network(n: NetworkRecord) -> NetworkInfo:
    return NetworkInfo(n.row.id, n.row.project_id, bool(n.row.shared), bool(n.row.external), bool(n.subnet_ids))
