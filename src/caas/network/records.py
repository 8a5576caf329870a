"""What the network service returns: its rows with the facts a representation of them needs
and the rows do not hold (a network's subnets, a port's addresses and groups, ...). They carry
domain names only; the API renders them in Neutron's format (``caas.api.network.views``).
Rows are read with ``expire_on_commit=False``: they keep their values after the transaction."""

from __future__ import annotations

from dataclasses import dataclass

from caas.network.models import Network, Port, Router, SecurityGroup, SecurityGroupRule, Subnet


@dataclass(frozen=True)
class Address:
    """A fixed IP: an address of a subnet."""

    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class NetworkRecord:
    row: Network
    subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class SubnetRecord:
    """``external``: the subnet's network is external."""

    row: Subnet
    external: bool


@dataclass(frozen=True)
class PortRecord:
    """``fixed_ips`` in allocation order; ``security_groups``: their ids."""

    row: Port
    fixed_ips: tuple[Address, ...]
    security_groups: tuple[str, ...]


@dataclass(frozen=True)
class RouterRecord:
    """``gateway_ips``: the addresses of the router's gateway port (none without a gateway)."""

    row: Router
    gateway_ips: tuple[Address, ...]


@dataclass(frozen=True)
class GroupRecord:
    row: SecurityGroup
    rules: tuple[SecurityGroupRule, ...]


@dataclass(frozen=True)
class Interface:
    """A router's interface as added or removed: the port, and the subnets it was on."""

    router_id: str
    project_id: str
    port_id: str
    network_id: str
    subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class ServerPort:
    """A port bound to a server: what the driver wires and the compute API shows.
    ``fixed_ips``: [{"subnet_id", "ip_address", "cidr", "gateway_ip", "dns_nameservers"}];
    ``floating_ips``: addresses; ``security_groups``: group names."""

    id: str
    mac_address: str
    network_id: str
    network_name: str
    mtu: int
    fixed_ips: tuple[dict, ...]
    floating_ips: tuple[str, ...]
    security_groups: tuple[str, ...]
