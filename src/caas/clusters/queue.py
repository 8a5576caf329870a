"""A cluster's size and its workload manager's queue over time.

Every operation that ends writes a sample of the cluster's compute nodes (``ClusterSample``);
the health check reads the queue of a profile that has one (Slurm's ``squeue`` on the head,
over the cluster's SSH session) and writes it on the cluster (``Cluster.queue``: the pending
and running jobs, the first ``MAX_JOBS`` of them listed) with a sample, at most every ``EVERY``
seconds unless something changed. Samples older than ``KEEP`` go. ``svg`` draws them: nodes
and pending jobs over time, a plain SVG of numbers (no user text), served by caas (no CDN).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from caas.clusters.models import COMPUTE, Cluster, ClusterNode, ClusterSample
from caas.db.base import utcnow

class _Point:
    def __init__(self, time: dt.datetime, nodes: int, pending: int) -> None:
        self.time, self.nodes, self.pending = time, nodes, pending


EVERY = 30.0  # seconds between two samples when nothing changed
KEEP = dt.timedelta(days=1)
MAX_JOBS = 50
# id|state|nodes|user|name|elapsed: the fields a user's job list shows (squeue's own names)
SQUEUE = "squeue -h -o '%i|%T|%D|%u|%j|%M' 2>/dev/null | head -n 5000"
PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "RESV_DEL_HOLD"}
RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "STAGE_OUT", "SIGNALING"}


def parse(out: str) -> dict:
    """``squeue`` (``SQUEUE``'s format) as the cluster's queue."""
    jobs = []
    for line in out.splitlines():
        parts = line.split("|", 5)
        if len(parts) != 6 or not parts[0].strip():
            continue
        job_id, state, nodes, user, name, elapsed = (p.strip() for p in parts)
        jobs.append({"id": job_id[:32], "state": state[:32], "nodes": int(nodes) if nodes.isdigit() else 0,
                     "user": user[:64], "name": name[:128], "time": elapsed[:32]})
    return {"time": utcnow().isoformat(timespec="seconds") + "Z",
            "pending": sum(1 for j in jobs if j["state"] in PENDING),
            "running": sum(1 for j in jobs if j["state"] in RUNNING), "jobs": jobs[:MAX_JOBS]}


def read(head) -> dict:
    """The queue, from the head (a ``guest.Head`` session)."""
    _, out = head.run(SQUEUE, timeout=30)
    return parse(out)


def record(db, cluster_id: str, queue: dict | None = None) -> None:
    """A sample of the cluster now (its compute nodes; the queue when given, then kept on the
    cluster too): written when the nodes or the queue's counts changed, or ``EVERY`` seconds
    after the last one."""
    now = utcnow()
    with db.write() as s:
        if s.get(Cluster, cluster_id) is None:
            return
        nodes = s.scalar(select(func.count()).select_from(ClusterNode).where(
            ClusterNode.cluster_id == cluster_id, ClusterNode.role == COMPUTE)) or 0
        last = s.scalars(select(ClusterSample).where(ClusterSample.cluster_id == cluster_id)
                         .order_by(ClusterSample.id.desc()).limit(1)).first()
        pending = queue["pending"] if queue else (last.pending if last else 0)
        running = queue["running"] if queue else (last.running if last else 0)
        if queue is not None:
            s.get(Cluster, cluster_id).queue = queue
        if last is not None and (last.nodes, last.pending, last.running) == (nodes, pending, running) \
                and (now - last.time).total_seconds() < EVERY:
            return
        s.add(ClusterSample(cluster_id=cluster_id, time=now, nodes=nodes, pending=pending, running=running))
        s.execute(delete(ClusterSample).where(ClusterSample.cluster_id == cluster_id,
                                              ClusterSample.time < now - KEEP))


def samples(db, cluster_id: str) -> list[ClusterSample]:
    with db.read() as s:
        rows = list(s.scalars(select(ClusterSample).where(ClusterSample.cluster_id == cluster_id)
                              .order_by(ClusterSample.id)))
        for r in rows:
            s.expunge(r)
        return rows


def views(rows: list[ClusterSample]) -> list[dict]:
    return [{"time": r.time.isoformat(timespec="seconds") + "Z", "nodes": r.nodes, "pending": r.pending,
             "running": r.running} for r in rows]


def svg(points: list[dict], now: dt.datetime | None = None, width: int = 640, height: int = 180) -> str:
    """Nodes (a solid step line) and pending jobs (dashed) over the samples' time (``views``),
    up to ``now``: an SVG document of numbers only."""
    rows = [_Point(dt.datetime.fromisoformat(p["time"].rstrip("Z")), int(p["nodes"]), int(p["pending"]))
            for p in points]
    now = now or utcnow()
    pad_l, pad_r, pad_t, pad_b = 40, 10, 10, 28
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="nodes over time">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="none" stroke="#ccc"/>']
    if not rows:
        parts.append(f'<text x="{pad_l + 8}" y="{pad_t + 20}" font-size="12" fill="#666">no samples yet</text>')
        return "".join(parts) + "</svg>"
    t0 = rows[0].time
    span = max((now - t0).total_seconds(), 1.0)
    top = max(max(max(r.nodes, r.pending) for r in rows), 1)

    def x(t: dt.datetime) -> float:
        return round(pad_l + w * min(max((t - t0).total_seconds() / span, 0.0), 1.0), 1)

    def y(v: int) -> float:
        return round(pad_t + h - h * v / top, 1)

    def steps(values: list[int]) -> str:
        points: list[str] = []
        for i, (r, v) in enumerate(zip(rows, values)):
            if i:
                points.append(f"{x(r.time)},{y(values[i - 1])}")
            points.append(f"{x(r.time)},{y(v)}")
        points.append(f"{x(now)},{y(values[-1])}")
        return " ".join(points)

    parts += [f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{steps([r.nodes for r in rows])}"/>',
              f'<polyline fill="none" stroke="#d29922" stroke-width="1.5" stroke-dasharray="4 3" '
              f'points="{steps([r.pending for r in rows])}"/>',
              f'<text x="{pad_l - 6}" y="{pad_t + 10}" font-size="11" text-anchor="end">{top}</text>',
              f'<text x="{pad_l - 6}" y="{pad_t + h}" font-size="11" text-anchor="end">0</text>',
              f'<text x="{pad_l}" y="{height - 8}" font-size="11">{t0.strftime("%H:%M:%S")}</text>',
              f'<text x="{pad_l + w}" y="{height - 8}" font-size="11" text-anchor="end">{now.strftime("%H:%M:%S")}'
              '</text>',
              f'<text x="{pad_l + w / 2}" y="{height - 8}" font-size="11" text-anchor="middle">'
              '<tspan fill="#1f6feb">nodes</tspan> <tspan fill="#d29922">pending jobs</tspan></text>']
    return "".join(parts) + "</svg>"
