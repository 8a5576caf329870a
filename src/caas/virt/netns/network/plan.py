"""The desired kernel state, computed from database rows: ``load`` reads the rows into a
``Snapshot`` (one read transaction); ``build`` turns a snapshot into a ``Plan`` and is pure.

What the plan holds:
- a bridge per network with at least one port, and per external network (which carries its
  subnets' gateway addresses, so the host reaches floating IPs directly);
- a namespace per router, with one veth per interface port (host end on the subnet's bridge,
  inner end ``qr-...`` with the subnet's gateway address) and per gateway port (``qg-...`` on
  the external bridge, the external address, the floating addresses, a default route via the
  external gateway), static routes and its ``ip cs-nat`` ruleset;
- per instance namespace whose interfaces are known (from the records), its security ruleset;
- the host ruleset (anti-spoofing for every instance port with port security).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.compute.models import Server
from caas.network.models import (FloatingIP, Network, Port, PortIP, PortSecurityGroup, Router, SecurityGroup,
                                 SecurityGroupRule, Subnet)
from caas.virt.netns import names
from caas.virt.netns.network import nft

log = logging.getLogger(__name__)

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
COMPUTE = "compute:"


# ---- input ---------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """The network rows (detached ORM objects) and the ids of the servers that exist."""

    networks: dict[str, Network] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    ports: dict[str, Port] = field(default_factory=dict)
    ips: dict[str, list[PortIP]] = field(default_factory=dict)  # port id -> its fixed IPs, in order
    port_groups: dict[str, list[str]] = field(default_factory=dict)  # port id -> group ids
    groups: dict[str, SecurityGroup] = field(default_factory=dict)
    rules: dict[str, list[SecurityGroupRule]] = field(default_factory=dict)  # group id -> rules
    routers: dict[str, Router] = field(default_factory=dict)
    floating_ips: list[FloatingIP] = field(default_factory=list)
    servers: set[str] = field(default_factory=set)


def load(session: Session) -> Snapshot:
    """Every row the plan needs, in a handful of queries."""
    snap = Snapshot()
    snap.networks = {n.id: n for n in session.scalars(select(Network))}
    snap.subnets = {s.id: s for s in session.scalars(select(Subnet))}
    snap.ports = {p.id: p for p in session.scalars(select(Port))}
    for ip in session.scalars(select(PortIP).order_by(PortIP.id)):
        snap.ips.setdefault(ip.port_id, []).append(ip)
    for link in session.scalars(select(PortSecurityGroup)):
        snap.port_groups.setdefault(link.port_id, []).append(link.security_group_id)
    snap.groups = {g.id: g for g in session.scalars(select(SecurityGroup))}
    for rule in session.scalars(select(SecurityGroupRule)):
        snap.rules.setdefault(rule.security_group_id, []).append(rule)
    snap.routers = {r.id: r for r in session.scalars(select(Router))}
    snap.floating_ips = list(session.scalars(select(FloatingIP)))
    snap.servers = set(session.scalars(select(Server.id)))
    return snap


# ---- output --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BridgePlan:
    name: str
    network_id: str
    addresses: tuple[str, ...] = ()  # "172.24.4.1/24" on the external bridge; none otherwise


@dataclass(frozen=True)
class RouterPort:
    port_id: str
    tap: str  # host end, on ``bridge``
    ifname: str  # inner end, in the router's namespace
    bridge: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]  # "10.0.0.1/24"
    gateway: bool = False


@dataclass(frozen=True)
class RouterPlan:
    router_id: str
    netns: str
    ports: tuple[RouterPort, ...]
    routes: tuple[tuple[str, str], ...]  # (destination, nexthop); the default route included
    ruleset: str


@dataclass(frozen=True)
class InstancePlan:
    server_id: str
    netns: str
    ifnames: Mapping[str, str]  # port id -> interface name in the namespace
    ruleset: str


@dataclass(frozen=True)
class Plan:
    bridges: dict[str, BridgePlan]
    routers: dict[str, RouterPlan]  # by namespace name
    instances: dict[str, InstancePlan]  # by namespace name, only those whose interfaces are known
    host_ruleset: str
    ports: frozenset[str]  # every port id in the database
    servers: frozenset[str]  # every server id in the database


def router_ifname(port_id: str, gateway: bool) -> str:
    """The inner name of a router port: ``qr-``/``qg-`` and 11 hex digits of the port id."""
    digits = names.short(port_id) + port_id.replace("-", "").lower()[names.SHORT:names.SHORT + 1]
    return ("qg-" if gateway else "qr-") + digits


def build(snap: Snapshot, plugged: Mapping[str, Mapping[str, str]]) -> Plan:
    """The plan. ``plugged``: server id -> {port id: interface name in its namespace}, for the
    instances plug() made (from the records); servers no longer in the database are left out."""
    routers = {}
    for router in snap.routers.values():
        try:
            plan = router_plan(snap, router)
        except (ValueError, KeyError) as exc:  # a row the kernel cannot take: skip it, keep the rest
            log.warning("router %s: %s", router.id, exc)
            continue
        routers[plan.netns] = plan
    instances = {}
    for server_id, mapping in plugged.items():
        if server_id in snap.servers:
            ports = {p: i for p, i in mapping.items() if p in snap.ports}
            ns = names.instance_ns(server_id)
            instances[ns] = InstancePlan(server_id, ns, ports, instance_ruleset(snap, ports))
    return Plan(bridges=bridges(snap), routers=routers, instances=instances, host_ruleset=host_ruleset(snap),
                ports=frozenset(snap.ports), servers=frozenset(snap.servers))


def bridges(snap: Snapshot) -> dict[str, BridgePlan]:
    used = {p.network_id for p in snap.ports.values()}
    out = {}
    for net in snap.networks.values():
        if net.external or net.id in used:
            addresses = external_addresses(snap, net.id) if net.external else ()
            out[names.bridge(net.id)] = BridgePlan(names.bridge(net.id), net.id, addresses)
    return out


def external_addresses(snap: Snapshot, network_id: str) -> tuple[str, ...]:
    """The host's addresses on an external network: each subnet's gateway with its prefix."""
    out = []
    for sub in snap.subnets.values():
        if sub.network_id == network_id and sub.gateway_ip:
            out.append(_with_prefix(sub.gateway_ip, sub.cidr))
    return tuple(sorted(out))


def _with_prefix(ip: str, cidr: str) -> str:
    return f"{ipaddress.ip_address(ip)}/{ipaddress.ip_network(cidr, strict=False).prefixlen}"


def _mtu(snap: Snapshot, network_id: str) -> int:
    net = snap.networks.get(network_id)
    return int(net.mtu) if net is not None and net.mtu else 1500


# ---- routers -------------------------------------------------------------------------------
def router_plan(snap: Snapshot, router: Router) -> RouterPlan:
    ports = []
    snat_cidrs = []
    for port in sorted(snap.ports.values(), key=lambda p: p.id):
        if port.device_id == router.id and port.device_owner == INTERFACE:
            ports.append(_router_port(snap, port, gateway=False))
            snat_cidrs += [snap.subnets[ip.subnet_id].cidr for ip in snap.ips.get(port.id, ())
                           if ip.subnet_id in snap.subnets]
    gateway, gateway_ip, routes = None, None, []
    gw_port = snap.ports.get(router.gateway_port_id or "")
    if gw_port is not None:
        gateway = _router_port(snap, gw_port, gateway=True)
        ports.append(gateway)
        for ip in snap.ips.get(gw_port.id, ()):
            sub = snap.subnets.get(ip.subnet_id)
            if sub is not None and ipaddress.ip_address(ip.ip_address).version == 4 and gateway_ip is None:
                gateway_ip = ip.ip_address
                if sub.gateway_ip:
                    routes.append(("0.0.0.0/0", str(ipaddress.ip_address(sub.gateway_ip))))
    for route in router.routes or ():
        routes.append((str(ipaddress.ip_network(route["destination"], strict=False)),
                       str(ipaddress.ip_address(route["nexthop"]))))
    floatings = [nft.Floating(f.floating_ip_address, f.fixed_ip_address) for f in snap.floating_ips
                 if f.router_id == router.id and f.port_id and f.fixed_ip_address]
    if gateway is not None:
        # The floating addresses live on the gateway interface: the router answers ARP for them.
        extra = tuple(f"{ipaddress.ip_address(f.floating_ip)}/32" for f in floatings)
        ports[-1] = replace(gateway, addresses=gateway.addresses + extra)
    ruleset = nft.router_ruleset(gateway.ifname if gateway else None, gateway_ip,
                                 snat_cidrs if router.enable_snat else (), floatings)
    return RouterPlan(router.id, names.router_ns(router.id), tuple(ports), tuple(routes), ruleset)


def _router_port(snap: Snapshot, port: Port, gateway: bool) -> RouterPort:
    addresses = tuple(_with_prefix(ip.ip_address, snap.subnets[ip.subnet_id].cidr)
                      for ip in snap.ips.get(port.id, ()) if ip.subnet_id in snap.subnets)
    return RouterPort(port_id=port.id, tap=names.tap(port.id), ifname=router_ifname(port.id, gateway),
                      bridge=names.bridge(port.network_id), mac=nft.mac(port.mac_address),
                      mtu=_mtu(snap, port.network_id), addresses=addresses, gateway=gateway)


# ---- instances -----------------------------------------------------------------------------
def _port_security(port: Port) -> bool:
    return port.port_security_enabled is not False


def port_addresses(snap: Snapshot, port: Port) -> list[str]:
    """The source addresses a port may use: fixed IPs and allowed address pairs."""
    out = [ip.ip_address for ip in snap.ips.get(port.id, ())]
    for pair in port.allowed_address_pairs or ():
        if isinstance(pair, dict) and pair.get("ip_address"):
            out.append(str(nft.network(pair["ip_address"])))
    return out


def instance_ruleset(snap: Snapshot, ifnames: Mapping[str, str]) -> str:
    """The ``inet cs-sg`` ruleset of one instance whose ports are ``ifnames`` (port id ->
    interface name in its namespace)."""
    ports, used_groups = [], set()
    for port_id, name in sorted(ifnames.items(), key=lambda kv: kv[1]):
        port = snap.ports.get(port_id)
        if port is None:
            continue
        groups = [g for g in snap.port_groups.get(port_id, ()) if g in snap.groups]
        rules = tuple(_sg_rule(r) for g in groups for r in snap.rules.get(g, ()))
        used_groups |= {r.remote_group_id for r in rules if r.remote_group_id}
        stateful = not groups or any(snap.groups[g].stateful is not False for g in groups)
        ports.append(nft.SgPort(ifname=name, rules=rules, port_security=_port_security(port), stateful=stateful))
    return nft.security_ruleset(ports, group_members(snap, used_groups))


def _sg_rule(rule: SecurityGroupRule) -> nft.SgRule:
    return nft.SgRule(direction=rule.direction, ethertype=rule.ethertype or "IPv4", protocol=rule.protocol,
                      port_range_min=rule.port_range_min, port_range_max=rule.port_range_max,
                      remote_ip_prefix=rule.remote_ip_prefix, remote_group_id=rule.remote_group_id)


def group_members(snap: Snapshot, group_ids: set[str]) -> dict[str, list[str]]:
    """Remote group id -> the addresses of its member ports (fixed IPs and address pairs)."""
    out: dict[str, list[str]] = defaultdict(list)
    for port_id, groups in snap.port_groups.items():
        port = snap.ports.get(port_id)
        if port is None:
            continue
        for g in groups:
            if g in group_ids:
                out[g] += port_addresses(snap, port)
    return out


def host_ruleset(snap: Snapshot) -> str:
    """Anti-spoofing for every instance port with port security, whether plugged or not (a
    rule for a tap that does not exist matches nothing)."""
    spoof = []
    for port in snap.ports.values():
        if (port.device_owner or "").startswith(COMPUTE) and _port_security(port):
            pair_macs = tuple(p["mac_address"] for p in port.allowed_address_pairs or ()
                              if isinstance(p, dict) and p.get("mac_address"))
            spoof.append(nft.SpoofPort(tap=names.tap(port.id), mac=port.mac_address,
                                       addresses=tuple(port_addresses(snap, port)), extra_macs=pair_macs))
    external = [names.bridge(n.id) for n in snap.networks.values() if n.external]
    return nft.host_ruleset(spoof, external)
