"""The Dataplane: makes the kernel match the topology the network service gave.

``apply`` takes a topology (``caas.virt.topology``; the newest generation wins) and asks for a
reconcile soon. ``plug``/``unplug`` make and remove an instance's namespace and interfaces
(compute's boot and delete path, synchronous). ``reconcile`` converges everything else
(bridges, routers, floating IPs, security and anti-spoofing rulesets) from a plan of the
topology, and removes what it no longer holds; ``changed`` asks for a reconcile soon
(debounced, background thread). ``cleanup`` removes what nothing owns, or everything of ours.

Every kernel change happens under one lock, so the compute workers and the reconciler never
interleave: a reconcile takes the topology and the records under the lock too, so it cannot
see a half-made plug. Every object is recorded (``Records.add``) before it is created and its
record removed after it is deleted; whatever a crash leaves half-made is finished or removed
by the reconcile that ``start`` runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from typing import Iterable, Sequence

from caas.debounce import Debouncer
from caas.virt import topology as t
from caas.virt.driver import NicSpec, Owned
from caas.virt.netns import names
from caas.virt.netns.network import links, nft, plan
from caas.virt.netns.network.links import KernelError, Links
from caas.virt.netns.records import Records

log = logging.getLogger(__name__)

# How long a plug waits for a topology that holds its ports (the network service's feed
# delivers one shortly after it binds them); then it goes on with the one it has.
PORTS_WAIT = 5.0
# The record kinds this module makes (other kinds belong to the container code: never touched).
KINDS = ("netns", "link", "nft", "addr")
HOST = ("host", "host")  # owner of the host's tables
HOST_RULESET = "host"  # hash key of the host's tables (one ruleset text for all three)


def _table(family_name: tuple[str, str]) -> str:
    return f"{family_name[0]} {family_name[1]}"


class Dataplane:
    """Bridges, veths, router namespaces and nftables for one host, from a topology."""

    def __init__(self, records: Records, debounce: float = 0.02, interval: float = 60.0) -> None:
        """``debounce``: how long changes must stop before a background reconcile (seconds);
        ``interval``: a reconcile runs at least this often anyway (drift repair)."""
        self.records = records
        self._topology = t.EMPTY
        self._given = threading.Condition()  # notified when a topology arrives
        self.errors: list[str] = []  # what the last reconcile could not do
        self._lock = threading.RLock()
        self._count = threading.Lock()
        self._waiting = 0  # plugs and unplugs waiting for the lock
        self._inflight: set[str] = set()  # owners (server, port, network ids) of plugs under way
        # server id -> the generation of the topology held when it was plugged. A topology of
        # that generation may predate the server (a port made before its server is in it, the
        # server not yet): only a newer one that lacks the server means the server is gone.
        self._plugged_at: dict[str, int] = {}
        self._applied: dict[tuple[str, str], str] = {}  # (netns, ruleset key) -> text applied
        self._recorded: set[tuple[str, str]] = set()  # rulesets whose record is written
        self._host: Links | None = None
        self._background = Debouncer(self.reconcile, "netns-reconciler", debounce, interval, log,
                                     "netns reconcile failed")

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Reconcile once now (finishing or removing what a crash left), then in the background."""
        with self._lock:
            self._applied.clear()  # re-apply every ruleset once: the kernel may differ from memory
            self._recorded.clear()
        self.reconcile(full=True)
        self._background.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread (a reconcile in progress finishes first)."""
        self._background.stop(timeout)
        with self._lock:
            if self._host is not None:
                self._host.ipr.close()
                self._host = None

    def apply(self, topology: t.Topology) -> None:
        """``take`` the topology and reconcile soon."""
        if self.take(topology):
            self.changed()

    def take(self, topology: t.Topology) -> bool:
        """Hold ``topology`` for the next reconcile and plug, unless a newer generation is held
        already (then False)."""
        with self._given:
            if topology.generation < self._topology.generation:
                return False
            self._topology = topology
            self._given.notify_all()
            return True

    @property
    def topology(self) -> t.Topology:
        """The newest topology given (empty before the first)."""
        return self._topology

    def _await_ports(self, port_ids: set[str], timeout: float = PORTS_WAIT) -> None:
        """Wait until the topology holds every one of ``port_ids`` (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._given:
            while not port_ids <= self._topology.port_ids():
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("plug: ports %s not in the topology yet", sorted(port_ids - self._topology.port_ids()))
                    return
                self._given.wait(left)

    def changed(self) -> None:
        """The topology changed: reconcile soon (changes within ``debounce`` coalesce)."""
        self._background.changed()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no change is pending and no background reconcile runs; False on timeout."""
        return self._background.settle(timeout)

    # ---- instances -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _turn(self):
        """The lock, for a plug or unplug: counted while waiting, so that a reconcile in
        progress steps aside (``_yield_to_boots``)."""
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    def plug(self, server_id: str, nics: Sequence[NicSpec]) -> str:
        """Make the instance's namespace (lo up) and, for nic i, a veth: ``names.tap`` on the
        network's bridge, up; ``eth{i}`` in the namespace with the port's MAC and the NIC's
        MTU, down and without address (the instance configures it). Its security ruleset and
        the host's anti-spoofing rules are applied before returning. Idempotent. Returns the
        namespace's name; KernelError if the kernel refuses."""
        ns = names.instance_ns(server_id)
        ifnames = {nic.port_id: f"eth{i}" for i, nic in enumerate(nics)}
        self._await_ports(set(ifnames))
        owners = {server_id, *ifnames, *(nic.network_id for nic in nics)}
        with self._count:
            self._inflight |= owners
        try:
            return self._plug(server_id, ns, nics, ifnames)
        finally:
            with self._count:
                self._inflight -= owners

    def _plug(self, server_id: str, ns: str, nics: Sequence[NicSpec], ifnames: dict[str, str]) -> str:
        self.records.add_many([("netns", ns, "server", server_id, "")]
                              + [("link", names.bridge(n), "network", n, "") for n in
                                 sorted({nic.network_id for nic in nics})]
                              + [("link", names.tap(p), "port", p, "") for p in ifnames]
                              + [("link", i, "port", p, ns) for p, i in ifnames.items()]
                              + [("nft", _table(nft.SG_TABLE), "server", server_id, ns)])
        with self._turn():
            snap = self._snapshot()  # under the lock: an older one could drop a newer port's rules
            host = self._links()
            fresh = links.netns_add(ns)
            if fresh:
                self._forget(ns)
            for nic in nics:
                bridge = self._ensure_bridge(host, nic.network_id, recorded=True)
                tap = names.tap(nic.port_id)
                host.add_veth(tap, ifnames[nic.port_id], ns, nft.mac(nic.mac_address), int(nic.mtu))
                host.enslave_up(tap, bridge)
            links.in_netns(ns, lambda inner: inner.up("lo"))
            self._apply(ns, nft.SG_TABLE, plan.instance_ruleset(snap, ifnames), ("server", server_id), fresh=fresh)
            self._apply_host(plan.host_ruleset(snap))
            self._plugged_at[server_id] = self._topology.generation
        return ns

    def unplug(self, server_id: str) -> None:
        """Remove the instance's interfaces, namespace and their records; idempotent."""
        ns = names.instance_ns(server_id)
        with self._turn():
            recs = [r for r in self._my_records() if r.netns == ns or
                    (r.kind == "netns" and r.name == ns)]
            host = self._links()
            for r in recs:
                if r.kind == "link" and r.owner_kind == "port":
                    # The tap first: it takes the peer with it even while processes still
                    # hold the namespace (then the kernel frees the namespace only later).
                    host.delete(names.tap(r.owner_id))
                    self.records.remove("link", names.tap(r.owner_id))
            links.netns_del(ns)
            for r in recs:
                self.records.remove(r.kind, r.name, r.netns)
            self._forget(ns)
            self._plugged_at.pop(server_id, None)

    # ---- reconcile -----------------------------------------------------------------------
    def reconcile(self, full: bool = False) -> list[str]:
        """Converge the kernel to the topology: create what is missing (recording it first),
        remove what nothing owns, re-apply rulesets whose text changed (``full``: also look
        for stray tables inside router namespaces). Returns what it removed; what failed is
        logged and kept in ``errors`` (one object's failure does not stop the others)."""
        with self._lock:
            self.errors = []
            recs = self._my_records()
            desired = plan.build(self._current(), self._plugged(recs))
            removed = self._remove(desired, recs)
            self._converge(desired, full)
            self._prune_records()
            return removed

    def cleanup(self, all: bool = False) -> list[str]:
        """Remove every ``cs-`` link, namespace and nftables table that the topology no longer
        holds, or (``all``) every one of them, the external bridge and the host's tables
        included, with their records. Returns what was removed (``"link NAME"``, ``"netns
        NAME"``, ``"nft FAMILY NAME"``)."""
        with self._lock:
            recs = self._my_records()
            desired = None if all else plan.build(self._current(), self._plugged(recs))
            removed = self._remove(desired, recs)
            if desired is not None:
                for router_ns in desired.routers:
                    removed += self._stray_tables(router_ns, {nft.NAT_TABLE})
            if all:
                self._applied.clear()
                self._recorded.clear()
            self._prune_records()
            return removed

    def _snapshot(self) -> plan.Snapshot:
        return plan.index(self._topology)

    def _current(self) -> plan.Snapshot:
        """The snapshot a reconcile works from: the topology held, with the servers plugged
        while it (or a newer one) was already held counted as present, since it may predate
        them; a newer topology without such a server means it is gone."""
        snap, generation = self._snapshot(), self._topology.generation
        for server_id, at in list(self._plugged_at.items()):
            if server_id in snap.servers or at < generation:
                del self._plugged_at[server_id]  # named by the topology, or gone from a newer one
        young = set(self._plugged_at) - snap.servers
        return dataclasses.replace(snap, servers=snap.servers | young) if young else snap

    def _my_records(self) -> list[Owned]:
        return [r for r in self.records.all() if r.kind in KINDS]

    @staticmethod
    def _plugged(recs: Iterable[Owned]) -> dict[str, dict[str, str]]:
        """server id -> {port id: interface name}, from plug()'s records."""
        servers = {r.name: r.owner_id for r in recs if r.kind == "netns" and r.owner_kind == "server"}
        out: dict[str, dict[str, str]] = {sid: {} for sid in servers.values()}
        for r in recs:
            if r.kind == "link" and r.netns in servers and r.owner_kind == "port":
                out[servers[r.netns]][r.owner_id] = r.name
        return out

    # ---- removal -------------------------------------------------------------------------
    def _remove(self, desired: plan.Plan | None, recs: list[Owned]) -> list[str]:
        """Delete the namespaces, host links and host tables with our prefix that ``desired``
        does not want (all of them when ``desired`` is None)."""
        removed = []
        owners = {r.name: r.owner_id for r in recs if r.kind == "netns" and r.owner_kind == "server"}
        for ns in sorted(links.netns_list(names.PREFIX)):
            if desired is not None and (ns in desired.routers or owners.get(ns) in desired.servers):
                continue
            self._try(f"netns {ns}", links.netns_del, ns)
            self._forget(ns)
            removed.append(f"netns {ns}")
        host = self._links()
        wanted = set() if desired is None else self._wanted_links(desired, recs)
        ports_of = {r.name: r.owner_id for r in recs if r.kind == "link" and not r.netns and r.owner_kind == "port"}
        for name in sorted(host.all(names.PREFIX)):
            if name not in wanted and self._try(f"link {name}", host.delete, name):
                removed.append(f"link {name}")
                if name in ports_of:  # the peer went with it: forget its in-namespace name too
                    self._forget_port_links(recs, ports_of[name])
        tables = set() if desired is None else set(nft.HOST_TABLES)
        removed += self._stray_tables(None, tables)
        if desired is None:
            self._forget("")
        return removed

    def _stray_tables(self, netns: str | None, keep: set[tuple[str, str]]) -> list[str]:
        removed = []
        try:
            present = links.nft_tables(netns, names.PREFIX)
        except KernelError as exc:
            self._error(f"nft list in {netns or 'host'}: {exc}")
            return removed
        for family, name in sorted(present - keep):
            if self._try(f"nft {family} {name}", links.nft_delete, family, name, netns):
                removed.append(f"nft {family} {name}" + (f" in {netns}" if netns else ""))
        return removed

    def _forget_port_links(self, recs: list[Owned], port_id: str) -> None:
        for r in recs:
            if r.kind == "link" and r.owner_kind == "port" and r.owner_id == port_id:
                self.records.remove(r.kind, r.name, r.netns)

    @staticmethod
    def _wanted_links(desired: plan.Plan, recs: list[Owned]) -> set[str]:
        """Host links to keep: the bridges, the routers' taps, and the taps of plugged ports
        that still exist, of instances that still exist."""
        wanted = set(desired.bridges)
        for router in desired.routers.values():
            wanted |= {p.tap for p in router.ports}
        for instance in desired.instances.values():
            wanted |= {names.tap(port_id) for port_id in instance.ifnames}
        return wanted

    # ---- convergence ---------------------------------------------------------------------
    def _converge(self, desired: plan.Plan, full: bool) -> None:
        host = self._links()
        for bridge in desired.bridges.values():
            self._try(f"bridge {bridge.name}", self._converge_bridge, host, bridge)
        for router in desired.routers.values():
            self._try(f"router {router.router_id}", self._converge_router, host, router, desired)
            if full:
                self._stray_tables(router.netns, {nft.NAT_TABLE})
        self._try("host ruleset", self._apply_host, desired.host_ruleset)
        for instance in desired.instances.values():
            self._yield_to_boots()
            if links.netns_exists(instance.netns):
                self._try(f"security groups of {instance.server_id}", self._apply, instance.netns, nft.SG_TABLE,
                          instance.ruleset, ("server", instance.server_id))

    def _yield_to_boots(self) -> None:
        """Let waiting plugs and unplugs (servers booting or going) run before the next
        instance ruleset: during a burst, reconciles would otherwise hold the lock most of the
        time. Safe here: what is left of the pass only rewrites existing instances' own
        tables, and a table a plug writes meanwhile is newer, not stale (the next pass brings
        every instance's sets up to date)."""
        if not self._waiting:
            return
        self._lock.release()
        try:
            deadline = time.monotonic() + 1.0
            while self._waiting and time.monotonic() < deadline:
                time.sleep(0.002)
        finally:
            self._lock.acquire()

    def _ensure_bridge(self, host: Links, network_id: str, recorded: bool = False) -> str:
        """Make the network's bridge if missing (recording it first unless ``recorded``), up."""
        name = names.bridge(network_id)
        link = host.get(name)
        if link is None:
            if not recorded:
                self.records.add("link", name, "network", network_id)
            host.add_bridge(name)
            host.up(name)
        elif not link.up:
            host.up(name)
        return name

    def _converge_bridge(self, host: Links, bridge: plan.BridgePlan) -> None:
        self._ensure_bridge(host, bridge.network_id)
        if host.addresses(bridge.name) != set(bridge.addresses):
            for address in bridge.addresses:
                self.records.add("addr", f"{address} {bridge.name}", "network", bridge.network_id)
            host.set_addresses(bridge.name, bridge.addresses)

    def _converge_router(self, host: Links, router: plan.RouterPlan, desired: plan.Plan) -> None:
        ns = router.netns
        if not links.netns_exists(ns):
            self.records.add("netns", ns, "router", router.router_id)
            links.netns_add(ns)
            self._forget(ns)
        for port in router.ports:
            if port.bridge not in desired.bridges:
                raise KernelError(f"port {port.port_id}: no bridge {port.bridge} planned")
            self._ensure_bridge(host, desired.bridges[port.bridge].network_id)
            tap = host.get(port.tap)
            if tap is None:
                self.records.add("link", port.tap, "port", port.port_id)
                self.records.add("link", port.ifname, "port", port.port_id, netns=ns)
                host.add_veth(port.tap, port.ifname, ns, port.mac, port.mtu)
                tap = host.get(port.tap)
            if not tap.up or tap.master != host.index(port.bridge):
                host.enslave_up(port.tap, port.bridge)
        errors, deleted = links.in_netns(ns, lambda inner: self._router_inside(inner, router))
        for name in deleted:  # an interface removed from the router: its tap went with it
            self.records.remove("link", name, ns)
        for error in errors:
            self._error(f"router {router.router_id}: {error}")
        self._apply(ns, nft.NAT_TABLE, router.ruleset, ("router", router.router_id))

    @staticmethod
    def _router_inside(inner: Links, router: plan.RouterPlan) -> tuple[list[str], list[str]]:
        """Inside the router's namespace: forwarding on, lo and the ports up with their
        addresses, ports no longer planned gone, routes converged. Returns (route errors,
        interfaces deleted)."""
        links.sysctl("net/ipv4/ip_forward", "1")
        planned = {p.ifname: p for p in router.ports}
        present = inner.all()
        if not present["lo"].up:
            inner.up("lo")
        deleted = [name for name in present if name.startswith(("qr-", "qg-")) and name not in planned]
        for name in deleted:
            inner.delete(name)
        for port in router.ports:
            link = present.get(port.ifname) or inner.get(port.ifname)
            if link is None:
                raise KernelError(f"{port.ifname} missing in {router.netns}")
            # A gratuitous ARP from a new instance on a reused address must win at once
            # (locktime would ignore it for a second after the last update).
            links.sysctl(f"net/ipv4/neigh/{port.ifname}/locktime", "0")
            inner.set_addresses(port.ifname, port.addresses)
            if not link.up:
                inner.up(port.ifname)
        return inner.set_routes(router.routes), deleted

    # ---- rulesets ------------------------------------------------------------------------
    def _apply(self, netns: str, table: tuple[str, str], text: str, owner: tuple[str, str],
               fresh: bool = False) -> None:
        """Apply one table's ruleset in ``netns`` unless this exact text is applied already
        (``fresh``: the namespace is new, so the table cannot exist and is only defined). When
        only set elements changed (a remote group's members), only those sets are rewritten:
        a burst of servers in one group changes every member's sets, each time."""
        key = (netns, _table(table))
        old = self._applied.get(key)
        if old == text:
            return
        if key not in self._recorded and not fresh:
            self.records.add("nft", _table(table), owner[0], owner[1], netns=netns)
        self._recorded.add(key)
        self._applied.pop(key, None)  # if applying fails, the next reconcile tries again
        update = nft.set_update(old, text) if old is not None and not fresh else None
        if update is None:
            links.nft_apply(nft.as_new(text) if fresh else text, netns or None)
        elif update:
            links.nft_apply(update, netns or None)
        self._applied[key] = text

    def _apply_host(self, text: str) -> None:
        key = ("", HOST_RULESET)
        if self._applied.get(key) == text:
            return
        if key not in self._recorded:
            self.records.add_many([("nft", _table(table), *HOST, "") for table in nft.HOST_TABLES])
            self._recorded.add(key)
        self._applied.pop(key, None)
        links.nft_apply(text)
        self._applied[key] = text

    def _forget(self, netns: str) -> None:
        """Forget what was applied in ``netns`` (it was made afresh, or is gone)."""
        for key in [k for k in self._applied if k[0] == netns]:
            del self._applied[key]
        self._recorded = {k for k in self._recorded if k[0] != netns}

    # ---- records -------------------------------------------------------------------------
    def _prune_records(self) -> None:
        """Forget records of objects that do not exist (made records of a crash, or objects
        that went with their namespace), except those of plugs in flight."""
        namespaces = links.netns_list()
        host_links = set(self._links().all())
        try:
            host_tables = {_table(t) for t in links.nft_tables(None, names.PREFIX)}
        except KernelError:
            host_tables = None
        for r in self._my_records():
            if r.owner_id in self._inflight:  # a plug records before it locks: its objects come yet
                continue
            if r.netns:
                gone = r.netns not in namespaces
            elif r.kind == "netns":
                gone = r.name not in namespaces
            elif r.kind == "link":
                gone = r.name not in host_links
            elif r.kind == "nft":
                gone = host_tables is not None and r.name not in host_tables
            else:  # addr: "ADDRESS BRIDGE"
                gone = r.name.rsplit(" ", 1)[-1] not in host_links
            if gone:
                self.records.remove(r.kind, r.name, r.netns)

    # ---- helpers -------------------------------------------------------------------------
    def _links(self) -> Links:
        """The host's Links (one IPRoute, used under the lock only)."""
        if self._host is None:
            self._host = links.host_links()
        return self._host

    def _try(self, what: str, fn, *args) -> bool:
        try:
            fn(*args)
            return True
        except Exception as exc:  # logged and kept: one object's failure must not stop the rest
            self._error(f"{what}: {exc}")
            return False

    def _error(self, message: str) -> None:
        log.warning("netns dataplane: %s", message)
        self.errors.append(message)
