"""Block Storage v3's routes as one table (``ROUTES``) of module-level handlers, each path under
``/v3`` and under ``/v3/{project_id}``. Handlers reach the volume service through
``call.services`` (the cloud)."""

from __future__ import annotations

from starlette.responses import Response

from caas import paging
from caas.api.framework import Call, Endpoint, Handler, empty, json_response
from caas.api.novalike import auth
from caas.api import novalike
from caas.api.volume import schemas as S
from caas.api.volume import views as V
from caas.context import AuthContext
from caas.errors import BadRequest, NotFound
from caas.numbers import decimal


def one(call: Call, ctx: AuthContext, v, status: int = 200, extended: bool = True) -> Response:
    return json_response({"volume": V.volume(call, ctx, v, extended)}, status=status)


# ---- discovery -----------------------------------------------------------------------------
def versions(call: Call) -> Response:
    return json_response(V.versions_doc(call), status=300)


def version(call: Call) -> Response:
    return json_response(V.versions_doc(call))


# ---- volumes -------------------------------------------------------------------------------
def _listing(call: Call, detail: bool) -> Response:
    """A volume list (``detail``: full views), with a next link when the page is full."""
    ctx = auth(call)
    found = call.services.volume.list_volumes(ctx, S.list_query(ctx, call.query, call.version))
    items = [V.volume(call, ctx, v) if detail else V.brief(call, v) for v in found]
    body: dict = {"volumes": items}
    limit = decimal(call.query.get("limit", ""), 0)  # a bad one was refused by list_query
    limit = S.MAX_LIMIT if limit is None else min(limit, S.MAX_LIMIT)
    if items and limit <= len(items):
        own, _ = V.prefixes(call)
        collection = "volumes/detail" if detail else "volumes"
        href = paging.href(f"{own}/{collection}", call.query, marker=items[-1]["id"])
        body["volumes_links"] = [{"rel": "next", "href": href}]
    return json_response(body)


def list_volumes(call: Call) -> Response:
    return _listing(call, detail=False)


def list_volumes_detail(call: Call) -> Response:
    return _listing(call, detail=True)


def volume_summary(call: Call) -> Response:
    auth(call)
    # Microversion 3.12's; below it Cinder has no such method.
    raise NotFound("The resource could not be found.")


def create_volume(call: Call) -> Response:
    ctx = auth(call)
    vol = call.services.volume
    body = S.parse(call.body, S.VolumeCreateBody).volume
    S.check_create(body)
    name = S.clean_text(body.name if body.name is not None else body.display_name, "name")
    description = S.clean_text(body.description if body.description is not None else body.display_description,
                               "description")
    # As Cinder: image_id is another name of imageRef (and wins), read before the size.
    image_ref = body.image_id if "image_id" in body.model_fields_set else body.imageRef
    image_id = vol.resolve_image(ctx, image_ref) if image_ref is not None else None
    created = vol.create_volume(ctx, body.size, name=name, description=description, metadata=body.metadata,
                                availability_zone=body.availability_zone, volume_type=body.volume_type,
                                source_volid=body.source_volid, image_id=image_id)
    return one(call, ctx, created, status=202, extended=False)


def show_volume(call: Call) -> Response:
    ctx = auth(call)
    return one(call, ctx, call.services.volume.show_volume(ctx, call.params["id"]))


def update_volume(call: Call) -> Response:
    ctx = auth(call)
    changes = S.update_changes(S.parse(call.body, S.VolumeUpdateBody).volume)
    return one(call, ctx, call.services.volume.update_volume(ctx, call.params["id"], changes), extended=False)


def delete_volume(call: Call) -> Response:
    ctx = auth(call)
    # cascade (no snapshots here) and, from 3.23 only, force: read and checked, as Cinder.
    if "cascade" in call.query:
        S.bool_param(call.query["cascade"], "cascade")
    call.services.volume.delete_volume(ctx, call.params["id"])
    return empty(202)


def volume_action(call: Call) -> Response:
    ctx = auth(call)
    vol = call.services.volume
    body = call.body
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    action, args = next(iter(body.items()))
    volume_id = call.params["id"]
    if action == "os-extend":
        vol.extend_volume(ctx, volume_id, S.parse(args, S.Extend).new_size)
        return empty(202)
    if action == "os-reset_status":
        reset = S.parse(args, S.ResetStatus)
        vol.reset_status(ctx, volume_id, reset.status, reset.attach_status, reset.migration_status)
        return empty(202)
    if action == "os-force_delete":
        vol.delete_volume(ctx, volume_id, force=True)
        return empty(202)
    if action == "os-set_bootable":
        vol.set_bootable(ctx, volume_id, S.parse(args, S.SetBootable).bootable)
        return empty(200)
    raise BadRequest(f"There is no such action: {str(action)[:100]}. Verify the request body and Content-Type "
                     "header and try again.")


# ---- metadata ------------------------------------------------------------------------------
def get_metadata(call: Call) -> Response:
    return json_response({"metadata": call.services.volume.get_metadata(auth(call), call.params["id"])})


def add_metadata(call: Call) -> Response:
    ctx = auth(call)
    body = S.parse(call.body, S.MetadataBody)
    return json_response({"metadata": call.services.volume.update_metadata(ctx, call.params["id"], body.metadata)})


def replace_metadata(call: Call) -> Response:
    ctx = auth(call)
    body = S.parse(call.body, S.MetadataBody)
    found = call.services.volume.update_metadata(ctx, call.params["id"], body.metadata, replace=True)
    return json_response({"metadata": found})


def get_metadata_item(call: Call) -> Response:
    ctx = auth(call)
    key = call.params["key"]
    return json_response({"meta": {key: call.services.volume.get_metadata_item(ctx, call.params["id"], key)}})


def set_metadata_item(call: Call) -> Response:
    ctx = auth(call)
    body = S.parse(call.body, S.MetaItemBody)
    if call.params["key"] not in body.meta:
        raise BadRequest("Request body and URI mismatch")
    call.services.volume.update_metadata(ctx, call.params["id"], body.meta)
    return json_response({"meta": body.meta})


def delete_metadata_item(call: Call) -> Response:
    ctx = auth(call)
    call.services.volume.delete_metadata_item(ctx, call.params["id"], call.params["key"])
    return empty(200)


# ---- volume types and availability zones ---------------------------------------------------
def list_types(call: Call) -> Response:
    ctx = auth(call)
    return json_response({"volume_types": [V.volume_type(ctx, t) for t in call.services.volume.list_types(ctx)]})


def show_type(call: Call) -> Response:
    ctx = auth(call)
    return json_response({"volume_type": V.volume_type(ctx, call.services.volume.show_type(ctx, call.params["id"]))})


def availability_zones(call: Call) -> Response:
    auth(call)
    return json_response({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]})


# ---- quotas and limits ---------------------------------------------------------------------
def show_quota(call: Call) -> Response:
    ctx = auth(call)
    usage = S.bool_param(call.query["usage"], "usage") if "usage" in call.query else False
    return json_response({"quota_set": call.services.volume.show_quota(ctx, S.target(call.params), with_usage=usage)})


def default_quota(call: Call) -> Response:
    ctx = auth(call)
    return json_response({"quota_set": call.services.volume.default_quota(ctx, S.target(call.params))})


def update_quota(call: Call) -> Response:
    ctx = auth(call)
    values = S.quota_values(call.body)
    return json_response({"quota_set": call.services.volume.update_quota(ctx, S.target(call.params), values)})


def reset_quota(call: Call) -> Response:
    ctx = auth(call)
    call.services.volume.reset_quota(ctx, S.target(call.params))
    return empty(200)


def limits(call: Call) -> Response:
    ctx = auth(call)
    return json_response({"limits": {"rate": [], "absolute": call.services.volume.absolute_limits(ctx)}})


def both(method: str, path: str, handler: Handler) -> list[Endpoint]:
    return novalike.both("/v3", method, path, handler)


ROUTES = [
    Endpoint("GET", "/", versions, unversioned=True, inline=True),
    Endpoint("GET", "/v3", version, unversioned=True, inline=True),
    Endpoint("GET", "/v3/", version, unversioned=True, inline=True),
    *both("GET", "/volumes", list_volumes),
    *both("GET", "/volumes/detail", list_volumes_detail),
    *both("GET", "/volumes/summary", volume_summary),
    *both("POST", "/volumes", create_volume),
    *both("GET", "/volumes/{id}", show_volume),
    *both("PUT", "/volumes/{id}", update_volume),
    *both("DELETE", "/volumes/{id}", delete_volume),
    *both("POST", "/volumes/{id}/action", volume_action),
    *both("GET", "/volumes/{id}/metadata", get_metadata),
    *both("POST", "/volumes/{id}/metadata", add_metadata),
    *both("PUT", "/volumes/{id}/metadata", replace_metadata),
    *both("GET", "/volumes/{id}/metadata/{key}", get_metadata_item),
    *both("PUT", "/volumes/{id}/metadata/{key}", set_metadata_item),
    *both("DELETE", "/volumes/{id}/metadata/{key}", delete_metadata_item),
    *both("GET", "/types", list_types),
    *both("GET", "/types/{id}", show_type),
    *both("GET", "/os-availability-zone", availability_zones),
    *both("GET", "/os-quota-sets/{target}", show_quota),
    *both("GET", "/os-quota-sets/{target}/defaults", default_quota),
    *both("PUT", "/os-quota-sets/{target}", update_quota),
    *both("DELETE", "/os-quota-sets/{target}", reset_quota),
    *both("GET", "/limits", limits),
]
