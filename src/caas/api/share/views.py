"""Manila's representation of each noun, by microversion (Manila's view builders' versioned
fields, read in its source): shares, export locations, access rules, and the version document.
Links carry the project id when the request's path did."""

from __future__ import annotations

from caas.api.framework import Call
from caas.context import AuthContext
from caas.share.models import Share, ShareAccessRule
from caas.share.service import AVAILABILITY_ZONE, DEFAULT_TYPE, iso

MIN_VERSION = "2.0"
# 2.65 covers what openstacksdk and python-manilaclient ask for (each negotiates down to it):
# share-access-rules (2.45), URLs without the project id (2.60). Later microversions add the
# recycle bin (2.69), backups (2.80), access rule locks (2.82), ...
MAX_VERSION = "2.65"
UPDATED = "2015-08-27T11:33:21Z"


def versions_doc(call: Call) -> dict:
    return {"versions": [{
        "id": "v2.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION, "updated": UPDATED,
        "links": [{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
                  {"rel": "self", "href": call.base_url + "/share/v2/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.share+json;version=1"}],
    }]}


def prefixes(call: Call) -> tuple[str, str]:
    """The self and bookmark prefixes of links: with the project id when the request had it."""
    project = call.params.get("project_id")
    tail = f"/{project}" if project else ""
    root = call.base_url + "/share"
    return f"{root}/v2{tail}", f"{root}{tail}"


def links(call: Call, share_id: str) -> list[dict]:
    own, bookmark = prefixes(call)
    return [{"rel": "self", "href": f"{own}/shares/{share_id}"},
            {"rel": "bookmark", "href": f"{bookmark}/shares/{share_id}"}]


def brief(call: Call, share: Share) -> dict:
    return {"id": share.id, "name": share.name, "links": links(call, share.id)}


def share(call: Call, ctx: AuthContext, sh: Share, export_path: str) -> dict:
    """Manila's detail view at the call's microversion."""
    v = call.version
    out = {
        "id": sh.id, "size": sh.size, "availability_zone": AVAILABILITY_ZONE, "created_at": iso(sh.created_at),
        "status": sh.status, "name": sh.name, "description": sh.description, "project_id": sh.project_id,
        "snapshot_id": None, "share_network_id": None, "share_proto": sh.share_proto, "metadata": sh.metadata_dict,
        "share_type": DEFAULT_TYPE["name"], "volume_type": DEFAULT_TYPE["name"], "links": links(call, sh.id), "is_public": sh.is_public,
    }
    if v < (2, 9):
        path = export_path if sh.status == "available" else None
        out["export_location"] = path
        out["export_locations"] = [path] if path else []
    if v >= (2, 2):
        out["snapshot_support"] = False
    if v >= (2, 5):
        out["task_state"] = None
    if v >= (2, 6):
        out["share_type"] = DEFAULT_TYPE["id"]
        out["share_type_name"] = DEFAULT_TYPE["name"]
    if v >= (2, 10):
        out["access_rules_status"] = "active"
    if v >= (2, 11):
        out["replication_type"] = None
        out["has_replicas"] = False
    if v >= (2, 16):
        out["user_id"] = sh.user_id
    if v >= (2, 24):
        out["create_share_from_snapshot_support"] = False
    if v >= (2, 27):
        out["revert_to_snapshot_support"] = False
    if v >= (2, 31):
        out["share_group_id"] = None
        out["source_share_group_snapshot_member_id"] = None
    if v >= (2, 32):
        out["mount_snapshot_support"] = False
    if v >= (2, 54):
        out["progress"] = "100%" if sh.status == "available" else "0%"
    if ctx.is_admin:
        out["share_server_id"] = None
        out["host"] = sh.host
    return out


def export_location(call: Call, ctx: AuthContext, el: dict, detail: bool) -> dict:
    out = {"id": el["id"], "path": el["path"]}
    if call.version >= (2, 14):
        out["preferred"] = el["preferred"]
    if ctx.is_admin:
        out["share_instance_id"] = el["share_instance_id"]
        out["is_admin_only"] = el["is_admin_only"]
    if detail:
        out["created_at"] = el["created_at"]
        out["updated_at"] = el["updated_at"]
    return out


def access_rule(call: Call, rule: ShareAccessRule, with_share: bool = True) -> dict:
    """Manila's access view (``with_share``: the single view, which names the share)."""
    out = {"id": rule.id}
    if with_share:
        out["share_id"] = rule.share_id
    out.update({"access_level": rule.access_level, "access_to": rule.access_to, "access_type": rule.access_type,
                "state": rule.state})
    v = call.version
    if v >= (2, 21):
        out["access_key"] = None
    if v >= (2, 33):
        out["created_at"] = iso(rule.created_at)
        out["updated_at"] = iso(rule.updated_at)
    if v >= (2, 45):
        out["metadata"] = {}
    return out


def share_type(call: Call, ctx: AuthContext, t: dict) -> dict:
    """Manila's share type view (its ``show``, trimmed): extra specs, visibility by version."""
    out = {"id": t["id"], "name": t["name"], "extra_specs": dict(t["extra_specs"]),
           "required_extra_specs": dict(t["required_extra_specs"])}
    v = call.version
    out["share_type_access:is_public" if v >= (2, 7) else "os-share-type-access:is_public"] = t["is_public"]
    if v >= (2, 41):
        out["description"] = t["description"]
    if v >= (2, 46):
        out["is_default"] = True
    return out
