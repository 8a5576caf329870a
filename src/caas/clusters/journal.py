"""The cluster layer's journal: what the database holds of a cluster's work.

``Journal`` reads and writes the rows of one cluster's work: its record (``Cluster``), its
nodes, its events, and its resources. A cloud resource is recorded (``record``) before it is
asked for and its cloud id noted (``noted``) once the cloud has it; it is forgotten only once
the cloud says it is gone, so a crash at any point leaves a record from which the engine's
``resume`` rolls back or finishes. Rows are returned detached (plain values, no session).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select, update

from caas.clusters.models import (ACTIVE, DEGRADED, DELETING, NODE_DOWN, Cluster, ClusterCredential, ClusterEvent,
                                  ClusterSample, ClusterScaler,
                                  ClusterNode, ClusterResource)
from caas.db import Database
from caas.db.base import utcnow

log = logging.getLogger("caas.clusters")

# A cluster's record once its work is over (finished, failed or rolled back).
IDLE = {"operation": None, "operation_nodes": None, "step": None}


class Journal:
    def __init__(self, db: Database) -> None:
        self.db = db

    def event(self, cluster_id: str, step: str, message: str, level: str = "info",
              duration: float | None = None) -> None:
        """An event of the cluster (and the log's line of it)."""
        with self.db.write() as s:
            s.add(ClusterEvent(cluster_id=cluster_id, step=step, message=message[:4000], level=level,
                               duration=None if duration is None else round(duration, 3)))
        (log.warning if level == "error" else log.info)("cluster %s %s: %s", cluster_id, step, message)

    def set(self, cluster_id: str, **values) -> None:
        with self.db.write() as s:
            s.execute(update(Cluster).where(Cluster.id == cluster_id).values(updated_at=utcnow(), **values))

    def load(self, cluster_id: str) -> Cluster | None:
        with self.db.read() as s:
            c = s.get(Cluster, cluster_id)
            if c is not None:
                s.expunge(c)
            return c

    def nodes(self, cluster_id: str, names: list[str] | None = None) -> list[ClusterNode]:
        """The cluster's nodes (only ``names``, when given), oldest first."""
        with self.db.read() as s:
            q = select(ClusterNode).where(ClusterNode.cluster_id == cluster_id)
            if names is not None:
                q = q.where(ClusterNode.name.in_(names))
            rows = list(s.scalars(q.order_by(ClusterNode.created_at, ClusterNode.name)))
            for r in rows:
                s.expunge(r)
            return rows

    def nodes_status(self, cluster_id: str, names, status: str) -> None:
        with self.db.write() as s:
            s.execute(update(ClusterNode).where(ClusterNode.cluster_id == cluster_id, ClusterNode.name.in_(list(names)))
                      .values(status=status))

    def node_set(self, cluster_id: str, name: str, **values) -> None:
        with self.db.write() as s:
            s.execute(update(ClusterNode).where(ClusterNode.cluster_id == cluster_id, ClusterNode.name == name)
                      .values(**values))

    def drop_nodes(self, cluster_id: str, names: list[str]) -> None:
        with self.db.write() as s:
            s.execute(delete(ClusterNode).where(ClusterNode.cluster_id == cluster_id, ClusterNode.name.in_(names)))

    def record(self, cluster_id: str, kind: str, name: str, node: str | None = None, **extra) -> int:
        """A resource about to be asked for; returns its row's id."""
        with self.db.write() as s:
            row = ClusterResource(cluster_id=cluster_id, kind=kind, name=name, node=node, extra=extra)
            s.add(row)
            s.flush()
            return row.id

    def noted(self, rid: int, cloud_id: str) -> None:
        """The cloud's id of recorded resource ``rid``."""
        with self.db.write() as s:
            s.get(ClusterResource, rid).cloud_id = cloud_id

    def resources(self, cluster_id: str, nodes: list[str] | None = None) -> list[ClusterResource]:
        """The cluster's resources (only those of ``nodes``, when given), in recording order."""
        with self.db.read() as s:
            q = select(ClusterResource).where(ClusterResource.cluster_id == cluster_id)
            if nodes is not None:
                q = q.where(ClusterResource.node.in_(nodes))
            rows = list(s.scalars(q.order_by(ClusterResource.id)))
            for r in rows:
                s.expunge(r)
            return rows

    def forget(self, rid: int) -> None:
        """A resource the cloud says is gone."""
        with self.db.write() as s:
            s.execute(delete(ClusterResource).where(ClusterResource.id == rid))

    def finish(self, cluster_id: str, **values) -> bool:
        """The work's final state, unless a delete was asked for meanwhile (then False). An
        idle cluster with a node the health check found DOWN is DEGRADED, not ACTIVE."""
        with self.db.write() as s:
            if values.get("status") == ACTIVE and s.scalar(select(ClusterNode.id).where(
                    ClusterNode.cluster_id == cluster_id, ClusterNode.status == NODE_DOWN).limit(1)):
                values["status"] = DEGRADED
            done = s.execute(update(Cluster).where(Cluster.id == cluster_id, Cluster.status != DELETING)
                             .values(**IDLE, updated_at=utcnow(), **values)).rowcount
        return bool(done)

    def erase(self, cluster_id: str) -> None:
        """The cluster and every row of it (its delete is over)."""
        with self.db.write() as s:
            for model in (ClusterEvent, ClusterResource, ClusterNode, ClusterCredential, ClusterScaler, ClusterSample):
                s.execute(delete(model).where(model.cluster_id == cluster_id))
            s.execute(delete(Cluster).where(Cluster.id == cluster_id))
