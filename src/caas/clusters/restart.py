"""Resuming the work a previous run left in the journal: a server's after its restart
(``ClusterService.bootstrap``), or a client-side process's (``caas ... --os-cloud``) in the next
such process; with the cluster's application credential (and, client-side, its user's token).

An interrupted create is made again (``again``): what it had made removed, every node back to
BUILDING, the create run from its first step, under the same id, network range and credential,
with the user's public key the create kept (``Cluster.user_public_key``; client-side, for a
cluster made before it was kept: the key pair the create named, read from the cloud, or the
public half of the generated key the client saved). Client-side, an interrupted add is made
again likewise, for the nodes it was adding: the user ran it with ``--no-wait`` and expects it
done. A server rolls an add back whole instead (``Engine._resume``), so that a crash never
leaves more servers than the node records it answered with. Without a key, and for a removal
or a delete, ``Engine``'s own resume runs: a create or an add rolled back, a removal or a
delete finished.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, update

from caas.clusters import resolve
from caas.clusters.cloud import cloud_message
from caas.clusters.work import Work
from caas.clusters.models import BUILDING, DELETING, Cluster, ClusterNode
from caas.clusters.names import compact

log = logging.getLogger("caas.clusters")


def pending(db) -> list[Cluster]:
    """The clusters whose work is unfinished (an operation recorded), detached."""
    with db.read() as s:
        rows = list(s.scalars(select(Cluster).where(Cluster.operation.is_not(None)).order_by(Cluster.created_at)))
        for r in rows:
            s.expunge(r)
        return rows


def user_key(service, c: Cluster, key_file: Path) -> str:
    """The public key a create of ``c`` puts on its nodes: its key pair's (``key_name``), read
    with the client's own connection, or the one derived from the generated private key saved in
    ``key_file``; '' when neither can be had."""
    try:
        if c.key_name:
            return resolve.user_key(service.access.admin(), c.key_name)
        if c.keypair_generated and key_file.is_file():
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_ssh_private_key(key_file.read_bytes(), password=None)
            public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            return f"{public.decode()} caas-{c.name}"
    except Exception as exc:  # noqa: BLE001 - then the create is rolled back, as a server does
        log.warning("cluster %s: no user key for its create (%s)", c.id, cloud_message(exc))
    return ""


def resume(engine, cluster_id: str, token: str = "", key: str = "", adds: bool = False) -> None:
    """Resume ``cluster_id``'s work (see the module's docstring); never raises. ``key``: the
    user's public key when the cluster kept none; ``adds``: make an interrupted add again
    (client-side) rather than roll it back (a server)."""
    c = engine.journal.load(cluster_id)
    if c is None:
        return
    key = c.user_public_key or key
    # a delete asked for meanwhile, or a rollback under way (the work had failed): as a server does
    anew = c.status != DELETING and c.step != "rollback"
    if anew and c.operation == "create" and key and again(engine, c, token):
        engine.run(cluster_id, "create", user_key=key, token=token)
        return
    # an add puts the user's key on its nodes only when the create named a key pair, as the service's
    names = list(c.operation_nodes or [])
    if adds and anew and c.operation == "add" and names and (key or not c.key_name) and \
            again(engine, c, token, names):
        engine.run(cluster_id, "add", names, user_key=key if c.key_name else "", token=token)
        return
    engine.run(cluster_id, "resume", token=token)


def again(engine, c: Cluster, token: str, names: list[str] | None = None) -> bool:
    """Remove what an interrupted create of ``c`` (or add of its nodes ``names``) made and set
    it back to its start; False (the record left as it was) when that fails."""
    try:
        work = Work(c, engine.credentials.for_work(c, token, engine.journal.event), token=token)
        removed = engine.teardown(work, names)
    except Exception as exc:  # noqa: BLE001 - the engine's resume rolls it back instead
        log.warning("cluster %s: cannot start its %s again: %s", c.id, c.operation, cloud_message(exc))
        return False
    reset = update(ClusterNode).where(ClusterNode.cluster_id == c.id)
    if names is not None:
        reset = reset.where(ClusterNode.name.in_(names))
    with engine.db.write() as s:
        s.execute(reset.values(status=BUILDING, server_id=None, port_id=None))
    engine.journal.set(c.id, step="queued", **({} if names is not None else {"floating_ip": None}))
    what = f"adding {compact(names)}" if names is not None else "creating the cluster"
    engine.journal.event(c.id, "resume", f"the {c.operation} was interrupted (caas stopped): removed the "
                                         f"{removed} resource(s) it had made; {what} again")
    return True


def outcome(journal, c: Cluster) -> str:
    """One line: where cluster ``c``'s resumed work ended."""
    now = journal.load(c.id)
    if now is None:
        return f"cluster {c.name}: deleted"
    return f"cluster {c.name}: {now.status}{': ' + now.status_reason if now.status_reason else ''}"
