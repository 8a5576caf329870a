"""A cluster's shared /home: a share of the cloud's Shared File Systems service (Manila v2),
made before any server, open to the cluster's subnet, mounted at /home on every node through
the standard cloud-config ``mounts`` key (real clouds export it over NFS and the guest mounts
it; the embedded cloud's netns driver attaches it at boot, so instances need no privilege to
mount). Removing a node never touches it; deleting the cluster deletes it, after the servers.

The share is recorded (``ClusterResource`` kind ``share``) before it is asked for, like every
resource of a cluster, and found again by its name and metadata after a crash (``kinds``).
"""

from __future__ import annotations

import time

from caas.clusters import marks
from caas.clusters.cloudconfig import Boot
from caas.clusters.work import StepFailed, Work

HOME = "/home"
DEFAULT_SIZE = 10  # GB
MAX_SIZE = 10240
POLL = 0.2


def share_name(cluster_name: str) -> str:
    return f"{cluster_name}-home"


def make_home(engine, work: Work, notes: list[str]) -> None:
    """The share (recorded first), available, with a read-write rule for the cluster's subnet;
    its export location kept for the nodes' cloud-config."""
    c, sfs = work.cluster, work.conn.shared_file_system
    size = int((c.options or {}).get("home_size") or DEFAULT_SIZE)
    name = share_name(c.name)
    rid = engine.journal.record(c.id, "share", name)
    share = sfs.create_share(name=name, size=size, share_proto="NFS", metadata={"caas_cluster": c.id},
                             description=marks.description(c.name, c.id, "its shared /home"))
    engine.journal.noted(rid, share.id)
    deadline = time.monotonic() + engine.settings.cluster_timeout
    while share.status != "available":
        if share.status in ("error", "error_deleting"):
            raise StepFailed(f"the cloud could not make the share {name} ({share.status})")
        if time.monotonic() > deadline:
            raise StepFailed(f"the share {name} is still {share.status}")
        engine._checkpoint(work)
        time.sleep(POLL)
        share = sfs.get_share(share.id)
    cidr = c.cidr or c.given_cidr
    rule = sfs.create_access_rule(share.id, access_type="ip", access_to=cidr, access_level="rw")
    while getattr(rule, "state", "active") not in ("active",):
        if rule.state == "error":
            raise StepFailed(f"the cloud could not open the share {name} to {cidr}")
        if time.monotonic() > deadline:
            raise StepFailed(f"the share {name}'s rule for {cidr} is still {rule.state}")
        time.sleep(POLL)
        rule = sfs.get_access_rule(rule.id)
    work.ids["home_export"] = export_of(work.conn, share.id)
    notes.append(f"share {share.id} ({size} GB) at {work.ids['home_export']}, read-write for {cidr}")


def export_of(conn, share_id: str) -> str:
    """The share's export location (the preferred one, else the first)."""
    locations = list(conn.shared_file_system.export_locations(share_id))
    if not locations:
        raise StepFailed(f"the share {share_id} has no export location")
    best = next((x for x in locations if getattr(x, "is_preferred", False)), locations[0])
    return best.path


def export(engine, work: Work) -> str:
    """The export of the cluster's share (the create's, else read from the cloud)."""
    if "home_export" not in work.ids:
        r = next((r for r in engine.journal.resources(work.id) if r.kind == "share" and r.cloud_id), None)
        if r is None:
            raise StepFailed("the cluster has no shared /home")
        work.ids["home_export"] = export_of(work.conn, r.cloud_id)
    return work.ids["home_export"]


def part(b: Boot) -> dict:
    """/home on the share (``Boot.extra['home_export']``) on every node (mounted again here where
    cloud-init's ``mounts`` ran before ``packages`` brought the NFS client); the users' part
    stops when it is not there (homes on a node's own disk would be lost with the node)."""
    where = b.extra.get("home_export")
    if not where:
        return {}
    return {"mounts": [[where, HOME, "nfs", "defaults,_netdev", "0", "0"]],
            "packages": ["nfs-common"],
            "runcmd": [["sh", "-c", f"mountpoint -q {HOME} || mount {HOME}"]]}


# ---- the teardown's ways with a share (``kinds``) -----------------------------------------------
def find(conn, r, cluster_id: str) -> str | None:
    for s in conn.shared_file_system.shares(details=True, name=r.name):
        if (getattr(s, "metadata", None) or {}).get("caas_cluster") == cluster_id:
            return s.id
    return None


def delete(conn, r, cloud_id: str) -> None:
    conn.shared_file_system.delete_share(cloud_id)


def probe(conn, cloud_id: str) -> None:
    conn.shared_file_system.get_share(cloud_id)
