"""Cluster work as ordered steps with rollback, through openstacksdk only.

Create: network, router, security_group, head, floating_ip, nodes, bootstrap, ready. Adding
nodes: nodes, bootstrap (every node's /etc/hosts rewritten in place), ready. Removing nodes:
nodes (their servers and ports), bootstrap. Delete: every owned resource, in reverse order.

Every cloud resource is recorded (``ClusterResource``, with its cloud name) before it is asked
for and forgotten only once the cloud says it is gone, so a crash at any point leaves a record
from which ``resume`` rolls back or finishes. Each step writes an event with its duration; a
failure writes the cloud's own words. A delete asked for while other work runs is seen at the
next step boundary (or wait), and that work turns into the delete.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from caas.clusters import addresses, guest, profiles
from caas.clusters.cloud import CloudAccess, cloud_message, not_found
from caas.clusters.models import (ACTIVE, BUILDING, COMPUTE, DEGRADED, DELETING, ERROR, HEAD, NODE_ACTIVE,
                                  NODE_DELETING, NODE_DOWN, NODE_ERROR, Cluster, ClusterEvent, ClusterNode,
                                  ClusterResource)
from caas.config import Settings
from caas.db import Database
from caas.db.base import utcnow

log = logging.getLogger("caas.clusters")

NODE_PREFIX = "node"
HEAD_NAME = "head"  # the head's row in cluster_node (its hostname is NAME-head)
# Teardown order: what depends on a resource goes before it.
TEARDOWN = ("server", "floating_ip", "port", "router_interface", "router", "security_group", "subnet", "network")
PARALLEL = 16
# A cluster's record once its work is over (finished, failed or rolled back).
IDLE = {"operation": None, "operation_nodes": None, "step": None}
POLL = 0.2


class StepFailed(Exception):
    """A step could not do its work; the message is for the user."""


class Cancelled(Exception):
    """A delete was asked for while the work ran."""


class Interrupted(Exception):
    """caas is stopping: leave the record as it is, the next start resumes."""


def tag(cluster_id: str) -> str:
    return f"caas-cluster-{cluster_id}"


@dataclass
class Work:
    """One operation's view of its cluster."""

    cluster: Cluster
    conn: object
    operation: str = ""
    head: "guest.Head | None" = None  # one SSH session to the head per operation
    ids: dict[str, str] = field(default_factory=dict)  # network, subnet, router, sg_head, sg_cluster, external

    @property
    def id(self) -> str:
        return self.cluster.id


class Engine:
    def __init__(self, db: Database, settings: Settings, access: CloudAccess) -> None:
        self.db = db
        self.settings = settings
        self.access = access
        self.stopping = threading.Event()
        self._pool = cf.ThreadPoolExecutor(PARALLEL, thread_name_prefix="caas-cluster-cloud")

    # ---- the record ---------------------------------------------------------------------
    def event(self, cluster_id: str, step: str, message: str, level: str = "info",
              duration: float | None = None) -> None:
        with self.db.write() as s:
            s.add(ClusterEvent(cluster_id=cluster_id, step=step, message=message[:4000], level=level,
                               duration=None if duration is None else round(duration, 3)))
        (log.warning if level == "error" else log.info)("cluster %s %s: %s", cluster_id, step, message)

    def _set(self, cluster_id: str, **values) -> None:
        with self.db.write() as s:
            s.execute(update(Cluster).where(Cluster.id == cluster_id).values(updated_at=utcnow(), **values))

    def _load(self, cluster_id: str) -> Cluster | None:
        with self.db.read() as s:
            c = s.get(Cluster, cluster_id)
            if c is not None:
                s.expunge(c)
            return c

    def _nodes(self, cluster_id: str, names: list[str] | None = None) -> list[ClusterNode]:
        with self.db.read() as s:
            q = select(ClusterNode).where(ClusterNode.cluster_id == cluster_id)
            if names is not None:
                q = q.where(ClusterNode.name.in_(names))
            rows = list(s.scalars(q.order_by(ClusterNode.created_at, ClusterNode.name)))
            for r in rows:
                s.expunge(r)
            return rows

    def _nodes_status(self, cluster_id: str, names, status: str) -> None:
        with self.db.write() as s:
            s.execute(update(ClusterNode).where(ClusterNode.cluster_id == cluster_id, ClusterNode.name.in_(list(names)))
                      .values(status=status))

    def _node_set(self, cluster_id: str, name: str, **values) -> None:
        with self.db.write() as s:
            s.execute(update(ClusterNode).where(ClusterNode.cluster_id == cluster_id, ClusterNode.name == name)
                      .values(**values))

    def _record(self, cluster_id: str, kind: str, name: str, node: str | None = None, **extra) -> int:
        with self.db.write() as s:
            row = ClusterResource(cluster_id=cluster_id, kind=kind, name=name, node=node, extra=extra)
            s.add(row)
            s.flush()
            return row.id

    def _recorded(self, rid: int, cloud_id: str) -> None:
        with self.db.write() as s:
            s.get(ClusterResource, rid).cloud_id = cloud_id

    def _resources(self, cluster_id: str, nodes: list[str] | None = None) -> list[ClusterResource]:
        with self.db.read() as s:
            q = select(ClusterResource).where(ClusterResource.cluster_id == cluster_id)
            if nodes is not None:
                q = q.where(ClusterResource.node.in_(nodes))
            rows = list(s.scalars(q.order_by(ClusterResource.id)))
            for r in rows:
                s.expunge(r)
            return rows

    def _forget(self, rid: int) -> None:
        with self.db.write() as s:
            s.execute(delete(ClusterResource).where(ClusterResource.id == rid))

    def _make(self, work: Work, kind: str, name: str, create, node: str | None = None, **extra):
        """Record, then create (``create()`` returns the cloud's object), then note its id."""
        rid = self._record(work.id, kind, name, node, **extra)
        obj = create()
        self._recorded(rid, obj.id)
        return obj

    # ---- steps --------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, work: Work, name: str, detail: str = ""):
        self._checkpoint(work)
        self._set(work.id, step=name)
        t0 = time.monotonic()
        notes: list[str] = [detail] if detail else []
        try:
            yield notes  # the step may add to what its event says
        except (Cancelled, Interrupted):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes the user's reason
            if self.stopping.is_set():  # the API went away under us: not the cluster's fault
                raise Interrupted() from exc
            message = str(exc) if isinstance(exc, (StepFailed, guest.GuestError)) else cloud_message(exc)
            if not isinstance(exc, (StepFailed, guest.GuestError)):
                log.warning("cluster %s step %s failed", work.id, name, exc_info=exc)
            self.event(work.id, name, f"failed: {message}", "error", time.monotonic() - t0)
            raise StepFailed(f"{name}: {message}") from exc
        self.event(work.id, name, f"done{': ' + '; '.join(notes) if notes else ''}", duration=time.monotonic() - t0)
        if self._injected(work, name):
            message = f"injected failure after step {name} (CAAS_CLUSTER_FAIL_AT)"
            self.event(work.id, name, message, "error")
            raise StepFailed(f"{name}: {message}")

    def _injected(self, work: Work, step: str) -> bool:
        """Does CAAS_CLUSTER_FAIL_AT ask for a failure after ``step`` of this work?"""
        for item in filter(None, (i.strip() for i in self.settings.cluster_fail_at.split(","))):
            where, _, cluster = item.partition("@")
            if where in (step, f"{work.operation}:{step}") and cluster in ("", work.cluster.name):
                return True
        return False

    def _cancelled(self, work: Work) -> bool:
        try:
            self._checkpoint(work)
        except (Cancelled, Interrupted):
            return True
        return False

    def _checkpoint(self, work: Work) -> None:
        if self.stopping.is_set():
            raise Interrupted()
        c = self._load(work.id)
        if c is not None and c.status == DELETING and c.operation != "delete":
            raise Cancelled()

    def _interrupted(self, exc: Exception) -> None:
        """A failure while caas stops is the stop's doing: leave the record for the next start."""
        if self.stopping.is_set():
            raise Interrupted() from exc

    def _deadline(self) -> float:
        return time.monotonic() + self.settings.cluster_timeout

    def _parallel(self, fn, items) -> list:
        """``fn`` over ``items`` on the cloud-call pool; the first failure is raised after all
        have finished (so every started resource is recorded)."""
        def guarded(item):
            try:
                return fn(item)
            except Exception as exc:  # noqa: BLE001 - raised below, once all are done
                return exc
        outcomes = list(self._pool.map(guarded, items))
        failed = next((out for out in outcomes if isinstance(out, Exception)), None)
        if failed is not None:
            raise failed
        return outcomes

    def _external_network(self, conn) -> str:
        nets = list(conn.network.networks(is_router_external=True))
        if not nets:
            raise StepFailed("the cloud has no external network for the cluster's router and floating IP")
        return sorted(nets, key=lambda n: n.name or "")[0].id

    def _network(self, work: Work) -> None:
        c, conn = work.cluster, work.conn
        net = self._make(work, "network", f"{c.name}-net", lambda: conn.network.create_network(
            name=f"{c.name}-net", description=f"caas cluster {c.name} ({c.id})", tags=[tag(c.id)]))
        cidr = c.cidr
        subnet = self._make(work, "subnet", f"{c.name}-subnet", lambda: conn.network.create_subnet(
            name=f"{c.name}-subnet", network_id=net.id, ip_version=4, cidr=cidr,
            gateway_ip=addresses.gateway_ip(cidr), allocation_pools=[addresses.pool(cidr)], tags=[tag(c.id)]))
        work.ids.update(network=net.id, subnet=subnet.id)
        self._set(c.id, network_id=net.id)

    def _router(self, work: Work) -> None:
        c, conn = work.cluster, work.conn
        ext = work.ids.setdefault("external", self._external_network(conn))
        router = self._make(work, "router", f"{c.name}-router", lambda: conn.network.create_router(
            name=f"{c.name}-router", external_gateway_info={"network_id": ext}, tags=[tag(c.id)]))
        rid = self._record(c.id, "router_interface", f"{c.name}-router", router=router.id)
        conn.network.add_interface_to_router(router, subnet_id=work.ids["subnet"])
        self._recorded(rid, work.ids["subnet"])
        work.ids["router"] = router.id

    def _security_groups(self, work: Work) -> None:
        c, conn = work.cluster, work.conn
        head = self._make(work, "security_group", f"{c.name}-head", lambda: conn.network.create_security_group(
            name=f"{c.name}-head", description=f"caas cluster {c.name}: SSH to the head", tags=[tag(c.id)]))
        inner = self._make(work, "security_group", f"{c.name}-cluster", lambda: conn.network.create_security_group(
            name=f"{c.name}-cluster", description=f"caas cluster {c.name}: everything inside", tags=[tag(c.id)]))
        conn.network.create_security_group_rule(security_group_id=head.id, direction="ingress", ethertype="IPv4",
                                                protocol="tcp", port_range_min=22, port_range_max=22,
                                                remote_ip_prefix="0.0.0.0/0")
        conn.network.create_security_group_rule(security_group_id=inner.id, direction="ingress", ethertype="IPv4",
                                                remote_group_id=inner.id)
        work.ids.update(sg_head=head.id, sg_cluster=inner.id)

    def _hosts(self, c: Cluster, exclude: set[str] = frozenset()) -> str:
        cidr = c.cidr
        nodes = [(n.name, n.fixed_ip) for n in self._nodes(c.id) if n.role == COMPUTE and n.name not in exclude]
        return profiles.hosts_file(c.name, (f"{c.name}-head", addresses.head_ip(cidr)), nodes)

    def _user_data(self, c: Cluster, node: ClusterNode, hosts: str, user_key: str) -> str:
        p = profiles.profile(c.profile, c.profile_version)
        hostname = f"{c.name}-head" if node.role == HEAD else node.name
        text = profiles.user_data(p, cluster_name=c.name, cluster_id=c.id, hostname=hostname, role=node.role,
                                  hosts=hosts, cluster_key=c.cluster_key, cluster_public_key=c.cluster_public_key,
                                  user_public_key=user_key, node_prefix=NODE_PREFIX, report=node.id)
        return base64.b64encode(text.encode()).decode()

    def _boot(self, work: Work, nodes: list[ClusterNode], user_key: str) -> str:
        """A port and a server for each of ``nodes``: all recorded in one transaction, then each
        node's pair asked for in parallel, their ids noted in one transaction (also when some
        failed: every resource that exists is known). Returns when every server is ACTIVE."""
        c, conn = work.cluster, work.conn
        hosts = self._hosts(c)
        flavors: dict[str, str] = {}
        for n in nodes:
            if n.flavor not in flavors:
                flavors[n.flavor] = conn.compute.find_flavor(n.flavor, ignore_missing=False).id

        def cloud_name(n: ClusterNode) -> str:
            return f"{c.name}-{n.name}" if n.role == COMPUTE else f"{c.name}-head"

        t0 = time.monotonic()
        with self.db.write() as s:
            rows = [(ClusterResource(cluster_id=c.id, kind="port", name=cloud_name(n), node=n.name, extra={}),
                     ClusterResource(cluster_id=c.id, kind="server", name=cloud_name(n), node=n.name, extra={}))
                    for n in nodes]
            s.add_all([r for pair in rows for r in pair])
            s.flush()
            rids = [(p.id, v.id) for p, v in rows]

        def one(n: ClusterNode) -> list:
            made: list = [None, None]
            try:
                sgs = [work.ids["sg_cluster"]] + ([work.ids["sg_head"]] if n.role == HEAD else [])
                made[0] = conn.network.create_port(
                    name=cloud_name(n), network_id=work.ids["network"], security_group_ids=sgs, tags=[tag(c.id)],
                    fixed_ips=[{"subnet_id": work.ids["subnet"], "ip_address": n.fixed_ip}]).id
                made[1] = conn.compute.create_server(
                    name=cloud_name(n), image_id=c.image_id, flavor_id=flavors[n.flavor],
                    networks=[{"port": made[0]}], user_data=self._user_data(c, n, hosts, user_key),
                    config_drive=True, metadata={"caas_cluster": c.id, "caas_node": n.name}).id
            except Exception as exc:  # noqa: BLE001 - noted with what was made, raised below
                made.append(exc)
            return made

        outcomes = list(self._pool.map(one, nodes))
        with self.db.write() as s:
            for (port_rid, server_rid), n, (port_id, server_id, *_) in zip(rids, nodes, outcomes):
                for rid, cloud_id in ((port_rid, port_id), (server_rid, server_id)):
                    if cloud_id is not None:
                        s.get(ClusterResource, rid).cloud_id = cloud_id
                s.execute(update(ClusterNode).where(ClusterNode.cluster_id == c.id, ClusterNode.name == n.name)
                          .values(port_id=port_id, server_id=server_id))
        failed = next((out[2] for out in outcomes if len(out) > 2), None)
        if failed is not None:
            raise failed
        t1 = time.monotonic()
        self._wait_active(work, {out[1]: n for out, n in zip(outcomes, nodes)})
        return f"{len(nodes)} port(s) and server(s) asked for in {t1 - t0:.2f} s, all ACTIVE {time.monotonic() - t1:.2f} s later"

    def _wait_active(self, work: Work, servers: dict[str, ClusterNode]) -> None:
        conn, deadline, pending = work.conn, self._deadline(), dict(servers)
        while pending:
            self._checkpoint(work)
            names = sorted(n.name if n.role == COMPUTE else "head" for n in pending.values())
            # only the servers still pending (a listing renders every match: keep it small), in
            # a pattern short enough for Nova's filter (255 characters)
            pattern = f"^{work.cluster.name}-({'|'.join(names)})$"
            if len(pattern) > 255:
                pattern = f"^{work.cluster.name}-"
            active = []
            for s in conn.compute.servers(details=True, name=pattern):
                node = pending.get(s.id)
                if node is None:
                    continue
                if s.status == "ACTIVE":
                    del pending[s.id]
                    active.append(node.name)
                elif s.status == "ERROR":
                    fault = (s.fault or {}).get("message") or "no reason given"
                    self._node_set(work.id, node.name, status=NODE_ERROR)
                    raise StepFailed(f"the server of {node.name} went to ERROR: {fault}")
            if active and self.settings.cluster_guest == "none":
                self._nodes_status(work.id, active, NODE_ACTIVE)
            if not pending:
                break
            if time.monotonic() > deadline:
                late = ", ".join(sorted(n.name for n in pending.values())[:10])
                raise StepFailed(f"servers not ACTIVE after {self.settings.cluster_timeout:g} s: {late}")
            time.sleep(POLL if len(pending) < 64 else POLL * 3)

    def _floating_ip(self, work: Work) -> None:
        c, conn = work.cluster, work.conn
        ext = work.ids.setdefault("external", self._external_network(conn))
        head = self._nodes(c.id, [HEAD_NAME])[0]
        fip = self._make(work, "floating_ip", f"{c.name}-head", lambda: conn.network.create_ip(
            floating_network_id=ext, port_id=head.port_id, description=f"caas cluster {c.name} ({c.id})",
            tags=[tag(c.id)]))
        address = fip.floating_ip_address
        self._set(c.id, floating_ip=address)
        work.cluster.floating_ip = address

    # ---- guest steps (ssh) --------------------------------------------------------------
    def _head(self, work: Work) -> guest.Head:
        """The operation's SSH session to the head (made on first use, closed by ``run``)."""
        if work.head is not None:
            return work.head
        try:
            work.head = self.open_head(work.cluster, self._deadline(), lambda: self._cancelled(work))
        except guest.GuestError:
            self._checkpoint(work)  # stopped or cancelled: say so rather than fail
            raise
        return work.head

    def open_head(self, c: Cluster, deadline: float, stop=lambda: False) -> guest.Head:
        """An SSH session to the cluster's head (its host key pinned on first contact);
        GuestError when it does not let caas in by ``deadline`` or once ``stop()``."""
        res = next((r for r in self._resources(c.id, [HEAD_NAME]) if r.kind == "server"), None)
        pinned = (res.extra or {}).get("host_key") if res else None
        head = guest.Head(c.floating_ip, c.cluster_key, pinned)
        head.connect(deadline, stop)
        if res is not None and not pinned and head.policy.seen:
            with self.db.write() as s:
                row = s.get(ClusterResource, res.id)
                row.extra = {**(row.extra or {}), "host_key": head.policy.seen}
        return head

    def _bootstrap(self, work: Work, push_to: list[str]) -> str:
        """Head reachable and set up; /etc/hosts rewritten on the head and pushed to ``push_to``."""
        if self.settings.cluster_guest == "none":
            return "guest checks off (CAAS_CLUSTER_GUEST=none): the cloud's ACTIVE servers count as bootstrapped"
        c = work.cluster
        head = self._head(work)
        deadline = self._deadline()
        while head.run(f"test -f {profiles.READY_MARKER}")[0] != 0:
            self._checkpoint(work)
            if time.monotonic() > deadline:
                raise StepFailed("the head's first-boot setup did not finish")
            time.sleep(POLL)
        if c.profile != "base" or not push_to:
            return f"head {c.floating_ip} answers SSH, set up"
        head.put("/etc/hosts", self._hosts(c))
        status, out = head.run(guest.push_hosts_script(push_to), timeout=120)
        failed = [line.split()[1] for line in out.splitlines() if line.startswith("failed ")]
        if failed:
            raise StepFailed(f"could not rewrite /etc/hosts on {', '.join(failed[:10])}")
        return f"/etc/hosts rewritten on the head and {len(push_to)} node(s)"

    def _ready(self, work: Work, nodes: list[ClusterNode]) -> str:
        if self.settings.cluster_guest == "none":
            self._nodes_status(work.id, [n.name for n in nodes], NODE_ACTIVE)
            return "guest checks off (CAAS_CLUSTER_GUEST=none): ACTIVE servers count as ready"
        expected = {n.name: n.id for n in nodes if n.role == COMPUTE}
        head = self._head(work)
        if work.cluster.profile != "base":
            expected = {}  # nothing on them reports in
        names = set(expected)
        deadline, ready = self._deadline(), set()
        while True:
            self._checkpoint(work)
            _, out = head.run(guest.ready_script(), timeout=60)
            reports = [line.split() for line in out.splitlines() if line.startswith("ready ")]
            now = {r[1] for r in reports if len(r) == 2 and r[1] == "head"}
            now |= {r[1] for r in reports if len(r) == 3 and expected.get(r[1]) == r[2]}
            fresh = sorted((now & names) - ready)
            if fresh:
                self._nodes_status(work.id, fresh, NODE_ACTIVE)
            ready |= now & names
            if "head" in now:
                self._node_set(work.id, HEAD_NAME, status=NODE_ACTIVE)
            if ready >= set(names) and "head" in now:
                return f"{len(names)} node(s) set up and reported in to the head by name over SSH"
            if time.monotonic() > deadline:
                missing = sorted(set(names) - ready)
                raise StepFailed(f"not ready after {self.settings.cluster_timeout:g} s: "
                                 f"{', '.join(missing[:10]) or 'the head'}")
            time.sleep(POLL)

    # ---- teardown -----------------------------------------------------------------------
    def _find(self, conn, r: ClusterResource, cluster_id: str) -> str | None:
        """The cloud id of a resource recorded but never confirmed (a crash in between)."""
        if r.kind == "server":
            for s in conn.compute.servers(details=True, name=f"^{r.name}$"):
                if (s.metadata or {}).get("caas_cluster") == cluster_id:
                    return s.id
            return None
        if r.kind == "router_interface":
            return None  # no subnet id means the interface was never added
        finder = {"network": conn.network.networks, "subnet": conn.network.subnets, "port": conn.network.ports,
                  "router": conn.network.routers, "security_group": conn.network.security_groups,
                  "floating_ip": conn.network.ips}[r.kind]
        for obj in finder(tags=tag(cluster_id)):
            if r.kind == "floating_ip" or obj.name == r.name:
                return obj.id
        return None

    def _remove(self, conn, r: ClusterResource, cluster_id: str) -> None:
        cloud_id = r.cloud_id or self._find(conn, r, cluster_id)
        if cloud_id is not None and r.cloud_id is None:
            # found by name after a crash: note it, so that the teardown waits for it to go
            r.cloud_id = cloud_id
            self._recorded(r.id, cloud_id)
        if cloud_id is not None:
            try:
                if r.kind == "server":
                    conn.compute.delete_server(cloud_id)
                elif r.kind == "router_interface":
                    conn.network.remove_interface_from_router(r.extra["router"], subnet_id=cloud_id)
                else:
                    getattr(conn.network, {"floating_ip": "delete_ip"}.get(r.kind, f"delete_{r.kind}"))(cloud_id)
            except Exception as exc:  # noqa: BLE001
                if not not_found(exc):
                    raise
        if r.kind != "server":
            self._forget(r.id)

    def _wait_gone(self, conn, servers: list[ClusterResource]) -> None:
        deadline = self._deadline()
        pending = {r.cloud_id: r for r in servers if r.cloud_id}
        while pending:
            for sid in list(pending):
                try:
                    s = conn.compute.get_server(sid)
                    if s.status == "ERROR" and s.task_state is None and s.vm_state == "error":
                        conn.compute.delete_server(sid)
                except Exception as exc:  # noqa: BLE001
                    if not not_found(exc):
                        raise
                    self._forget(pending.pop(sid).id)
            if pending and time.monotonic() > deadline:
                raise StepFailed(f"{len(pending)} server(s) still there after {self.settings.cluster_timeout:g} s")
            if pending:
                time.sleep(POLL)
        for r in servers:
            if not r.cloud_id:
                self._forget(r.id)

    def teardown(self, work: Work, nodes: list[str] | None = None) -> int:
        """Remove what the cluster (or only ``nodes`` of it) owns; returns how many. Safe to
        repeat: what is already gone counts as removed."""
        rows = self._resources(work.id, nodes)
        conn = work.conn
        for kind in TEARDOWN:
            batch = [r for r in rows if r.kind == kind]
            if not batch:
                continue
            self._parallel(lambda r: self._remove(conn, r, work.id), batch)
            if kind == "server":
                self._wait_gone(conn, batch)
        return len(rows)

    # ---- operations ---------------------------------------------------------------------
    def _work(self, cluster_id: str) -> Work | None:
        c = self._load(cluster_id)
        if c is None:
            return None
        work = Work(c, self.access.project(c.project_id))
        for r in self._resources(cluster_id):
            if r.cloud_id and r.kind in ("network", "subnet", "router"):
                work.ids[r.kind] = r.cloud_id
            elif r.cloud_id and r.kind == "security_group":
                work.ids["sg_head" if r.name.endswith("-head") else "sg_cluster"] = r.cloud_id
        return work

    def _finish(self, cluster_id: str, **values) -> bool:
        """The work's final state, unless a delete was asked for meanwhile (then False). An
        idle cluster with a node the health check found DOWN is DEGRADED, not ACTIVE."""
        with self.db.write() as s:
            if values.get("status") == ACTIVE and s.scalar(select(ClusterNode.id).where(
                    ClusterNode.cluster_id == cluster_id, ClusterNode.status == NODE_DOWN).limit(1)):
                values["status"] = DEGRADED
            done = s.execute(update(Cluster).where(Cluster.id == cluster_id, Cluster.status != DELETING)
                             .values(**IDLE, updated_at=utcnow(), **values)).rowcount
        return bool(done)

    def run(self, cluster_id: str, operation: str, names: list[str] | None = None, user_key: str = "") -> None:
        """Run one operation to its end (the worker's entry point)."""
        work = None
        try:
            work = self._work(cluster_id)
            if work is None:
                return
            work.operation = operation
            if operation == "create":
                self._create(work, user_key)
            elif operation == "add":
                self._add(work, names or [], user_key)
            elif operation == "remove":
                self._remove_nodes(work, names or [])
            elif operation == "delete":
                self._delete(work)
            elif operation == "resume":
                self._resume(work)
        except Cancelled:
            self._set(cluster_id, operation="delete")
            self._delete(self._work(cluster_id))
        except Interrupted:
            log.info("cluster %s: %s interrupted by shutdown; the next start resumes it", cluster_id, operation)
        except Exception as exc:  # noqa: BLE001 - never leave a cluster without a reason
            if self.stopping.is_set():
                log.info("cluster %s: %s interrupted by shutdown", cluster_id, operation)
                return
            log.exception("cluster %s: %s failed unexpectedly", cluster_id, operation)
            self._set(cluster_id, status=ERROR, **IDLE,
                      status_reason=f"{operation} failed: {cloud_message(exc)}")
            self.event(cluster_id, operation, f"failed unexpectedly: {cloud_message(exc)}", "error")
        finally:
            if work is not None and work.head is not None:
                work.head.close()

    def _create(self, work: Work, user_key: str) -> None:
        c, t0 = work.cluster, time.monotonic()
        self.event(c.id, "create", f"creating cluster {c.name}: head + {len(self._nodes(c.id)) - 1} node(s)")
        try:
            with self.step(work, "network"):
                self._network(work)
            with self.step(work, "router"):
                self._router(work)
            with self.step(work, "security_group"):
                self._security_groups(work)
            with self.step(work, "head") as notes:
                notes.append(self._boot(work, self._nodes(c.id, [HEAD_NAME]), user_key))
            with self.step(work, "floating_ip"):
                self._floating_ip(work)
            computes = [n for n in self._nodes(c.id) if n.role == COMPUTE]
            with self.step(work, "nodes", f"{len(computes)} server(s) ACTIVE") as notes:
                if computes:
                    notes.append(self._boot(work, computes, user_key))
            with self.step(work, "bootstrap"):
                self.event(c.id, "bootstrap", self._bootstrap(work, []))
            with self.step(work, "ready"):
                self.event(c.id, "ready", self._ready(work, self._nodes(c.id)))
        except StepFailed as exc:
            self._failed_create(work, str(exc))
            return
        total = time.monotonic() - t0
        if self._finish(c.id, status=ACTIVE, status_reason=""):
            self.event(c.id, "create", f"cluster ACTIVE: head + {len(computes)} node(s) in {total:.2f} s", duration=total)
        else:
            raise Cancelled()

    def _failed_create(self, work: Work, reason: str) -> None:
        c = work.cluster
        if c.keep_on_failure:
            self._finish(c.id, status=ERROR, status_reason=f"{reason} (resources kept: --keep-on-failure)")
            return
        self._set(c.id, step="rollback")
        t0 = time.monotonic()
        try:
            n = self.teardown(work)
        except Exception as exc:  # noqa: BLE001
            self._interrupted(exc)
            self._set(c.id, status=ERROR, **IDLE,
                      status_reason=f"{reason}; the rollback failed too ({cloud_message(exc)}): delete the cluster "
                                    "to retry")
            self.event(c.id, "rollback", f"failed: {cloud_message(exc)}", "error", time.monotonic() - t0)
            return
        self.event(c.id, "rollback", f"removed {n} resource(s)", duration=time.monotonic() - t0)
        self._nodes_status(c.id, [n.name for n in self._nodes(c.id)], NODE_ERROR)
        if not self._finish(c.id, status=ERROR, status_reason=f"{reason}; rolled back, nothing is left",
                            floating_ip=None, network_id=None):
            raise Cancelled()

    def _add(self, work: Work, names: list[str], user_key: str) -> None:
        c = work.cluster
        new = self._nodes(c.id, names)
        others = [n.name for n in self._nodes(c.id) if n.role == COMPUTE and n.name not in names]
        push = None
        try:
            with self.step(work, "nodes", f"{len(new)} server(s) ACTIVE") as notes:
                # the nodes that stay learn the new names while the new ones boot
                push = self._pool.submit(self._bootstrap, work, others)
                try:
                    notes.append(self._boot(work, new, user_key))
                finally:
                    cf.wait([push])
            with self.step(work, "bootstrap"):
                self.event(c.id, "bootstrap", push.result())
            with self.step(work, "ready"):
                self.event(c.id, "ready", self._ready(work, new))
        except StepFailed as exc:
            self._undo_add(work, names, str(exc))
            return
        if not self._finish(c.id, status=ACTIVE, status_reason=""):
            raise Cancelled()
        self.event(c.id, "add", f"added {len(new)} node(s)")

    def _undo_add(self, work: Work, names: list[str], reason: str) -> None:
        c = work.cluster
        self._set(c.id, step="rollback")
        try:
            self.teardown(work, names)
            self._drop_nodes(c.id, names)
            if self.settings.cluster_guest == "ssh" and c.floating_ip:
                self._bootstrap(work, [n.name for n in self._nodes(c.id) if n.role == COMPUTE])
        except Exception as exc:  # noqa: BLE001
            self._interrupted(exc)  # a stop in the middle: the next start rolls back again
            reason += f"; the rollback failed too ({cloud_message(exc)})"
        self.event(c.id, "rollback", f"removed the new node(s): {', '.join(names[:10])}")
        if not self._finish(c.id, status=ACTIVE, status_reason=f"adding nodes failed: {reason}; rolled back"):
            raise Cancelled()

    def _drop_nodes(self, cluster_id: str, names: list[str]) -> None:
        with self.db.write() as s:
            s.execute(delete(ClusterNode).where(ClusterNode.cluster_id == cluster_id, ClusterNode.name.in_(names)))

    def _remove_nodes(self, work: Work, names: list[str]) -> None:
        c = work.cluster
        try:
            with self.step(work, "nodes", f"{len(names)} node(s) removed"):
                self.teardown(work, names)
                self._drop_nodes(c.id, names)
            # a node that is down cannot take the new /etc/hosts (its own stays as it was)
            remaining = [n.name for n in self._nodes(c.id) if n.role == COMPUTE and n.status != NODE_DOWN]
            with self.step(work, "bootstrap"):
                self.event(c.id, "bootstrap", self._bootstrap(work, remaining))
        except StepFailed as exc:
            self._finish(c.id, status=ACTIVE, status_reason=f"removing nodes failed: {exc}")
            return
        if not self._finish(c.id, status=ACTIVE, status_reason=""):
            raise Cancelled()

    def _delete(self, work: Work | None) -> None:
        if work is None:
            return
        c, t0 = work.cluster, time.monotonic()
        self._set(c.id, status=DELETING, operation="delete", step="delete")
        try:
            n = self.teardown(work)
        except Exception as exc:  # noqa: BLE001
            self._interrupted(exc)
            self._set(c.id, status=ERROR, **IDLE,
                      status_reason=f"delete failed: {cloud_message(exc)}; delete again to retry")
            self.event(c.id, "delete", f"failed: {cloud_message(exc)}", "error", time.monotonic() - t0)
            return
        log.info("cluster %s deleted: %d resource(s) in %.2f s", c.id, n, time.monotonic() - t0)
        with self.db.write() as s:
            for model in (ClusterEvent, ClusterResource, ClusterNode):
                s.execute(delete(model).where(model.cluster_id == c.id))
            s.execute(delete(Cluster).where(Cluster.id == c.id))

    def _resume(self, work: Work) -> None:
        """After a restart: finish a delete or a removal, roll back a create or an add. An add
        is rolled back whole: every node it was adding (``operation_nodes``), whether its server
        was asked for, ACTIVE or reported in, so that the cloud holds exactly the servers of the
        nodes the cluster had before (finishing it instead would need the user's key, which is
        never stored)."""
        c = work.cluster
        op = c.operation
        self.event(c.id, "resume", f"caas restarted during {op}; {'finishing' if op in ('delete', 'remove') else 'rolling back'}")
        if c.status == DELETING or op == "delete":
            self._delete(work)
        elif op == "create":
            self._failed_create(work, "caas was restarted during the create")
        elif op == "add":
            names = c.operation_nodes or [n.name for n in self._nodes(c.id) if n.status in (BUILDING, NODE_ERROR)]
            self._undo_add(work, names, "caas was restarted while nodes were added")
        elif op == "remove":
            self._remove_nodes(work, c.operation_nodes or [n.name for n in self._nodes(c.id)
                                                           if n.status == NODE_DELETING])

    def close(self) -> None:
        self.stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

