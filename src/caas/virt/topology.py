"""The network topology a host must wire, as plain data: what the network service hands a
driver through ``Driver.apply_network`` (see ``caas.network.topology`` for how it is made).

Ids, addresses, CIDRs and security group rules only: no ORM object, nothing a driver could use
to read another service's tables. ``as_dict``/``from_dict`` turn a topology into JSON-ready
data and back, so the same call can later cross a network to an agent on another host.

``generation`` orders topologies: a driver keeps the highest it was given, so a topology read
earlier but delivered later never replaces a newer one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Network:
    id: str
    external: bool = False
    mtu: int = 1500


@dataclass(frozen=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    gateway_ip: str | None = None


@dataclass(frozen=True)
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class AddressPair:
    """An allowed address pair: an address or CIDR, and the MAC it may use (None: the port's)."""

    ip_address: str
    mac_address: str | None = None


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    device_id: str = ""
    device_owner: str = ""
    port_security_enabled: bool = True
    fixed_ips: tuple[FixedIP, ...] = ()
    security_groups: tuple[str, ...] = ()  # group ids
    allowed_address_pairs: tuple[AddressPair, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A security group rule: protocol as Neutron writes it (a name from ``caas.ipproto`` or a
    number as text, None for any); ICMP rules carry type and code in the port range."""

    direction: str  # ingress | egress
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    stateful: bool = True
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Route:
    destination: str  # CIDR
    nexthop: str


@dataclass(frozen=True)
class Router:
    id: str
    enable_snat: bool = True
    gateway_port_id: str | None = None
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class FloatingIP:
    floating_ip_address: str
    fixed_ip_address: str | None = None
    port_id: str | None = None
    router_id: str | None = None


@dataclass(frozen=True)
class Topology:
    """Everything one host must wire: its networks, subnets, ports (with their addresses and
    groups), security groups, routers and floating IPs, and the ids of the instances that
    exist (a namespace of any other instance is a leftover)."""

    generation: int = 0
    host: str = ""
    networks: tuple[Network, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    ports: tuple[Port, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    routers: tuple[Router, ...] = ()
    floating_ips: tuple[FloatingIP, ...] = ()
    servers: tuple[str, ...] = ()

    def port_ids(self) -> frozenset[str]:
        return frozenset(p.id for p in self.ports)


EMPTY = Topology()


def as_dict(topology: Topology) -> dict:
    """JSON-ready data (dicts, lists, strings, numbers, booleans, None)."""
    return dataclasses.asdict(topology)


def from_dict(data: dict) -> Topology:
    """The topology ``as_dict`` gave (tuples where it has lists); KeyError/TypeError if malformed."""
    def port(p: dict) -> Port:
        return Port(**{**p, "fixed_ips": tuple(FixedIP(**i) for i in p["fixed_ips"]),
                       "security_groups": tuple(p["security_groups"]),
                       "allowed_address_pairs": tuple(AddressPair(**a) for a in p["allowed_address_pairs"])})

    return Topology(
        generation=data["generation"], host=data["host"],
        networks=tuple(Network(**n) for n in data["networks"]),
        subnets=tuple(Subnet(**s) for s in data["subnets"]),
        ports=tuple(port(p) for p in data["ports"]),
        security_groups=tuple(SecurityGroup(**{**g, "rules": tuple(Rule(**r) for r in g["rules"])})
                              for g in data["security_groups"]),
        routers=tuple(Router(**{**r, "routes": tuple(Route(**x) for x in r["routes"])}) for r in data["routers"]),
        floating_ips=tuple(FloatingIP(**f) for f in data["floating_ips"]),
        servers=tuple(data["servers"]))
