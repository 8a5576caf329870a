"""What a cluster request names, found in the cloud through openstacksdk before anything is
made: the image (by id, name, or ``os_distro``), the flavors (by id or name, with their sizes
as the checks count them), and the user's keypair. Each raises BadRequest, in words the
caller can act on, when there is no such thing.
"""

from __future__ import annotations

import re

from caas.clusters.cloud import bad_request, flavor_id, not_found
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
    """The newest active image whose id or name is ``ref``, else whose ``os_distro`` is
    ``ref`` in any case: (its id, its name). BadRequest when there is none."""
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
        if _UUID.fullmatch(ref):
            found += conn.image.images(id=ref, status="active")
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


def user_key(conn, key_name: str, user_id: str) -> str:
    """The public key of the keypair ``key_name`` of the user ``user_id``, read on ``conn``;
    BadRequest when the user has none such."""
    try:
        kp = conn.compute.get_keypair(key_name, user_id=user_id)
    except Exception as exc:  # noqa: BLE001
        if not_found(exc):
            raise BadRequest(f"You have no keypair {key_name[:80]!r}; import one or leave --key-name out "
                             "to have one generated.") from None
        raise
    return kp.public_key
