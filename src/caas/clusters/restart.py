"""Resuming the work a client-side process (``caas ... --os-cloud``) left in its journal: the
next such process resumes it, with the cluster's application credential and its user's token.

Unlike a server's restart (``Engine._resume``, which rolls an interrupted create back: it has
not the user's public key), a client has the user's key: the generated one's private half it
saved (its public half derived from it), or the key pair the create named, read from the cloud.
So an interrupted create is made again (``create_again``): what it had made removed, every
node back to BUILDING, the create run from its first step, under the same id, network range
and credential. Without the key, and for every other operation, ``Engine``'s own resume runs:
an add rolled back, a removal or a delete finished.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, update

from caas.clusters.cloud import cloud_message
from caas.clusters.work import Work
from caas.clusters.models import BUILDING, CREATING, Cluster, ClusterNode

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
            return service.access.admin().compute.get_keypair(c.key_name).public_key
        if c.keypair_generated and key_file.is_file():
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_ssh_private_key(key_file.read_bytes(), password=None)
            public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            return f"{public.decode()} caas-{c.name}"
    except Exception as exc:  # noqa: BLE001 - then the create is rolled back, as a server does
        log.warning("cluster %s: no user key for its create (%s)", c.id, cloud_message(exc))
    return ""


def resume(engine, cluster_id: str, token: str, key: str) -> None:
    """Resume ``cluster_id``'s work (see the module's docstring); never raises."""
    c = engine.journal.load(cluster_id)
    if c is None:
        return
    if c.operation == "create" and c.status == CREATING and key and create_again(engine, c, token):
        engine.run(cluster_id, "create", user_key=key, token=token)
        return
    engine.run(cluster_id, "resume", token=token)


def create_again(engine, c: Cluster, token: str) -> bool:
    """Remove what an interrupted create of ``c`` made and set it back to its start; False (the
    record left as it was) when that fails."""
    try:
        work = Work(c, engine.credentials.for_work(c, token, engine.journal.event), token=token)
        removed = engine.teardown(work)
    except Exception as exc:  # noqa: BLE001 - the engine's resume rolls it back instead
        log.warning("cluster %s: cannot start its create again: %s", c.id, cloud_message(exc))
        return False
    with engine.db.write() as s:
        s.execute(update(ClusterNode).where(ClusterNode.cluster_id == c.id)
                  .values(status=BUILDING, server_id=None, port_id=None))
    engine.journal.set(c.id, step="queued", floating_ip=None, network_id=None)
    engine.journal.event(c.id, "resume", f"an earlier caas command stopped during the create: removed the {removed} "
                                         "resource(s) it had made; creating the cluster again")
    return True


def outcome(journal, c: Cluster) -> str:
    """One line: where cluster ``c``'s resumed work ended."""
    now = journal.load(c.id)
    if now is None:
        return f"cluster {c.name}: deleted"
    return f"cluster {c.name}: {now.status}{': ' + now.status_reason if now.status_reason else ''}"
