"""Cluster health: the nodes of each idle cluster checked against the cloud, once the cloud
answers after a start and then every ``CAAS_CLUSTER_CHECK_INTERVAL`` seconds.

A node whose server is not ACTIVE (SHUTOFF after its instance died, ERROR, gone) is DOWN and
its cluster DEGRADED, with the reason (``node002: its server is SHUTOFF (power state
Crashed)``) in ``status_reason`` and an event. A DOWN node is ACTIVE again only once checked:
its server ACTIVE and, with guest checks (``CAAS_CLUSTER_GUEST=ssh``), the head letting caas
in over SSH (for the head) or the node letting the head in by name (for a compute node). The
cluster is ACTIVE again when no node is DOWN. Clusters with work in progress are left to it.
Only openstacksdk is used, as everywhere in the cluster layer.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from caas.clusters import guest, profiles, queue, readiness
from caas.clusters.cloud import CloudAccess
from caas.clusters.engine import Engine
from caas.clusters.models import ACTIVE, DEGRADED, HEAD, HEAD_NAME, NODE_ACTIVE, NODE_DOWN, Cluster, ClusterEvent, ClusterNode
from caas.db.base import utcnow

log = logging.getLogger("caas.clusters")

# Nova's power states as the openstack CLI names them (OS-EXT-STS:power_state).
POWER_STATES = {0: "NOSTATE", 1: "Running", 3: "Paused", 4: "Shutdown", 6: "Crashed", 7: "Suspended"}
HEAD_SSH_WAIT = 10.0  # seconds the check waits for a head that runs again to let caas in


def server_problem(server) -> str | None:
    """Why a node with this server (an openstacksdk Server, or None when the cloud has none)
    is not up; None when its server is ACTIVE."""
    if server is None:
        return "its server is gone"
    if server.status == "ACTIVE":
        return None
    power = POWER_STATES.get(server.power_state)
    return f"its server is {server.status}" + (f" (power state {power})" if power else "")


class Health:
    def __init__(self, engine: Engine, access: CloudAccess) -> None:
        self.engine = engine
        self.access = access
        self.db = engine.db
        self.settings = engine.settings

    def _checked(self) -> list[str]:
        """The ids of the clusters a round checks: idle, ACTIVE or DEGRADED."""
        with self.db.read() as s:
            return list(s.scalars(select(Cluster.id).where(Cluster.operation.is_(None),
                                                           Cluster.status.in_((ACTIVE, DEGRADED)))))

    def due(self) -> bool:
        """Is there a cluster for a round to check (read from the database only)?"""
        return bool(self._checked())

    def check_all(self) -> None:
        """Check every idle ACTIVE or DEGRADED cluster, with one server list per project; one
        cluster's failure (its project's token, the cloud) is logged and does not stop the
        others."""
        ids = self._checked()
        servers: dict[str, dict] = {}  # project id -> its servers by id, read once this round
        for cluster_id in ids:
            if self.engine.stopping.is_set():
                return
            try:
                self.check(cluster_id, servers)
            except Exception:  # noqa: BLE001 - the next round tries again, on new connections
                log.warning("cluster %s: health check failed", cluster_id, exc_info=True)
                self.access.close()
                servers.clear()

    def check(self, cluster_id: str, servers: dict[str, dict] | None = None) -> None:
        """Check one cluster's nodes against the cloud and record what was found; ``servers``
        keeps each project's server list for the other clusters of a round."""
        c = self.engine.journal.load(cluster_id)
        if c is None or c.operation or c.status not in (ACTIVE, DEGRADED):
            return
        nodes = [n for n in self.engine.journal.nodes(cluster_id) if n.status in (NODE_ACTIVE, NODE_DOWN) and n.server_id]
        servers = {} if servers is None else servers
        if c.project_id not in servers:
            conn = self.engine.credentials.connection(c.id, self.access)
            servers[c.project_id] = {s.id: s for s in conn.compute.servers(details=True)}
        found = servers[c.project_id]
        down = {n.name: problem for n in nodes if (problem := server_problem(found.get(n.server_id)))}
        back = [n for n in nodes if n.status == NODE_DOWN and n.name not in down]
        if back and readiness.guest_checks(self.settings, c):
            down.update(self._unreachable(c, back, head_down=HEAD_NAME in down))
        self._record(c, nodes, down)
        if HEAD_NAME not in down and readiness.guest_checks(self.settings, c) and \
                getattr(profiles.PROFILES.get(c.profile), "has_queue", False):
            self._queue(c)

    def _queue(self, c: Cluster) -> None:
        """The workload manager's queue, read on the head, with a sample of the cluster."""
        try:
            head = self.engine.open_head(c, time.monotonic() + HEAD_SSH_WAIT, self.engine.stopping.is_set)
        except guest.GuestError:
            return
        try:
            found = queue.read(head)
        except guest.GuestError:
            return
        finally:
            head.close()
        queue.record(self.db, c.id, found)

    def _unreachable(self, c: Cluster, back: list[ClusterNode], head_down: bool) -> dict[str, str]:
        """Of the nodes whose servers run again, those that do not answer SSH yet, with why."""
        waiting = "its server is ACTIVE again, but it does not answer SSH yet"
        if head_down:
            return {n.name: f"{waiting} (the head is down)" for n in back}
        try:
            head = self.engine.open_head(c, time.monotonic() + HEAD_SSH_WAIT, self.engine.stopping.is_set)
        except guest.GuestError:
            return {n.name: waiting for n in back}
        try:
            computes = [n.name for n in back if n.role != HEAD]
            if not computes:
                return {}
            _, out = head.run(guest.reachable_script(computes), timeout=30)
        except guest.GuestError:
            return {n: waiting for n in computes}
        finally:
            head.close()
        up = {line.split()[1] for line in out.splitlines() if line.startswith("up ") and len(line.split()) == 2}
        return {n: waiting for n in computes if n not in up}

    def _record(self, c: Cluster, nodes: list[ClusterNode], down: dict[str, str]) -> None:
        """Nodes DOWN or ACTIVE as found, the cluster DEGRADED or ACTIVE, an event for each
        change; nothing when work started on the cluster meanwhile (it has the last word)."""
        def label(name: str) -> str:
            return f"{c.name}-head" if name == HEAD_NAME else name

        with self.db.write() as s:
            row = s.get(Cluster, c.id, with_for_update=True)
            if row is None or row.operation or row.status not in (ACTIVE, DEGRADED):
                return
            current = {n.name: n for n in s.scalars(select(ClusterNode).where(
                ClusterNode.cluster_id == c.id, ClusterNode.name.in_([n.name for n in nodes])))}
            for name, node in current.items():
                was, now = node.status, NODE_DOWN if name in down else NODE_ACTIVE
                if was == now or was not in (NODE_ACTIVE, NODE_DOWN):
                    continue
                node.status = now
                message = f"{label(name)} is down: {down[name]}" if now == NODE_DOWN else f"{label(name)} is up again"
                s.add(ClusterEvent(cluster_id=c.id, step="health", level="error" if now == NODE_DOWN else "info",
                                   message=message))
            if not down and row.status == ACTIVE:
                return  # keeps its status_reason (a failed add says so there)
            status = DEGRADED if down else ACTIVE
            reason = "; ".join(f"{label(n)}: {why}" for n, why in sorted(down.items()))
            if row.status != status:
                s.add(ClusterEvent(cluster_id=c.id, step="health", level="error" if down else "info",
                                   message=f"cluster {status}" + (f": {reason}" if reason else "")))
            if (row.status, row.status_reason) != (status, reason):
                row.status, row.status_reason, row.updated_at = status, reason, utcnow()
