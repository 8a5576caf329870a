"""Cinder's representation of each noun at microversion 3.0: volumes (with the os-vol-*
extension attributes the caller's policy allows), volume types, and the version document.
Links carry the project id when the request's path did."""

from __future__ import annotations

from caas.api.framework import Call
from caas.context import AuthContext
from caas.volume import policy
from caas.volume.models import Volume
from caas.volume.service import DEFAULT_TYPE_NAME, iso

MIN_VERSION = "3.0"
# 3.0 is everything the clients need (openstacksdk and OSC negotiate down to it); each later
# microversion changes shapes or semantics (3.2 strict boolean filters, 3.4 and 3.10 filters,
# 3.12 the summary, 3.13 group_id in views, ...) that would all have to be honoured.
MAX_VERSION = "3.0"
UPDATED = "2016-02-08T12:20:21Z"


def versions_doc(call: Call) -> dict:
    return {"versions": [{
        "id": "v3.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
        "updated": UPDATED,
        "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                  {"rel": "self", "href": call.base_url + "/volume/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }]}


def prefixes(call: Call) -> tuple[str, str]:
    """The self and bookmark prefixes of links: with the project id when the request had it."""
    project = call.params.get("project_id")
    tail = f"/{project}" if project else ""
    root = call.base_url + "/volume"
    return f"{root}/v3{tail}", f"{root}{tail}"


def links(call: Call, volume_id: str) -> list[dict]:
    own, bookmark = prefixes(call)
    return [{"rel": "self", "href": f"{own}/volumes/{volume_id}"},
            {"rel": "bookmark", "href": f"{bookmark}/volumes/{volume_id}"}]


def brief(call: Call, v: Volume) -> dict:
    return {"id": v.id, "name": v.name, "links": links(call, v.id)}


def volume(call: Call, ctx: AuthContext, v: Volume, extended: bool = True) -> dict:
    """Cinder's detail view; ``extended`` adds what the os-vol-* extensions add to show and
    detail (not to create and update responses)."""
    out = {
        "id": v.id, "status": v.status, "size": v.size, "availability_zone": v.availability_zone,
        "created_at": iso(v.created_at), "updated_at": iso(v.updated_at), "name": v.name,
        "description": v.description, "volume_type": DEFAULT_TYPE_NAME, "snapshot_id": None,
        "source_volid": v.source_volid, "metadata": v.metadata_dict, "links": links(call, v.id),
        "user_id": v.user_id, "bootable": "true" if v.bootable else "false", "encrypted": False,
        "replication_status": "disabled", "consistencygroup_id": None, "multiattach": False,
        "attachments": [{"id": a.volume_id, "attachment_id": a.id, "volume_id": a.volume_id,
                         "server_id": a.server_id, "host_name": a.host if ctx.is_admin else None,
                         "device": a.device, "attached_at": iso(a.attached_at)} for a in v.attachments],
    }
    if ctx.is_admin:
        out["migration_status"] = v.migration_status
    if extended:
        out.update(_extensions(ctx, v))
    return out


def _extensions(ctx: AuthContext, v: Volume) -> dict:
    """What the os-vol-* extensions the caller's policy allows add to a volume."""
    out = {}
    target = {"project_id": v.project_id}
    if policy.allowed(ctx, "volume_extension:volume_tenant_attribute", target):
        out["os-vol-tenant-attr:tenant_id"] = v.project_id
    if policy.allowed(ctx, "volume_extension:volume_host_attribute", target):
        out["os-vol-host-attr:host"] = v.host
    if policy.allowed(ctx, "volume_extension:volume_mig_status_attribute", target):
        out["os-vol-mig-status-attr:migstat"] = v.migration_status
        out["os-vol-mig-status-attr:name_id"] = None
    image_meta = v.image_metadata_dict
    if image_meta and policy.allowed(ctx, "volume_extension:volume_image_metadata:show", target):
        out["volume_image_metadata"] = image_meta
    return out


def volume_type(ctx: AuthContext, t: dict) -> dict:
    out = {"id": t["id"], "name": t["name"], "is_public": t["is_public"], "description": t["description"],
           "extra_specs": dict(t["extra_specs"]), "os-volume-type-access:is_public": t["is_public"]}
    if ctx.is_admin:
        out["qos_specs_id"] = t["qos_specs_id"]
    return out
