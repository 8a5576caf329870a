"""The desired kernel state, computed from the topology the network service gave
(``caas.virt.topology``): ``index`` files it by id into a ``Snapshot``; ``build`` turns a
snapshot into a ``Plan``. Pure: no database, no kernel.

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

from caas.virt import topology as t
from caas.virt.netns import names
from caas.virt.netns.network import nft

log = logging.getLogger(__name__)

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
COMPUTE = "compute:"


# ---- input ---------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """A topology indexed for planning: by id, and each port's fixed IPs and groups."""

    networks: dict[str, t.Network] = field(default_factory=dict)
    subnets: dict[str, t.Subnet] = field(default_factory=dict)
    ports: dict[str, t.Port] = field(default_factory=dict)
    ips: dict[str, tuple[t.FixedIP, ...]] = field(default_factory=dict)  # port id -> its fixed IPs, in order
    port_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # port id -> group ids
    groups: dict[str, t.SecurityGroup] = field(default_factory=dict)
    rules: dict[str, tuple[t.Rule, ...]] = field(default_factory=dict)  # group id -> rules
    routers: dict[str, t.Router] = field(default_factory=dict)
    floating_ips: tuple[t.FloatingIP, ...] = ()
    servers: set[str] = field(default_factory=set)


def index(topology: t.Topology) -> Snapshot:
    """The topology's objects by id (pure)."""
    return Snapshot(networks={n.id: n for n in topology.networks}, subnets={s.id: s for s in topology.subnets},
                    ports={p.id: p for p in topology.ports},
                    ips={p.id: p.fixed_ips for p in topology.ports if p.fixed_ips},
                    port_groups={p.id: p.security_groups for p in topology.ports if p.security_groups},
                    groups={g.id: g for g in topology.security_groups},
                    rules={g.id: g.rules for g in topology.security_groups},
                    routers={r.id: r for r in topology.routers}, floating_ips=topology.floating_ips,
                    servers=set(topology.servers))


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
def router_plan(snap: Snapshot, router: t.Router) -> RouterPlan:
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
    for route in router.routes:
        routes.append((str(ipaddress.ip_network(route.destination, strict=False)),
                       str(ipaddress.ip_address(route.nexthop))))
    floatings = [nft.Floating(f.floating_ip_address, f.fixed_ip_address) for f in snap.floating_ips
                 if f.router_id == router.id and f.port_id and f.fixed_ip_address]
    if gateway is not None:
        # The floating addresses live on the gateway interface: the router answers ARP for them.
        extra = tuple(f"{ipaddress.ip_address(f.floating_ip)}/32" for f in floatings)
        ports[-1] = replace(gateway, addresses=gateway.addresses + extra)
    ruleset = nft.router_ruleset(gateway.ifname if gateway else None, gateway_ip,
                                 snat_cidrs if router.enable_snat else (), floatings)
    return RouterPlan(router.id, names.router_ns(router.id), tuple(ports), tuple(routes), ruleset)


def _router_port(snap: Snapshot, port: t.Port, gateway: bool) -> RouterPort:
    addresses = tuple(_with_prefix(ip.ip_address, snap.subnets[ip.subnet_id].cidr)
                      for ip in snap.ips.get(port.id, ()) if ip.subnet_id in snap.subnets)
    return RouterPort(port_id=port.id, tap=names.tap(port.id), ifname=router_ifname(port.id, gateway),
                      bridge=names.bridge(port.network_id), mac=nft.mac(port.mac_address),
                      mtu=_mtu(snap, port.network_id), addresses=addresses, gateway=gateway)


# ---- instances -----------------------------------------------------------------------------
def _port_security(port: t.Port) -> bool:
    return port.port_security_enabled


def port_addresses(snap: Snapshot, port: t.Port) -> list[str]:
    """The source addresses a port may use: fixed IPs and allowed address pairs."""
    return [ip.ip_address for ip in port.fixed_ips] + [str(nft.network(p.ip_address))
                                                       for p in port.allowed_address_pairs]


def instance_ruleset(snap: Snapshot, ifnames: Mapping[str, str]) -> str:
    """The ``inet cs-sg`` ruleset of one instance whose ports are ``ifnames`` (port id ->
    interface name in its namespace)."""
    ports, used_groups = [], set()
    for port_id, name in sorted(ifnames.items(), key=lambda kv: kv[1]):
        port = snap.ports.get(port_id)
        if port is None:
            continue
        groups = [g for g in snap.port_groups.get(port_id, ()) if g in snap.groups]
        rules = tuple(r for g in groups for r in snap.rules.get(g, ()))
        used_groups |= {r.remote_group_id for r in rules if r.remote_group_id}
        stateful = not groups or any(snap.groups[g].stateful for g in groups)
        ports.append(nft.SgPort(ifname=name, rules=rules, port_security=_port_security(port), stateful=stateful))
    return nft.security_ruleset(ports, group_members(snap, used_groups))


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
            pair_macs = tuple(p.mac_address for p in port.allowed_address_pairs if p.mac_address)
            spoof.append(nft.SpoofPort(tap=names.tap(port.id), mac=port.mac_address,
                                       addresses=tuple(port_addresses(snap, port)), extra_macs=pair_macs))
    external = [names.bridge(n.id) for n in snap.networks.values() if n.external]
    return nft.host_ruleset(spoof, external)
