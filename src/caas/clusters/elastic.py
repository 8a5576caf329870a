"""Elastic slurm clusters' calls (``ClusterService`` has them): Slurm's power saving asking for
nodes or giving them back (``scale``, with the cluster's scaler credential: ``scaler``), and an
existing cluster made elastic or its elastic settings changed (``set_elastic``). The work is the
engine's usual add and remove (a removal without a drain: ``suspend``), or its ``configure``.
"""

from __future__ import annotations

from caas.clusters import names as node_names, planning, profiles
from caas.clusters.cloud import answers
from caas.clusters.models import ACTIVE, DEGRADED, NODE_PREFIX, Cluster, ClusterEvent
from caas.clusters.planning import MAX_NODES, Request
from caas.clusters.slurm import IDLE_TIME
from caas.context import AuthContext
from caas.errors import BadRequest, Conflict


class ElasticService:
    """The elastic calls, on the cluster service's own helpers (``_get``, ``_idle``, ``_claim``,
    ``_add``, ``_removal``, ``_compute_names``, ``_view``, ``_submit``, ``show``, ``credentials``,
    ``db``, ``settings``)."""

    @answers
    def set_elastic(self, ctx: AuthContext, ref: str, min_nodes: int | None, max_nodes: int | None,
                    idle_time: int | None) -> dict:
        """Make a slurm cluster elastic, or change its elastic settings (202): its slurm.conf
        rewritten on the head (every node up to max_nodes, Slurm's power saving), the scaler
        credential made (with the caller's token) if it has none. Its nodes stay; every one of
        them must be among node001 up to the new max_nodes."""
        with self.db.read() as s:
            c = self._idle(s, ctx, ref, "cluster:scale")
            have = sorted(self._compute_names(s, c.id))
            s.expunge(c)
        p = profiles.profile(c.profile, c.profile_version)
        if "max_nodes" not in p.options:
            raise BadRequest(f"Cluster {c.name} has profile {c.profile}, which has no elastic nodes.")
        old = dict(c.options or {})
        req = Request(name=c.name, image=None, profile=c.profile, profile_version=None, node_count=len(have),
                      node_flavor=None, head_flavor=None, key_name=None, keep_on_failure=False,
                      max_nodes=old.get("max_nodes") if max_nodes is None else max_nodes,
                      min_nodes=old.get("min_nodes") if min_nodes is None else min_nodes,
                      idle_time=old.get("idle_time") if idle_time is None else idle_time)
        if req.max_nodes is None:
            raise BadRequest("Give max_nodes: the cluster is not elastic yet.")
        if isinstance(req.max_nodes, int) and 1 <= req.max_nodes <= MAX_NODES:
            allowed = set(node_names.first(req.max_nodes, NODE_PREFIX, self.settings.cluster_node_width))
            beyond = [n for n in have if n not in allowed]
            if beyond:
                raise Conflict(f"Cluster {c.name} has node(s) {node_names.compact(beyond)} beyond max_nodes "
                               f"{req.max_nodes}: remove them first.")
        planning.elastic(req)
        scaler = None if self.credentials.scaler(c.id) else self.credentials.make_scaler(ctx, c.id, c.name)
        try:
            with self.db.write() as s:
                self._claim(s, c, "configure", [])
                row = s.get(Cluster, c.id)
                row.options = {**old, "min_nodes": req.min_nodes or 0, "max_nodes": req.max_nodes,
                               "idle_time": req.idle_time or old.get("idle_time") or IDLE_TIME}
                if scaler is not None:
                    s.add(scaler)
                s.add(ClusterEvent(cluster_id=c.id, step="configure", message=(
                    f"elastic: min_nodes {row.options['min_nodes']}, max_nodes {req.max_nodes}, idle_time "
                    f"{row.options['idle_time']} s")))
                s.flush()
                view = self._view(s, row)
        except BaseException:
            if scaler is not None:
                self.credentials.discard(scaler, ctx.token_id, ctx.project_id)
            raise
        self._submit(c.id, "configure", token=ctx.token_id)
        return view

    SCALE_ACTIONS = ("resume", "suspend", "failed")

    @answers
    def scale(self, ctx: AuthContext, ref: str, action: str, names: list[str]) -> tuple[dict, list[str]]:
        """Slurm's power saving on an elastic cluster (``scaler``): ``resume`` adds the named
        nodes that do not exist, ``suspend`` removes the named ones that do (Slurm names only
        idle ones: no drain), ``failed`` (Slurm gave up waiting for them) removes them too.
        Names outside node001 up to max_nodes are refused. The work runs on the cluster's own
        credential (the caller's is the scaler's, good for this call only). Returns the cluster
        and the nodes the work is about (none: nothing to do, 200)."""
        if action not in self.SCALE_ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(self.SCALE_ACTIONS)}.")
        if not 1 <= len(names) <= MAX_NODES:
            raise BadRequest(f"names must name from 1 to {MAX_NODES} nodes.")
        with self.db.read() as s:
            c = self._get(s, ctx, ref, "cluster:scale")
            existing = set(self._compute_names(s, c.id))
            s.expunge(c)
        top = (c.options or {}).get("max_nodes")
        if not top:
            raise Conflict(f"Cluster {c.name} is not elastic (it has no max_nodes).")
        allowed = set(node_names.first(top, NODE_PREFIX, self.settings.cluster_node_width))
        stray = sorted({n for n in names if n not in allowed and n not in existing})
        if stray:
            raise BadRequest(f"Cluster {c.name} has no node {node_names.compact(stray)} to scale (its elastic nodes "
                             f"are {node_names.compact(sorted(allowed))}).")
        if action == "resume":
            wanted = sorted({n for n in names if n not in existing})
        else:
            wanted = sorted({n for n in names if n in existing})
        if not wanted:
            return self.show(ctx, c.id), []
        if action == "resume":
            return self._add(ctx, c, wanted, c.node_flavor, self.credentials.connection(c.id),
                             f"Slurm asked for {node_names.compact(wanted)} (jobs wait for them)")
        with self.db.write() as s:
            c = self._idle(s, ctx, c.id, "cluster:scale", (ACTIVE, DEGRADED))
            why = "idle for its idle time" if action == "suspend" else "Slurm gave up waiting for them to boot"
            view = self._removal(s, c, "suspend", wanted, f"Slurm suspends {node_names.compact(wanted)} ({why})")
        self._submit(c.id, "suspend", wanted)
        return view, wanted
