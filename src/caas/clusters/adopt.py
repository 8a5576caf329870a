"""``caas cluster adopt``: a cluster's journal entry rebuilt from the cloud alone, for a user
who lost it (another machine, a deleted data dir).

What the cloud keeps of a cluster (``marks``): its network resources tagged
``caas-cluster-<id>`` with ``caas cluster NAME (ID)`` in their description, and its servers'
metadata (the cluster's id, the node's name, the profile, its version, the ready choice, the key
pair named). From those, ``adopt`` writes the cluster's row, its nodes (their servers, ports,
addresses, flavors, statuses) and its resources, in the order the create made them, so that
show, list, node add and remove, and delete work as before.

What the cloud does not keep: the application credential's secret (a new credential is made
with the caller's token, the old one deleted by its name, ``credentials.credential_name``) and
the cluster's own SSH key (a new one is made, which the existing nodes do not trust: caas no
longer logs in to them, so the adopted cluster's ready choice is ``servers``, said in its
events). Only the caller's project is searched; refusals are NotFound (nothing of that name or
id) and Conflict (already in the journal, or several clusters of that name).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from caas.clusters import marks, policy, profiles, readiness
from caas.clusters.cloud import cloud_message
from caas.clusters.credentials import credential_name
from caas.clusters.guest import generate_key
from caas.clusters.models import (ACTIVE, COMPUTE, DEGRADED, ERROR, HEAD, HEAD_NAME, NODE_ACTIVE, NODE_DOWN,
                                  NODE_ERROR, Cluster, ClusterEvent, ClusterNode, ClusterResource)
from caas.context import AuthContext
from caas.db.base import utcnow
from caas.errors import CaasError, Conflict, NotFound, ServiceUnavailable

DESCRIBED = re.compile(r"caas cluster ([a-z][a-z0-9-]{0,39}) \(([0-9a-f]{32})\)")
STOPPED = ("SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED")


def _mine(objs, project_id: str) -> list:
    return [o for o in objs if getattr(o, "project_id", None) in (None, project_id)]


def find(conn, project_id: str, ref: str) -> tuple[str, str]:
    """(name, id) of the project's cluster ``ref`` (its name or id), as its security groups,
    networks and servers say; NotFound or Conflict."""
    found: dict[str, str] = {}
    for obj in [*_mine(conn.network.security_groups(project_id=project_id), project_id),
                *_mine(conn.network.networks(project_id=project_id), project_id)]:
        m = DESCRIBED.search(getattr(obj, "description", None) or "")
        if m:
            found[m.group(2)] = m.group(1)
    for s in conn.compute.servers(details=True):
        meta = s.metadata or {}
        cid, node = meta.get("caas_cluster"), meta.get("caas_node")
        suffix = "-head" if node == HEAD_NAME else f"-{node}"
        if cid and node and s.name.endswith(suffix):
            found.setdefault(cid, s.name[:-len(suffix)])
    ids = sorted(cid for cid, name in found.items() if ref in (cid, name))
    if not ids:
        raise NotFound(f"No cluster {ref[:80]!r} in the cloud's project {project_id}: nothing carries its tag "
                       "(caas-cluster-<id>) or its servers' metadata.")
    if len(ids) > 1:
        raise Conflict(f"Several clusters named {ref[:80]!r} are in the cloud ({', '.join(ids)}): adopt one by its id.")
    return found[ids[0]], ids[0]


def _listed(conn, project_id: str, cluster_id: str) -> dict[str, list]:
    """The cluster's resources in the cloud, by kind: tagged as its own, or made and not tagged
    yet (a crash in between), known by the cluster's id in their description (``marks.mine``)."""
    net = conn.network
    listed = {}
    for kind, listing in (("network", net.networks), ("subnet", net.subnets), ("router", net.routers),
                          ("security_group", net.security_groups), ("port", net.ports), ("floating_ip", net.ips)):
        listed[kind] = [o for o in _mine(listing(project_id=project_id), project_id) if marks.mine(o, cluster_id)]
    listed["server"] = [s for s in conn.compute.servers(details=True)
                        if (s.metadata or {}).get("caas_cluster") == cluster_id]
    return listed


def _node_of(cluster_name: str, cloud_name: str) -> str:
    tail = cloud_name[len(cluster_name) + 1:] if cloud_name.startswith(cluster_name + "-") else cloud_name
    return HEAD_NAME if tail == "head" else tail


def _flavor(server) -> dict:
    f = server.flavor
    get = f.get if isinstance(f, dict) else (lambda k, d=None: getattr(f, k, d))
    return {"name": get("original_name") or get("name") or get("id") or "", "vcpus": get("vcpus") or 0,
            "ram": get("ram") or 0}


def _status(server) -> str:
    if server.status == "ACTIVE":
        return NODE_ACTIVE
    return NODE_DOWN if server.status in STOPPED else NODE_ERROR


def _resources(name: str, listed: dict) -> list[ClusterResource]:
    """The cluster's resource rows in the order its create made them."""
    rows = [ClusterResource(kind=kind, name=f"{name}-head" if kind == "floating_ip" else o.name, cloud_id=o.id,
                            node=_node_of(name, o.name) if kind in ("port", "server") else None, extra={})
            for kind in ("network", "subnet", "router", "security_group", "port", "server", "floating_ip")
            for o in listed[kind]]
    for router in listed["router"]:  # removing an interface that is not there is the cloud's 404: done
        at = next((i for i, r in enumerate(rows) if r.cloud_id == router.id), len(rows))
        rows[at + 1:at + 1] = [ClusterResource(kind="router_interface", name=router.name, cloud_id=sub.id,
                                               node=None, extra={"router": router.id}) for sub in listed["subnet"]]
    return rows


def _nodes(name: str, listed: dict) -> list[ClusterNode]:
    ports = {_node_of(name, p.name): p for p in listed["port"]}
    nodes = []
    for s in listed["server"]:
        node = (s.metadata or {}).get("caas_node") or _node_of(name, s.name)
        port = ports.get(node)
        ip = next((f.get("ip_address") for f in (port.fixed_ips or [])), None) if port is not None else None
        flavor = _flavor(s)
        nodes.append(ClusterNode(name=node, role=HEAD if node == HEAD_NAME else COMPUTE, status=_status(s),
                                 flavor=flavor["name"], server_id=s.id, port_id=port.id if port is not None else None,
                                 fixed_ip=ip, vcpus=flavor["vcpus"], ram=flavor["ram"]))
    return sorted(nodes, key=lambda n: (n.role != HEAD, n.name))


def _image(conn, server) -> tuple[str, str]:
    image = server.image
    image_id = (image.get("id") if isinstance(image, dict) else getattr(image, "id", None)) or ""
    try:
        return image_id, conn.image.get_image(image_id).name or image_id
    except Exception:  # noqa: BLE001 - an image deleted since: its id stands for it
        return image_id, image_id


def _network(conn, listed: dict, head: ClusterNode | None) -> dict:
    """Where the cluster's nodes are, as its row says it: its own network and subnet's range;
    or, on a network it was given (it owns no subnet), that network, subnet and range (the
    ``given_*`` columns, set where the schema has them); and the external network its router's
    gateway or its floating IP is on."""
    external = next((r.external_gateway_info.get("network_id") for r in listed["router"]
                     if r.external_gateway_info), None) or \
        next((f.floating_network_id for f in listed["floating_ip"]), None)
    fields = {"external_network": external}
    if listed["subnet"]:
        return {**fields, "cidr": listed["subnet"][0].cidr,
                "network_id": listed["network"][0].id if listed["network"] else None}
    port = next((p for p in listed["port"] if head is not None and p.id == head.port_id), None)
    subnet_id = next((f.get("subnet_id") for f in (port.fixed_ips or [])), None) if port is not None else None
    if not subnet_id:  # neither a subnet nor a head's port: nothing tells where it was
        return {**fields, "cidr": "", "network_id": listed["network"][0].id if listed["network"] else None}
    return {**fields, "cidr": None, "network_id": port.network_id, "given_network": port.network_id,
            "given_subnet": subnet_id, "given_cidr": conn.network.get_subnet(subnet_id).cidr}


def _cluster(conn, ctx: AuthContext, name: str, cid: str, listed: dict, nodes: list[ClusterNode]) -> Cluster:
    head = next((s for s in listed["server"] if (s.metadata or {}).get("caas_node") == HEAD_NAME), None)
    meta = (head or (listed["server"] or [None])[0])
    meta = (meta.metadata or {}) if meta is not None else {}
    computes = [n for n in nodes if n.role == COMPUTE]
    head_node = next((n for n in nodes if n.role == HEAD), None)
    image_id, image = _image(conn, head) if head is not None else ("", "")
    # the columns of clusters on given networks, where the schema has them
    network = {k: v for k, v in _network(conn, listed, head_node).items() if k in Cluster.__table__.c}
    p = profiles.PROFILES.get(meta.get("caas_profile") or "base") or profiles.PROFILES["base"]
    version = meta.get("caas_profile_version")
    statuses = {n.status for n in nodes}
    status = ERROR if head_node is None or NODE_ERROR in statuses else DEGRADED if NODE_DOWN in statuses else ACTIVE
    key, public = generate_key(f"caas-cluster-{name}")
    fip = listed["floating_ip"][0].floating_ip_address if listed["floating_ip"] else None
    return Cluster(
        id=cid, project_id=ctx.project_id, user_id=ctx.user_id, name=name, status=status, step=None,
        status_reason="" if status != ERROR else "adopted without a head node or with a node in ERROR: delete it",
        image=image, image_id=image_id, profile=p.name,
        profile_version=version if version in p.versions else p.default_version,
        head_flavor=head_node.flavor if head_node else "",
        node_flavor=computes[0].flavor if computes else head_node.flavor if head_node else "",
        key_name=meta.get("caas_key_name") or "",
        keypair_generated=not meta.get("caas_key_name"), cluster_key=key, cluster_public_key=public,
        keep_on_failure=False, ready=readiness.SERVERS, floating_ip=fip, operation=None, created_at=_made(listed),
        **network)


def _made(listed: dict) -> dt.datetime:
    """When the cluster was made: its oldest resource's creation time the cloud gives (now if none)."""
    times = []
    for obj in (o for objs in listed.values() for o in objs):
        try:
            when = dt.datetime.fromisoformat(str(getattr(obj, "created_at", None) or "").replace("Z", "+00:00"))
        except ValueError:
            continue
        times.append(when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when)
    return min(times, default=None) or utcnow()


def _replace_credential(service, conn, ctx: AuthContext, name: str, cid: str):
    """The old credential (by its name) deleted, a new one made with the caller's token."""
    old = credential_name(name, cid)
    try:
        for cred in conn.identity.application_credentials(user=ctx.user_id, name=old):
            conn.identity.delete_application_credential(ctx.user_id, cred.id, ignore_missing=True)
    except Exception as exc:  # noqa: BLE001 - the cloud's words
        raise ServiceUnavailable(f"caas could not delete the cluster's old application credential {old}: "
                                 f"{cloud_message(exc)}") from None
    return service.credentials.make(ctx, cid, name)


def adopt(service, ctx: AuthContext, ref: str) -> str:
    """Rebuild cluster ``ref`` (name or id) of the caller's project from the cloud into
    ``service``'s journal; returns its id. ServiceUnavailable, in the cloud's words, when the
    cloud fails to answer; Forbidden to whom may not create clusters in the project (a reader)."""
    policy.enforce(ctx, "cluster:create", {"project_id": ctx.project_id})
    try:
        conn = service.access.user(ctx.token_id, ctx.project_id)
        name, cid = find(conn, ctx.project_id, ref)
        with service.db.read() as s:
            known = s.scalar(select(Cluster).where((Cluster.id == cid) | (
                (Cluster.project_id == ctx.project_id) & (Cluster.name == name))))
            if known is not None:
                raise Conflict(f"Cluster {known.name} ({known.id}) is already in this journal: nothing to adopt.")
        listed = _listed(conn, ctx.project_id, cid)
        nodes = _nodes(name, listed)
        cluster = _cluster(conn, ctx, name, cid, listed, nodes)
    except CaasError:
        raise
    except Exception as exc:  # noqa: BLE001 - the cloud's words, in one line
        raise ServiceUnavailable(f"The cloud did not answer the adoption: {cloud_message(exc)}") from None
    rows = _resources(name, listed)
    credential = _replace_credential(service, conn, ctx, name, cid)
    try:
        _write(service, cluster, credential, nodes, rows)
    except BaseException as exc:
        service.credentials.discard(credential, ctx.token_id, ctx.project_id)
        if isinstance(exc, IntegrityError):  # an adopt or a create of the same cluster won meanwhile
            raise Conflict(f"Cluster {name} ({cid}) was recorded meanwhile: nothing to adopt.") from None
        raise
    return cid


def _write(service, cluster: Cluster, credential, nodes: list[ClusterNode], rows: list[ClusterResource]) -> None:
    cid = cluster.id
    with service.db.write() as s:
        s.add(cluster)
        s.flush()
        s.add(credential)
        for n in nodes:
            n.cluster_id = cid
            s.add(n)
        for r in rows:
            r.cluster_id = cid
            s.add(r)
        s.add(ClusterEvent(cluster_id=cid, step="adopt", message=(
            f"adopted from the cloud: {len(rows)} resource(s), {len(nodes)} server(s); a new application credential "
            f"{credential.name}; the cluster's own SSH key is not in the cloud, so caas no longer logs in to its "
            "nodes (ready: servers; node changes do not rewrite their /etc/hosts)")))
