"""The create's network steps, through openstacksdk: the cluster's network and subnet, its
router (gateway on the external network, interface on the subnet), its two security groups,
and the head's floating IP; and the choice of the external network. On a network the cluster
was given (``Cluster.given_network``) it makes no network, subnet or router: those steps only
say so, and its ports go on the given network's subnet.

Each resource is recorded before it is asked for, its id noted once the cloud answers, and
tagged as the cluster's after the create (``_make``; ``caas.clusters.marks``). The functions
take the ``Engine`` (its journal) and the operation's ``Work``; the operation table
(``caas.clusters.operations``) runs them as steps.
"""

from __future__ import annotations

from caas.clusters import addresses, marks, readiness
from caas.clusters.cloud import bad_request, cloud_message, not_found
from caas.clusters.models import HEAD_NAME
from caas.clusters.work import StepFailed, Work


# What Neutron answers a project's network create when it may make none of its own: 503 "No
# project network is available for allocation" (no project network types configured), 409
# when the segmentation ranges are used up, 403 when policy forbids it.
NO_PROJECT_NETWORK = (403, 409, 503)


def _make(engine, work: Work, kind: str, name: str, create, node: str | None = None, **extra):
    """Record, then create (``create()`` returns the cloud's object), then note its id, then
    tag it through the tags API (real Neutron takes no tags in these creates: ``marks``)."""
    rid = engine.journal.record(work.id, kind, name, node, **extra)
    obj = create()
    engine.journal.noted(rid, obj.id)
    return marks.tag_after_create(work.conn, obj, work.id)


def external_network(conn) -> str:
    """The id of the cloud's external network the cluster uses: the first by name."""
    nets = list(conn.network.networks(is_router_external=True))
    if not nets:
        raise StepFailed("the cloud has no external network for the cluster's router and floating IP")
    return sorted(nets, key=lambda n: n.name or "")[0].id


def make_network(engine, work: Work, notes: list[str]) -> None:
    """The cluster's network and subnet; on a given network, nothing (its ports go there)."""
    c, conn = work.cluster, work.conn
    if c.given_network:
        work.ids.update(network=c.given_network, subnet=c.given_subnet)
        notes.append(f"none made: the nodes' ports go on the given network {c.given_network} ({c.given_cidr})")
        return
    try:
        net = _make(engine, work, "network", f"{c.name}-net", lambda: conn.network.create_network(
            name=f"{c.name}-net", description=marks.description(c.name, c.id)))
    except Exception as exc:  # noqa: BLE001 - the cloud's words, and what to do about a common refusal
        if getattr(exc, "status_code", None) not in NO_PROJECT_NETWORK:
            raise
        raise StepFailed(f"{cloud_message(exc)} (this cloud may not let the project make a network of its own: "
                         "give the cluster one of the cloud's networks with --network NAME)") from exc
    cidr = c.cidr
    subnet = _make(engine, work, "subnet", f"{c.name}-subnet", lambda: conn.network.create_subnet(
        name=f"{c.name}-subnet", network_id=net.id, ip_version=4, cidr=cidr,
        gateway_ip=addresses.gateway_ip(cidr), allocation_pools=[addresses.pool(cidr)],
        description=marks.description(c.name, c.id)))
    work.ids.update(network=net.id, subnet=subnet.id)
    engine.journal.set(c.id, network_id=net.id)


def external(work: Work) -> str | None:
    """The external network of the cluster's router and floating IP: the one chosen at its
    create (none: on a given network that is not routed), else the cloud's first by name."""
    c = work.cluster
    if "external" not in work.ids and (c.external_network or not c.given_network):
        work.ids["external"] = c.external_network or external_network(work.conn)
    return work.ids.get("external")


def make_router(engine, work: Work, notes: list[str]) -> None:
    """The cluster's router, its gateway on the external network and an interface on its
    subnet; on a given network, none (the network's own routing is used)."""
    c, conn = work.cluster, work.conn
    if c.given_network:
        notes.append("none made: the given network's own routing is used")
        return
    ext = external(work)
    router = _make(engine, work, "router", f"{c.name}-router", lambda: conn.network.create_router(
        name=f"{c.name}-router", external_gateway_info={"network_id": ext},
        description=marks.description(c.name, c.id)))
    rid = engine.journal.record(c.id, "router_interface", f"{c.name}-router", router=router.id)
    conn.network.add_interface_to_router(router, subnet_id=work.ids["subnet"])
    engine.journal.noted(rid, work.ids["subnet"])
    work.ids["router"] = router.id


def make_security_groups(engine, work: Work) -> None:
    c, conn = work.cluster, work.conn
    head = _make(engine, work, "security_group", f"{c.name}-head", lambda: conn.network.create_security_group(
        name=f"{c.name}-head", description=marks.description(c.name, c.id, "SSH to the head")))
    inner = _make(engine, work, "security_group", f"{c.name}-cluster", lambda: conn.network.create_security_group(
        name=f"{c.name}-cluster", description=marks.description(c.name, c.id, "everything inside")))
    conn.network.create_security_group_rule(security_group_id=head.id, direction="ingress", ethertype="IPv4",
                                            protocol="tcp", port_range_min=22, port_range_max=22,
                                            remote_ip_prefix="0.0.0.0/0")
    conn.network.create_security_group_rule(security_group_id=inner.id, direction="ingress", ethertype="IPv4",
                                            remote_group_id=inner.id)
    work.ids.update(sg_head=head.id, sg_cluster=inner.id)


def make_floating_ip(engine, work: Work, notes: list[str]) -> None:
    """The head's floating IP on the external network. None on a given network that is not
    routed to one (the create allowed that only with ready=servers), nor, with ready=servers,
    when the cloud refuses it there (a route the caller could not see at create and that is
    not there: its words are the step's note)."""
    c, conn = work.cluster, work.conn
    ext = external(work)
    if ext is None:
        notes.append(f"none: the given network {c.given_network} is not routed to an external network")
        return
    head = engine.journal.nodes(c.id, [HEAD_NAME])[0]
    rid = engine.journal.record(c.id, "floating_ip", f"{c.name}-head")
    try:
        fip = conn.network.create_ip(floating_network_id=ext, port_id=head.port_id,
                                     description=marks.description(c.name, c.id))
    except Exception as exc:  # noqa: BLE001 - the cloud's refusal: nothing was made
        if not (c.given_network and readiness.choice(c) == readiness.SERVERS and (not_found(exc) or bad_request(exc))):
            raise
        engine.journal.forget(rid)
        notes.append(f"none: the cloud refused one on the given network ({cloud_message(exc)}); ready=servers "
                     "needs none")
        return
    engine.journal.noted(rid, fip.id)
    marks.tag_after_create(conn, fip, c.id)
    address = fip.floating_ip_address
    engine.journal.set(c.id, floating_ip=address)
    work.cluster.floating_ip = address
