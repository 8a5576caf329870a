"""The network service's view of what a host must wire, as plain data (``caas.virt.topology``),
and the feed that hands it to the driver.

- ``topology(session, servers, host)``: the networks, subnets, ports, security groups,
  routers and floating IPs, read in one transaction, as frozen dataclasses of ids and
  addresses (no ORM object leaves this module);
- ``TopologyFeed``: after every committed write to a network table (debounced), and at least
  every ``interval`` seconds, reads the topology and hands it on (``driver.apply_network``).

Every host gets the whole topology today (the netns driver runs one machine; the fake driver
only records it); ``host`` names the host it is for, where a per-host cut will go.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.debounce import Debouncer
from caas.network.models import (FloatingIP, Network, Port, PortIP, PortSecurityGroup, Router, SecurityGroup,
                                 SecurityGroupRule, Subnet)
from caas.virt import topology as t

log = logging.getLogger(__name__)

# A write to any of these tables can change a topology.
TABLES = ("network", "subnet", "port", "port_ip", "port_security_group", "router", "floating_ip",
          "security_group", "security_group_rule")


def topology(session: Session, servers: Iterable[str] = (), host: str = "", generation: int = 0) -> t.Topology:
    """The topology as the database has it now. ``servers``: the ids of the instances that
    exist (compute's, passed in: the network service does not read compute's tables)."""
    ips: dict[str, list[t.FixedIP]] = {}
    for ip in session.scalars(select(PortIP).order_by(PortIP.id)):
        ips.setdefault(ip.port_id, []).append(t.FixedIP(ip.subnet_id, ip.ip_address))
    groups: dict[str, list[str]] = {}
    for link in session.scalars(select(PortSecurityGroup)):
        groups.setdefault(link.port_id, []).append(link.security_group_id)
    rules: dict[str, list[t.Rule]] = {}
    for rule in session.scalars(select(SecurityGroupRule)):
        rules.setdefault(rule.security_group_id, []).append(_rule(rule))
    return t.Topology(
        generation=generation, host=host,
        networks=tuple(t.Network(n.id, bool(n.external), int(n.mtu) if n.mtu else 1500)
                       for n in session.scalars(select(Network))),
        subnets=tuple(t.Subnet(s.id, s.network_id, s.cidr, s.gateway_ip) for s in session.scalars(select(Subnet))),
        ports=tuple(_port(p, ips.get(p.id, ()), groups.get(p.id, ())) for p in session.scalars(select(Port))),
        security_groups=tuple(t.SecurityGroup(g.id, g.stateful is not False, tuple(rules.get(g.id, ())))
                              for g in session.scalars(select(SecurityGroup))),
        routers=tuple(_router(r) for r in session.scalars(select(Router))),
        floating_ips=tuple(t.FloatingIP(f.floating_ip_address, f.fixed_ip_address, f.port_id, f.router_id)
                           for f in session.scalars(select(FloatingIP))),
        servers=tuple(sorted(servers)))


def _rule(rule: SecurityGroupRule) -> t.Rule:
    return t.Rule(direction=rule.direction, ethertype=rule.ethertype or "IPv4", protocol=rule.protocol,
                  port_range_min=rule.port_range_min, port_range_max=rule.port_range_max,
                  remote_ip_prefix=rule.remote_ip_prefix, remote_group_id=rule.remote_group_id)


def _port(port: Port, ips: Iterable[t.FixedIP], groups: Iterable[str]) -> t.Port:
    pairs = tuple(t.AddressPair(str(p["ip_address"]), p.get("mac_address") or None)
                  for p in port.allowed_address_pairs or () if isinstance(p, dict) and p.get("ip_address"))
    return t.Port(id=port.id, network_id=port.network_id, mac_address=port.mac_address,
                  device_id=port.device_id or "", device_owner=port.device_owner or "",
                  port_security_enabled=port.port_security_enabled is not False, fixed_ips=tuple(ips),
                  security_groups=tuple(groups), allowed_address_pairs=pairs)


def _router(router: Router) -> t.Router:
    routes = tuple(t.Route(str(r["destination"]), str(r["nexthop"])) for r in router.routes or ()
                   if isinstance(r, dict) and "destination" in r and "nexthop" in r)
    return t.Router(router.id, router.enable_snat is not False, router.gateway_port_id, routes)


class TopologyFeed:
    """Keeps a driver's topology in step with the database (see the module's docstring)."""

    def __init__(self, db, deliver: Callable[[t.Topology], None], servers: Callable[[Session], Iterable[str]],
                 host: str = "", debounce: float = 0.05, interval: float = 60.0) -> None:
        """``deliver``: what takes each topology (a driver's ``apply_network``);
        ``servers(session)``: the ids of the instances that exist; ``debounce``: how long
        writes must stop before a push (at most ten times that); ``interval``: a push runs at
        least this often anyway (writes by another process)."""
        self.db, self.deliver, self.servers, self.host = db, deliver, servers, host
        self._generations = itertools.count(1)
        self._counter = threading.Lock()
        self._background = Debouncer(self.push, "topology-feed", debounce, interval, log, "topology push failed")
        db.on_commit(TABLES, self._background.changed)

    def read(self) -> t.Topology:
        """The topology now, numbered after every one read before it (the generation is taken
        before the read, so a higher one never holds older rows)."""
        with self._counter:
            generation = next(self._generations)
        with self.db.read() as s:
            return topology(s, self.servers(s), self.host, generation)

    def push(self) -> None:
        """Read the topology and deliver it now."""
        self.deliver(self.read())

    def start(self) -> None:
        """Push once now (before the driver starts), then after every change, in the background."""
        self.push()
        self._background.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._background.stop(timeout)
