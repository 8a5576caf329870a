"""Cluster work as ordered steps with rollback, through openstacksdk only.

Each operation is a list of steps (``caas.clusters.operations``), run by one runner
(``perform``) with one rollback path (the operation's ``undo``); the teardown works from the
table of resource kinds (``caas.clusters.kinds``). Delete removes every owned resource, in
reverse order.

Every cloud resource is recorded (``ClusterResource``, with its cloud name, in the
``Journal``) before it is asked for and forgotten only once the cloud says it is gone, so a
crash at any point leaves a record from which ``resume`` rolls back or finishes. Each step
writes an event with its duration; a failure writes the cloud's own words. A delete asked for
while other work runs is seen at the next step boundary (or wait), and that work turns into the
delete.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import logging
import threading
import time

from sqlalchemy import update

from caas.clusters import addresses, guest, marks, names as node_names, profiles, queue, readiness
from caas.clusters.cloud import CloudAccess, cloud_message, flavor_id, not_found
from caas.clusters.credentials import ClusterCredentials
from caas.clusters.journal import IDLE, Journal
from caas.clusters.kinds import BY_NAME, KINDS, Kind, tag
from caas.clusters.models import (ACTIVE, BUILDING, COMPUTE, DELETING, ERROR, HEAD, HEAD_NAME, NODE_ACTIVE,
                                  NODE_DELETING, NODE_ERROR, NODE_PREFIX, Cluster, ClusterNode, ClusterResource)
from caas.clusters.operations import OPERATIONS, Operation, for_profile
from caas.clusters.work import Cancelled, Interrupted, StepFailed, Work
from caas.config import Settings
from caas.db import Database

log = logging.getLogger("caas.clusters")

__all__ = ["HEAD_NAME", "NODE_PREFIX", "IDLE", "Engine", "Work", "StepFailed", "tag"]  # HEAD_NAME, NODE_PREFIX: as before
PARALLEL = 16
POLL = 0.2


class Made(Exception):
    """A resource was made (``cloud_id``), then its next call failed (the cause)."""

    def __init__(self, cloud_id: str) -> None:
        super().__init__(cloud_id)
        self.cloud_id = cloud_id


def cloud_name(c: Cluster, n: ClusterNode) -> str:
    """The cloud name of node ``n``'s port and server."""
    return f"{c.name}-{n.name}" if n.role == COMPUTE else f"{c.name}-head"


class Engine:
    def __init__(self, db: Database, settings: Settings, access: CloudAccess, credentials: ClusterCredentials) -> None:
        self.db = db
        self.journal = Journal(db)
        self.settings = settings
        self.access = access
        self.credentials = credentials
        self.stopping = threading.Event()
        self.pool = cf.ThreadPoolExecutor(PARALLEL, thread_name_prefix="caas-cluster-cloud")

    # ---- steps --------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, work: Work, name: str, detail: str = ""):
        self._checkpoint(work)
        self.journal.set(work.id, step=name)
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
            self.journal.event(work.id, name, f"failed: {message}", "error", time.monotonic() - t0)
            raise StepFailed(f"{name}: {message}") from exc
        self.journal.event(work.id, name, f"done{': ' + '; '.join(notes) if notes else ''}",
                           duration=time.monotonic() - t0)
        if self._injected(work, name):
            message = f"injected failure after step {name} (CAAS_CLUSTER_FAIL_AT)"
            self.journal.event(work.id, name, message, "error")
            raise StepFailed(f"{name}: {message}")

    def perform(self, work: Work, op: Operation) -> None:
        """Run ``op``'s steps in order; the first that fails is undone by ``op.undo`` (the one
        rollback path), with the failure as its reason."""
        op.begin(self, work)
        try:
            for s in op.steps:
                with self.step(work, s.name, s.detail(self, work)) as notes:
                    s.run(self, work, notes)
        except StepFailed as exc:
            op.undo(self, work, str(exc))
            queue.record(self.db, work.id)
            return
        op.done(self, work)
        queue.record(self.db, work.id)  # the cluster's size over time

    def active(self, work: Work) -> None:
        """The work is done: the cluster ACTIVE again, or Cancelled when a delete came meanwhile."""
        if not self.journal.finish(work.id, status=ACTIVE, status_reason=""):
            raise Cancelled()

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
        c = self.journal.load(work.id)
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
        outcomes = list(self.pool.map(guarded, items))
        failed = next((out for out in outcomes if isinstance(out, Exception)), None)
        if failed is not None:
            raise failed
        return outcomes

    def _hosts(self, c: Cluster, exclude: set[str] = frozenset()) -> str:
        nodes = self.journal.nodes(c.id)
        head = next((n.fixed_ip for n in nodes if n.role == HEAD), None)
        computes = [(n.name, n.fixed_ip) for n in nodes if n.role == COMPUTE and n.name not in exclude and n.fixed_ip]
        top = (c.options or {}).get("max_nodes")
        if top and c.cidr:  # an elastic cluster's nodes to come: their addresses follow from their names
            have = {name for name, _ in computes}
            computes += [(name, addresses.node_ip(c.cidr, node_names.node_number(name)[1]))
                         for name in node_names.first(int(top), NODE_PREFIX, self.settings.cluster_node_width)
                         if name not in have]
            computes.sort()
        return profiles.hosts_file(c.name, (f"{c.name}-head", head or addresses.head_ip(c.cidr)), computes)

    @staticmethod
    def _user_data(p: profiles.Profile, c: Cluster, node: ClusterNode, hosts: str, user_key: str, extra: dict) -> str:
        boot = profiles.Boot(cluster_name=c.name, cluster_id=c.id, role=node.role, hosts=hosts,
                             hostname=f"{c.name}-head" if node.role == HEAD else node.name,
                             cluster_key=c.cluster_key, cluster_public_key=c.cluster_public_key,
                             user_public_key=user_key, node_prefix=NODE_PREFIX, report=node.id, extra=extra)
        return base64.b64encode(profiles.compose(p, boot).encode()).decode()

    def _batch(self, work: Work, kind: str, nodes: list[ClusterNode], make) -> None:
        """A ``kind`` resource for each of ``nodes``: all recorded in one transaction, then
        asked for in parallel (``make(node)`` returns its cloud id and the node's changes,
        raising ``Made`` around a failure once the cloud has it), their ids noted in one
        transaction (also when some failed: every resource that exists is known, and the
        nodes' ``<kind>_id`` and changes written to their rows and to ``nodes``)."""
        c = work.cluster
        with self.db.write() as s:
            rows = [ClusterResource(cluster_id=c.id, kind=kind, name=cloud_name(c, n), node=n.name, extra={})
                    for n in nodes]
            s.add_all(rows)
            s.flush()
            rids = [r.id for r in rows]

        def one(n: ClusterNode) -> tuple:
            try:
                return (*make(n), None)
            except Made as exc:
                return exc.cloud_id, {}, exc.__cause__
            except Exception as exc:  # noqa: BLE001 - noted with what was made, raised below
                return None, {}, exc

        outcomes = list(self.pool.map(one, nodes))
        with self.db.write() as s:
            for rid, n, (cloud_id, changes, _) in zip(rids, nodes, outcomes):
                if cloud_id is not None:
                    s.get(ClusterResource, rid).cloud_id = cloud_id
                values = {f"{kind}_id": cloud_id, **changes}
                s.execute(update(ClusterNode).where(ClusterNode.cluster_id == c.id, ClusterNode.name == n.name)
                          .values(**values))
                for key, value in values.items():
                    setattr(n, key, value)
        failed = next((out[2] for out in outcomes if out[2] is not None), None)
        if failed is not None:
            raise failed

    def ports(self, work: Work, nodes: list[ClusterNode]) -> int:
        """A port for each of ``nodes`` that has none yet (``_batch``), on the cluster's subnet:
        at the node's own address on the cluster's network, at the one the cloud chooses on a
        given network (then noted as the node's ``fixed_ip``). Returns how many it made."""
        c, conn = work.cluster, work.conn

        def make(n: ClusterNode) -> tuple:
            sgs = [work.ids["sg_cluster"]] + ([work.ids["sg_head"]] if n.role == HEAD else [])
            fixed = {"subnet_id": work.ids["subnet"], **({"ip_address": n.fixed_ip} if c.cidr else {})}
            port = conn.network.create_port(name=cloud_name(c, n), network_id=work.ids["network"],
                                            security_group_ids=sgs, description=marks.description(c.name, c.id),
                                            fixed_ips=[fixed])
            try:
                marks.tag_after_create(conn, port, c.id)
            except Exception as exc:  # noqa: BLE001 - the port exists: noted, then raised
                raise Made(port.id) from exc
            address = next((ip["ip_address"] for ip in port.fixed_ips or []
                            if ip.get("subnet_id") == work.ids["subnet"]), n.fixed_ip)
            return port.id, {"fixed_ip": address}

        todo = [n for n in nodes if not n.port_id]
        if todo:
            self._batch(work, "port", todo, make)
        return len(todo)

    def boot(self, work: Work, nodes: list[ClusterNode]) -> str:
        """A port (``ports``, unless made already) and a server for each of ``nodes``, the
        servers made once every port is (every address in /etc/hosts is known before any
        server exists). Returns when every server is ACTIVE."""
        c, conn = work.cluster, work.conn
        flavors: dict[str, str] = {}
        for n in nodes:
            if n.flavor not in flavors:
                flavors[n.flavor] = flavor_id(conn, n.flavor)
                if flavors[n.flavor] is None:
                    raise LookupError(f"No flavor {n.flavor!r} is left in the cloud.")
        t0 = time.monotonic()
        made = self.ports(work, nodes)
        hosts = self._hosts(c)
        p = profiles.profile(c.profile, c.profile_version)
        extra = p.prepare(self, work) if p.prepare else {}

        def make(n: ClusterNode) -> tuple:
            return conn.compute.create_server(
                name=cloud_name(c, n), image_id=c.image_id, flavor_id=flavors[n.flavor],
                networks=[{"port": n.port_id}], user_data=self._user_data(p, c, n, hosts, work.user_key, extra),
                config_drive=True, metadata=marks.server_metadata(c, n.name)).id, {}

        self._batch(work, "server", nodes, make)
        t1 = time.monotonic()
        self._wait_active(work, {n.server_id: n for n in nodes})
        return (f"{made} port(s) and {len(nodes)} server(s) asked for in {t1 - t0:.2f} s, all ACTIVE "
                f"{time.monotonic() - t1:.2f} s later")

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
                if readiness.up(s, work.cluster):
                    del pending[s.id]
                    active.append(node.name)
                elif s.status == "ERROR":
                    fault = (s.fault or {}).get("message") or "no reason given"
                    self.journal.node_set(work.id, node.name, status=NODE_ERROR)
                    raise StepFailed(f"the server of {node.name} went to ERROR: {fault}")
            if active and not readiness.guest_checks(self.settings, work.cluster):
                self.journal.nodes_status(work.id, active, NODE_ACTIVE)
            if not pending:
                break
            if time.monotonic() > deadline:
                late = ", ".join(sorted(n.name for n in pending.values())[:10])
                raise StepFailed(f"servers not ACTIVE after {self.settings.cluster_timeout:g} s: {late}")
            time.sleep(POLL if len(pending) < 64 else POLL * 3)

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
        res = next((r for r in self.journal.resources(c.id, [HEAD_NAME]) if r.kind == "server"), None)
        pinned = (res.extra or {}).get("host_key") if res else None
        head = guest.Head(c.floating_ip, c.cluster_key, pinned)
        head.connect(deadline, stop)
        if res is not None and not pinned and head.policy.seen:
            with self.db.write() as s:
                row = s.get(ClusterResource, res.id)
                row.extra = {**(row.extra or {}), "host_key": head.policy.seen}
        return head

    def bootstrap(self, work: Work, push_to: list[str]) -> str:
        """Head reachable and set up; /etc/hosts rewritten on the head and pushed to ``push_to``."""
        if not readiness.guest_checks(self.settings, work.cluster):
            return f"{readiness.why_not(self.settings)}: the cloud's ACTIVE servers count as bootstrapped"
        c = work.cluster
        head = self._head(work)
        deadline = self._deadline()
        while head.run(f"test -f {profiles.READY_MARKER}")[0] != 0:
            self._checkpoint(work)
            if time.monotonic() > deadline:
                raise StepFailed("the head's first-boot setup did not finish")
            time.sleep(POLL)
        if not profiles.profile(c.profile, c.profile_version).pushes_hosts or work.operation == "create":
            return f"head {c.floating_ip} answers SSH, set up"  # a create's nodes boot with the names
        head.put("/etc/hosts", self._hosts(c))  # the head's too when no other node stays (an add to none)
        if not push_to:
            return "/etc/hosts rewritten on the head"
        status, out = head.run(guest.push_hosts_script(push_to), timeout=120)
        failed = [line.split()[1] for line in out.splitlines() if line.startswith("failed ")]
        if failed:
            raise StepFailed(f"could not rewrite /etc/hosts on {', '.join(failed[:10])}")
        return f"/etc/hosts rewritten on the head and {len(push_to)} node(s)"

    def ready(self, work: Work, nodes: list[ClusterNode]) -> str:
        if not readiness.guest_checks(self.settings, work.cluster):
            self.journal.nodes_status(work.id, [n.name for n in nodes], NODE_ACTIVE)
            return f"{readiness.why_not(self.settings)}: ACTIVE servers count as ready"
        expected = {n.name: n.id for n in nodes if n.role == COMPUTE}
        head = self._head(work)
        if not profiles.profile(work.cluster.profile, work.cluster.profile_version).reports:
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
                self.journal.nodes_status(work.id, fresh, NODE_ACTIVE)
            ready |= now & names
            if "head" in now:
                self.journal.node_set(work.id, HEAD_NAME, status=NODE_ACTIVE)
            if ready >= set(names) and "head" in now:
                return f"{len(names)} node(s) set up and reported in to the head by name over SSH"
            if time.monotonic() > deadline:
                missing = sorted(set(names) - ready)
                raise StepFailed(f"not ready after {self.settings.cluster_timeout:g} s: "
                                 f"{', '.join(missing[:10]) or 'the head'}")
            time.sleep(POLL)

    # ---- teardown -----------------------------------------------------------------------
    def _remove(self, conn, kind: Kind, r: ClusterResource, cluster_id: str) -> None:
        cloud_id = r.cloud_id or kind.find(conn, r, cluster_id)
        if cloud_id is not None and r.cloud_id is None:
            # found by name after a crash: note it, so that the teardown waits for it to go
            r.cloud_id = cloud_id
            self.journal.noted(r.id, cloud_id)
        if cloud_id is not None:
            try:
                kind.delete(conn, r, cloud_id)
            except Exception as exc:  # noqa: BLE001
                if not not_found(exc):
                    raise
        if kind.probe is None:
            self.journal.forget(r.id)

    def _wait_gone(self, conn, kind: Kind, rows: list[ClusterResource]) -> None:
        """Until the cloud says each of ``rows`` is gone (``kind.probe`` answers its 404), each
        forgotten then; StepFailed after CAAS_CLUSTER_TIMEOUT."""
        deadline = self._deadline()
        pending = {r.cloud_id: r for r in rows if r.cloud_id}
        while pending:
            for cloud_id in list(pending):
                try:
                    kind.probe(conn, cloud_id)
                except Exception as exc:  # noqa: BLE001
                    if not not_found(exc):
                        raise
                    self.journal.forget(pending.pop(cloud_id).id)
            if pending and time.monotonic() > deadline:
                raise StepFailed(f"{len(pending)} {kind.name}(s) still there after "
                                 f"{self.settings.cluster_timeout:g} s")
            if pending:
                time.sleep(POLL)
        for r in rows:
            if not r.cloud_id:
                self.journal.forget(r.id)

    def teardown(self, work: Work, nodes: list[str] | None = None) -> int:
        """Remove what the cluster (or only ``nodes`` of it) owns, kind by kind in ``KINDS``'
        order; returns how many. Safe to repeat: what is already gone counts as removed."""
        rows = self.journal.resources(work.id, nodes)
        conn = work.conn
        for kind in KINDS:
            batch = [r for r in rows if r.kind == kind.name]
            if not batch:
                continue
            self._parallel(lambda r: self._remove(conn, kind, r, work.id), batch)
            if kind.probe is not None:
                self._wait_gone(conn, kind, batch)
        return len(rows)

    # ---- operations ---------------------------------------------------------------------
    def _work(self, cluster_id: str, token: str = "") -> Work | None:
        c = self.journal.load(cluster_id)
        if c is None:
            return None
        work = Work(c, self.credentials.for_work(c, token, self.journal.event), token=token)
        if c.given_network:
            work.ids.update(network=c.given_network, subnet=c.given_subnet)
        for r in self.journal.resources(cluster_id):
            key = r.cloud_id and r.kind in BY_NAME and BY_NAME[r.kind].work_id(r)
            if key:
                work.ids[key] = r.cloud_id
        return work

    def run(self, cluster_id: str, operation: str, names: list[str] | None = None, user_key: str = "",
            token: str = "") -> None:
        """Run one operation to its end (the worker's entry point): create, add, remove (the
        steps of ``OPERATIONS``), delete or resume. ``token``: the requester's (see Work)."""
        work = None
        try:
            work = self._work(cluster_id, token)
            if work is None:
                return
            work.operation, work.names, work.user_key = operation, list(names or []), user_key
            if operation in OPERATIONS:
                self.perform(work, for_profile(OPERATIONS[operation], profiles.PROFILES.get(work.cluster.profile)))
            elif operation in ("delete", "resume"):
                (self._delete if operation == "delete" else self._resume)(work)
        except Cancelled:
            self.journal.set(cluster_id, operation="delete")
            self._delete(self._work(cluster_id, token))
        except Interrupted:
            log.info("cluster %s: %s interrupted by shutdown; the next start resumes it", cluster_id, operation)
        except Exception as exc:  # noqa: BLE001 - never leave a cluster without a reason
            if self.stopping.is_set():
                log.info("cluster %s: %s interrupted by shutdown", cluster_id, operation)
                return
            log.exception("cluster %s: %s failed unexpectedly", cluster_id, operation)
            self.journal.set(cluster_id, status=ERROR, **IDLE, status_reason=f"{operation} failed: {cloud_message(exc)}")
            self.journal.event(cluster_id, operation, f"failed unexpectedly: {cloud_message(exc)}", "error")
        finally:
            if work is not None and work.head is not None:
                work.head.close()

    def failed_create(self, work: Work, reason: str) -> None:
        """A create's rollback: everything it made removed (unless kept on failure), the
        cluster in ERROR with ``reason``."""
        c = work.cluster
        if c.keep_on_failure:
            self.journal.finish(c.id, status=ERROR, status_reason=f"{reason} (resources kept: --keep-on-failure)")
            return
        self.journal.set(c.id, step="rollback")
        t0 = time.monotonic()
        try:
            n = self.teardown(work)
        except Exception as exc:  # noqa: BLE001
            self._interrupted(exc)
            self.journal.set(c.id, status=ERROR, **IDLE,
                             status_reason=f"{reason}; the rollback failed too ({cloud_message(exc)}): delete the "
                                           "cluster to retry")
            self.journal.event(c.id, "rollback", f"failed: {cloud_message(exc)}", "error", time.monotonic() - t0)
            return
        self.journal.event(c.id, "rollback", f"removed {n} resource(s)", duration=time.monotonic() - t0)
        self.journal.nodes_status(c.id, [n.name for n in self.journal.nodes(c.id)], NODE_ERROR)
        kept = self.credentials.remove(c.id, work.token, c.project_id)
        left = f"nothing is left but {kept}: delete the cluster to remove it" if kept else "nothing is left"
        if not self.journal.finish(c.id, status=ERROR, status_reason=f"{reason}; rolled back, {left}",
                                   floating_ip=None, network_id=None):
            raise Cancelled()

    def undo_add(self, work: Work, names: list[str], reason: str) -> None:
        """An add's rollback: the nodes ``names`` removed whole, the others' /etc/hosts as
        before; the cluster ACTIVE with ``reason``."""
        c = work.cluster
        self.journal.set(c.id, step="rollback")
        try:
            self.teardown(work, names)
            self.journal.drop_nodes(c.id, names)
            if readiness.guest_checks(self.settings, c) and c.floating_ip:
                self.bootstrap(work, [n.name for n in self.journal.nodes(c.id) if n.role == COMPUTE])
                p = profiles.profile(c.profile, c.profile_version)
                if p.rolled_back is not None:
                    p.rolled_back(self, work, names, reason)
        except Exception as exc:  # noqa: BLE001
            self._interrupted(exc)  # a stop in the middle: the next start rolls back again
            reason += f"; the rollback failed too ({cloud_message(exc)})"
        self.journal.event(c.id, "rollback", f"removed the new node(s): {', '.join(names[:10])}")
        if not self.journal.finish(c.id, status=ACTIVE, status_reason=f"adding nodes failed: {reason}; rolled back"):
            raise Cancelled()

    def _delete(self, work: Work | None) -> None:
        if work is None:
            return
        c, t0 = work.cluster, time.monotonic()
        self.journal.set(c.id, status=DELETING, operation="delete", step="delete")
        try:
            n = self.teardown(work)
        except Exception as exc:  # noqa: BLE001
            self._interrupted(exc)
            self.journal.set(c.id, status=ERROR, **IDLE,
                             status_reason=f"delete failed: {cloud_message(exc)}; delete again to retry")
            self.journal.event(c.id, "delete", f"failed: {cloud_message(exc)}", "error", time.monotonic() - t0)
            return
        kept = self.credentials.remove(c.id, work.token, c.project_id)
        if kept:  # DELETING and idle: its user's next request about it finishes it (ClusterService)
            self.journal.set(c.id, **IDLE, status_reason=f"every resource is gone but {kept}; its user's next "
                                                         "request about the cluster deletes it")
            self.journal.event(c.id, "delete", f"waiting: {kept}", "error", time.monotonic() - t0)
            return
        log.info("cluster %s deleted: %d resource(s) in %.2f s", c.id, n, time.monotonic() - t0)
        self.journal.erase(c.id)

    def _resume(self, work: Work) -> None:
        """After a restart: finish a delete or a removal, roll back a create or an add (a create
        whose user's key was kept is made again instead, by ``restart.resume``). An add is
        rolled back whole: every node it was adding (``operation_nodes``), whether its server
        was asked for, ACTIVE or reported in, so that the cloud holds exactly the servers of the
        nodes the cluster had before."""
        c = work.cluster
        op = c.operation
        self.journal.event(c.id, "resume", f"caas restarted during {op}; "
                                           f"{'finishing' if op in ('delete', 'remove', 'suspend', 'configure') else 'rolling back'}")
        if c.status == DELETING or op == "delete":
            self._delete(work)
        elif op == "configure":
            self.perform(work, for_profile(OPERATIONS["configure"], profiles.PROFILES.get(c.profile)))
        elif op == "create":
            self.failed_create(work, "caas was restarted during the create")
        elif op == "add":
            names = c.operation_nodes or [n.name for n in self.journal.nodes(c.id) if n.status in (BUILDING, NODE_ERROR)]
            self.undo_add(work, names, "caas was restarted while nodes were added")
        elif op in ("remove", "suspend"):
            work.names = c.operation_nodes or [n.name for n in self.journal.nodes(c.id) if n.status == NODE_DELETING]
            self.perform(work, for_profile(OPERATIONS[op], profiles.PROFILES.get(c.profile)))

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
