"""What a cluster request names, found in the cloud through openstacksdk before anything is
made: the image (by id, name, or ``os_distro``), the flavors (by id or name, with their sizes
as the checks count them), the user's keypair, and where the nodes go (``placement``: the
network given with --network, the external network). Each raises BadRequest, in words the
caller can act on, when there is no such thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caas.clusters.cloud import bad_request, flavor_id, not_found
from caas.clusters.marks import tag
from caas.compute.scheduler import disk_gb
from caas.errors import BadRequest

_UUID = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")  # an image id, as Glance writes it

# The flavors the seed documents' operator creates for clusters, as `openstack flavor create`
# options: the missing-flavor message shows how to make them.
SEED_FLAVORS = {"m1.xsmall": "--vcpus 1 --ram 1024 --disk 10 --ephemeral 10 --public"}


def missing_flavor(ref: str, available: list[str], default: bool) -> str:
    """What to do when there is no flavor ``ref``: the flavors the caller may name instead (the
    ``--flavor NAME`` of the CLIs, ``node_flavor``/``head_flavor``/``flavor`` in the API), in the
    order given, at most 12; for the service's default (``CAAS_CLUSTER_FLAVOR``), also that it
    is the default and, for a seed flavor, the command that creates it."""
    name = ref[:80]
    text = f"No flavor {name!r}" + (" (the default for clusters, CAAS_CLUSTER_FLAVOR)" if default else "") + ". "
    if available:
        shown = ", ".join(available[:12]) + (f" and {len(available) - 12} more" if len(available) > 12 else "")
        text += f"Choose one of this cloud's flavors with --flavor NAME: {shown}."
    else:
        text += "This cloud has no flavor you may use."
    if default and name in SEED_FLAVORS:
        text += (f" Or have an admin create it, as the seed does: openstack flavor create {SEED_FLAVORS[name]} "
                 f"{name}.")
    return text


def image(conn, ref: str) -> tuple[str, str]:
    """The active image whose id is ``ref`` (read directly, as openstacksdk's ``get_image``
    does: a community or shared image the listing leaves out is found too), else the newest
    active one named ``ref``, else whose ``os_distro`` is ``ref`` in any case: (its id, its
    name). BadRequest when there is none."""
    direct = _image_by_id(conn, ref)
    if direct is not None:
        return direct.id, direct.name
    named = _images_named(conn, ref)
    everything = None
    if named is None:  # the image service could not filter by it: every image, once
        named = everything = _active_images(conn)
    match = [i for i in named if ref in (i.id, i.name)]
    if not match:
        everything = _active_images(conn) if everything is None else everything
        match = [i for i in everything if str((i.properties or {}).get("os_distro") or
                                              getattr(i, "os_distro", "") or "").lower() == ref.lower()]
    if not match:
        raise BadRequest(f"No active image named {ref[:80]!r} or with os_distro {ref[:80]!r}.")
    found = sorted(match, key=lambda i: i.created_at or "", reverse=True)[0]
    return found.id, found.name


def _image_by_id(conn, ref: str):
    """The active image whose id is ``ref``, if the caller may read it (else None)."""
    if not _UUID.fullmatch(ref):
        return None
    try:
        found = conn.image.get_image(ref)
    except Exception as exc:  # noqa: BLE001 - not there, or not the caller's to read
        if not_found(exc) or bad_request(exc):
            return None
        raise
    return found if found.status == "active" else None


def _active_images(conn) -> list:
    """Every active image the caller lists."""
    return [i for i in conn.image.images(status="active") if i.status == "active"]


def _images_named(conn, ref: str) -> list | None:
    """The active images the caller lists whose name or id may be ``ref``, as the image
    service filters them (a cloud holds many images); None when it cannot: ``ref`` holds a
    colon, which its filters read as an operator (``in:``, ``eq:``), or it refuses the
    filter (400)."""
    if ":" in ref:
        return None
    try:
        found = list(conn.image.images(name=ref, status="active"))
    except Exception as exc:  # noqa: BLE001 - only the service's 400 means "cannot filter"
        if not bad_request(exc):
            raise
        return None
    return [i for i in found if i.status == "active"]


def flavor(conn, ref: str, default: bool) -> dict:
    """The flavor ``ref`` (name or id) as the checks count it; BadRequest saying which
    flavors the caller may choose instead when there is none such (``missing_flavor``;
    ``default``: ``ref`` is the service's default flavor)."""
    found = flavor_id(conn, ref)
    f = conn.compute.get_flavor(found) if found is not None else None
    if f is None:
        raise BadRequest(missing_flavor(ref, [fl.name for fl in sorted(conn.compute.flavors(),
                                                                       key=lambda fl: (fl.ram, fl.name))],
                                        default=default))
    return {"name": f.name, "vcpus": f.vcpus, "ram": f.ram,
            "disk": disk_gb(f.disk or 0, f.ephemeral or 0, int(f.swap or 0))}  # as the scheduler counts it


def user_key(conn, key_name: str) -> str:
    """The public key of the keypair ``key_name`` of the user whose connection ``conn`` is
    (its own token, or the cluster's application credential: the same user), as
    openstacksdk's ``get_keypair`` reads it; BadRequest when the user has none such."""
    try:
        kp = conn.compute.get_keypair(key_name)
    except Exception as exc:  # noqa: BLE001
        if not_found(exc):
            raise BadRequest(f"You have no keypair {key_name[:80]!r}; import one or leave --key-name out "
                             "to have one generated.") from None
        raise
    return kp.public_key


# ---- networks -----------------------------------------------------------------------------
CLUSTER_TAG = tag("")  # the prefix of every cluster's tag
ROUTER_INTERFACES = ("network:router_interface", "network:router_interface_distributed",
                     "network:ha_router_replicated_interface")


@dataclass(frozen=True)
class Placement:
    """Where a cluster's nodes go, as chosen at create: the given network (None: the cluster
    makes its own) and its subnet, and the external network of the router's gateway and the
    floating IP (None: no floating IP, on a given network that is not routed)."""

    network: dict | None  # {"id", "name", "subnet_id", "cidr"}
    external: dict | None  # {"id", "name"}
    routing: str = ""  # on a given network: what the caller could see of its routing

    def view(self) -> dict:
        return {"network": {**self.network, "given": True} if self.network else None,
                "external_network": self.external, "routing": self.routing or None}


def _network(conn, ref: str, project_id: str, what: str):
    """The network ``ref`` (id or name) the caller may use: its own, a shared one, or an
    external one. Another project's network that is not shared is refused as if it did not
    exist (its existence is not the caller's to know)."""
    found = {n.id: n for n in conn.network.networks(name=ref)}
    if _UUID.fullmatch(ref):
        found.update({n.id: n for n in conn.network.networks(id=ref) if n.id == ref})
    usable = [n for n in found.values() if n.project_id == project_id or n.is_shared or n.is_router_external]
    if not usable:
        raise BadRequest(f"No {what} {ref[:80]!r}: give the name or id of a network you can see "
                         "(openstack network list).")
    byid = [n for n in usable if n.id == ref]
    if byid:
        return byid[0]
    if len(usable) > 1:
        raise BadRequest(f"More than one network is named {ref[:80]!r}: give the {what}'s id.")
    return usable[0]


def _ext(n) -> dict:
    return {"id": n.id, "name": n.name or n.id}


def _first_external(conn) -> dict | None:
    nets = sorted(conn.network.networks(is_router_external=True), key=lambda n: n.name or "")
    return _ext(nets[0]) if nets else None


def _routers(conn, net, subnet, project_id: str) -> tuple[bool, dict[str, str]]:
    """What the caller can see of the routing of ``subnet``: whether it sees all of it, and the
    external networks (id: name) the routers it sees on the subnet have their gateway on. It
    sees every port of a network of its own, but not a router of another project (an admin's
    on its network), nor the ports of a shared network of another project."""
    complete, gateways = net.project_id == project_id, {}
    for port in conn.network.ports(network_id=net.id):
        if port.device_owner not in ROUTER_INTERFACES or \
                not any(ip.get("subnet_id") == subnet.id for ip in port.fixed_ips or []):
            continue
        try:
            router = conn.network.get_router(port.device_id)
        except Exception as exc:  # noqa: BLE001 - a router the caller may not read
            if not not_found(exc):
                raise
            complete = False
            continue
        gateway = (router.external_gateway_info or {}).get("network_id")
        if gateway:
            gateways[gateway] = gateway
    for gid in list(gateways):
        try:
            gateways[gid] = conn.network.get_network(gid).name or gid
        except Exception as exc:  # noqa: BLE001
            if not not_found(exc):
                raise
    return complete, gateways


def placement(conn, project_id: str, network: str | None, external: str | None, ready_ssh: bool) -> Placement:
    """Where the cluster's nodes go (``Placement``), checked before anything exists: the
    network ``network`` (given: one the caller may use, not external, with an IPv4 subnet) and
    the external network ``external`` (given: an external one; else the one the given
    network's visible router reaches, else the cloud's first by name). BadRequest for each
    refusal; also when a given network is not routed to an external network and the head
    needs a floating IP (``ready_ssh``: caas reaches the head through it)."""
    ext = _network(conn, external, project_id, "external network") if external else None
    if ext is not None and not ext.is_router_external:
        raise BadRequest(f"Network {external[:80]!r} is not an external network: --external-network names one "
                         "whose router:external is true (openstack network list --external).")
    if network is None:
        chosen = _ext(ext) if ext is not None else _first_external(conn)
        if chosen is None:
            raise BadRequest("The cloud has no external network for the cluster's router and floating IP; give "
                             "--network NAME, a network the cloud provides, with --ready servers.")
        return Placement(None, chosen)
    net = _network(conn, network, project_id, "network")
    if net.is_router_external:
        raise BadRequest(f"Network {network[:80]!r} is an external network: give it as --external-network, and as "
                         "--network a network whose ports the cluster's servers can have.")
    if any(str(tag).startswith(CLUSTER_TAG) for tag in net.tags or []):
        # its cluster's delete would fail on the ports of this one (and the reverse)
        raise BadRequest(f"Network {network[:80]!r} is a cluster's own network: give a network the cloud provides.")
    subnets = sorted((s for s in conn.network.subnets(network_id=net.id) if s.ip_version == 4),
                     key=lambda s: (s.created_at or "", s.id))
    if not subnets:
        raise BadRequest(f"Network {network[:80]!r} has no IPv4 subnet: the cluster's servers need addresses on "
                         "it.")
    subnet = subnets[0]
    given = {"id": net.id, "name": net.name or net.id, "subnet_id": subnet.id, "cidr": subnet.cidr}
    complete, gateways = _routers(conn, net, subnet, project_id) if subnet.gateway_ip else (True, {})
    if gateways:
        if ext is not None and ext.id not in gateways:
            raise BadRequest(f"Network {network[:80]!r} is not routed to external network {external[:80]!r}: its "
                             f"router's gateway is on {', '.join(sorted(gateways.values()))}.")
        chosen = _ext(ext) if ext is not None else \
            sorted(({"id": k, "name": v} for k, v in gateways.items()), key=lambda e: e["name"])[0]
        return Placement(given, chosen, "a router of the subnet has its gateway on the external network")
    chosen = _ext(ext) if ext is not None else _first_external(conn)
    if not complete and chosen is not None:
        # an admin's router, say: only the floating IP's create can tell
        return Placement(given, chosen, "not visible to you: the floating IP's create checks it")
    if ext is not None or ready_ssh:
        why = ("its subnet has no gateway" if not subnet.gateway_ip else "the cloud has no external network"
               if chosen is None else "no router of its subnet has a gateway")
        raise BadRequest(f"Network {network[:80]!r} is not routed to an external network ({why}), so the head "
                         "can have no floating IP"
                         + (f" on {external[:80]!r}." if ext is not None else
                            ", through which caas reaches it over SSH: give --ready servers (no floating IP), or a "
                            "network whose subnet has a router with an external gateway."))
    return Placement(given, None, "not routed to an external network: no floating IP")
