"""Block Storage v3 (Cinder) over HTTP, mounted at /volume: version discovery, volumes (list,
detail, create, show, update, delete, actions, metadata), the volume type, quota sets, limits
and the availability zone, in Cinder's shapes at microversion 3.0 (the only one served).

Every resource path exists twice, as in Cinder since Yoga: under ``/v3/{project_id}/`` (what the
catalog names) and under ``/v3/``. A ``{project_id}`` other than the token's is 400 "Malformed
request url", as Cinder answers (admins included: they reach other projects' volumes by id and
with ``all_tenants``). Errors are Cinder's faults, ``{"itemNotFound": {"code": 404, "message":
...}}``, keyed by status (``badRequest``, ``forbidden``, ``overLimit``, ...; ``computeFault``
for anything else).
"""

from __future__ import annotations

import ast
from typing import Any, Callable
from urllib.parse import urlencode

from starlette.responses import Response

from caas.api import volume_schemas as S
from caas.api.framework import JSON_TYPE, BodyRules, Call, Handler, Microversions, ServiceAPI, empty, json_response
from caas.errors import BadRequest, CaasError, NotFound
from caas.context import AuthContext
from caas.numbers import INT32_MAX, decimal, parse_int
from caas.volume import policy
from caas.volume.models import Volume
from caas.volume.service import COLUMNS, DEFAULT_TYPE_NAME, VolumeQuery, iso

MIN_VERSION = "3.0"
# 3.0 is everything the clients need (openstacksdk and OSC negotiate down to it); each later
# microversion changes shapes or semantics (3.2 strict boolean filters, 3.4 and 3.10 filters,
# 3.12 the summary, 3.13 group_id in views, ...) that would all have to be honoured.
MAX_VERSION = "3.0"
UPDATED = "2016-02-08T12:20:21Z"
MAX_LIMIT = 1000  # Cinder's osapi_max_limit

FAULTS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
          409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 501: "notImplemented",
          503: "serviceUnavailable"}

# What a non-admin may filter lists on (Cinder's resource_filters.json), and the filters later
# microversions add, dropped (for everybody) below them.
USER_FILTERS = ("name", "status", "metadata", "bootable", "migration_status", "availability_zone", "group_id", "size",
                "created_at", "updated_at", "consumes_quota")
ADDED_FILTERS = (((3, 3), "glance_metadata"), ((3, 9), "group_id"), ((3, 59), "created_at"),
                 ((3, 59), "updated_at"), ((3, 64), "use_quota"))
PAGING = ("marker", "limit", "offset", "sort", "sort_key", "sort_dir")
TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


def cinder_error(exc: CaasError) -> dict:
    name = FAULTS.get(exc.status, "computeFault")
    return {name: {"code": exc.status, "message": exc.message}}


def bool_param(value: Any, name: str) -> bool:
    """Cinder's get_bool_param: oslo's boolean strings, strictly."""
    text = str(value).strip().lower()
    if text in TRUE_STRINGS:
        return True
    if text in FALSE_STRINGS:
        return False
    raise BadRequest(f"Value '{value}' for '{name}' is not a boolean.")


def _literal(value: str) -> Any:
    """Cinder evaluates filter values as Python literals ("1" is 1, "{'k': 'v'}" a dict),
    falling back to the string."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def _coerce(column: str, value: Any) -> tuple[bool, Any]:
    """(ok, value) for an exact-match filter on ``column``; not ok when nothing can match."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_coerce(column, v) for v in value]
        return True, [v for ok, v in items if ok and not isinstance(v, list)]
    if column == "size":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2 ** 31:
            return False, None
        return True, value
    if column in ("created_at", "updated_at"):
        return False, None
    if isinstance(value, (dict, bytes)) or value is None:
        return False, None
    return True, str(value)


def list_query(ctx: AuthContext, params, version) -> VolumeQuery:
    """A volume list's query string, as Cinder reads it (below microversion 3.31: no generic
    filtering): paging and sorting first, then the filters, non-admins' silently cut down to
    the ones they may use."""
    q = VolumeQuery()
    raw = {k: params[k] for k in params.keys()}
    limit = parse_int(raw.pop("limit", str(MAX_LIMIT)), "limit", None, message="limit param must be an integer")
    if limit < 0:
        raise BadRequest("limit param must be positive")
    q.limit = min(limit, MAX_LIMIT)
    q.marker = raw.pop("marker", None)
    q.offset = parse_int(raw.pop("offset", "0"), "offset", None, message="offset must be an integer")
    if not 0 <= q.offset <= INT32_MAX:
        raise BadRequest("offset must be >= 0" if q.offset < 0 else f"offset must be <= {INT32_MAX}")
    q.sort = sort_params(raw)

    for added, name in ADDED_FILTERS:
        if version <= added:
            raw.pop(name, None)
    if not ctx.is_admin:
        raw = {k: v for k, v in raw.items() if k in USER_FILTERS}
    q.all_tenants = bool_param(raw.pop("all_tenants"), "all_tenants") if "all_tenants" in raw else False
    if "name" in raw:
        raw["display_name"] = raw.pop("name")
    for key, value in raw.items():
        if key == "display_name":
            q.filters[key] = value  # names are taken as they are, never evaluated
        elif key == "bootable":
            # Before 3.2, anything but False/false/FALSE means true.
            q.filters[key] = value not in ("False", "false", "FALSE")
        elif key == "metadata":
            meta = _literal(value)
            if not isinstance(meta, dict) or not all(isinstance(v, (str, int, float)) for v in meta.values()):
                q.impossible = True
                continue
            q.metadata = {str(k): str(v) for k, v in meta.items()}
        elif key in COLUMNS:
            ok, coerced = _coerce(key, _literal(value))
            if ok:
                q.filters[key] = coerced
            else:
                q.impossible = True
        else:
            q.impossible = True  # Cinder filters on the column, and there is no such column
    return q


def sort_params(raw: dict) -> list[tuple[str, str]]:
    """``sort=key:dir,...`` or ``sort_key``/``sort_dir`` (not both), checked against the
    columns; Cinder's tie-breakers come later."""
    if "sort" in raw and ("sort_key" in raw or "sort_dir" in raw):
        raise BadRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the "
                         "'sort' parameter.")
    pairs = []
    if "sort" in raw:
        for item in raw.pop("sort").strip().split(","):
            key, _, direction = item.partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        pairs.append((raw.pop("sort_key", "created_at").strip(), raw.pop("sort_dir", "desc").strip()))
    out = []
    for key, direction in pairs:
        key = "display_name" if key == "name" else key
        if direction not in ("asc", "desc"):
            raise BadRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'.")
        if key not in COLUMNS:
            raise BadRequest("Invalid input received: Invalid sort key")
        out.append((key, direction))
    keys = [k for k, _ in out]
    for default in ("created_at", "id"):
        if default not in keys:
            out.append((default, out[0][1]))
    return out


def build(cloud) -> ServiceAPI:
    vol = cloud.volume
    api = ServiceAPI("volume", cinder_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate,
                     microversions=Microversions(service="volume", minimum=MIN_VERSION, maximum=MAX_VERSION,
                                                 legacy_header=None),
                     # Cinder's types (others 415); a body sent without a type is ignored
                     body_rules=BodyRules(types=(JSON_TYPE, "application/vnd.openstack.volume+json"),
                                          refusal="Unsupported Content-Type", untyped=False))

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        """Register ``path`` under /v3 and under /v3/{project_id} (the project-less one first,
        so that a collection name is never taken for a project id)."""
        def register(fn: Handler) -> Handler:
            api.route(method, "/v3" + path)(fn)
            api.route(method, "/v3/{project_id}" + path)(fn)
            return fn
        return register

    def auth(call: Call) -> AuthContext:
        ctx = call.project_auth()
        project_id = call.params.get("project_id")
        if project_id is not None and project_id != ctx.project_id:
            raise BadRequest("Malformed request url")
        return ctx

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

    def view(call: Call, ctx: AuthContext, v: Volume, extended: bool = True) -> dict:
        """Cinder's detail view; ``extended`` adds what the os-vol-* extensions add to show
        and detail (not to create and update responses)."""
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

    def one(call: Call, ctx: AuthContext, v: Volume, status: int = 200, extended: bool = True) -> Response:
        return json_response({"volume": view(call, ctx, v, extended)}, status=status)

    def type_view(ctx: AuthContext, t: dict) -> dict:
        out = {"id": t["id"], "name": t["name"], "is_public": t["is_public"], "description": t["description"],
               "extra_specs": dict(t["extra_specs"]), "os-volume-type-access:is_public": t["is_public"]}
        if ctx.is_admin:
            out["qos_specs_id"] = t["qos_specs_id"]
        return out

    # ---- discovery -----------------------------------------------------------------------
    def versions_doc(call: Call) -> dict:
        return {"versions": [{
            "id": "v3.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
            "updated": UPDATED,
            "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": call.base_url + "/volume/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}],
        }]}

    @api.route("GET", "/", unversioned=True, inline=True)
    def versions(call: Call) -> Response:
        return json_response(versions_doc(call), status=300)

    @api.route("GET", "/v3", unversioned=True, inline=True)
    def version(call: Call) -> Response:
        return json_response(versions_doc(call))

    api.route("GET", "/v3/", unversioned=True, inline=True)(version)

    # ---- volumes -------------------------------------------------------------------------
    def listing(call: Call, detail: bool) -> Response:
        ctx = auth(call)
        found = vol.list_volumes(ctx, list_query(ctx, call.query, call.version))
        collection = "volumes/detail" if detail else "volumes"
        items = [view(call, ctx, v) if detail else {"id": v.id, "name": v.name, "links": links(call, v.id)}
                 for v in found]
        body: dict = {"volumes": items}
        limit = decimal(call.query.get("limit", ""), 0)  # a bad one was refused by list_query
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        if items and limit <= len(items):
            params = {k: call.query[k] for k in call.query.keys()}
            params["marker"] = items[-1]["id"]
            own, _ = prefixes(call)
            body["volumes_links"] = [{"rel": "next", "href": f"{own}/{collection}?{urlencode(params)}"}]
        return json_response(body)

    @route("GET", "/volumes")
    def list_volumes(call: Call) -> Response:
        return listing(call, detail=False)

    @route("GET", "/volumes/detail")
    def list_volumes_detail(call: Call) -> Response:
        return listing(call, detail=True)

    @route("GET", "/volumes/summary")
    def volume_summary(call: Call) -> Response:
        auth(call)
        # Microversion 3.12's; below it Cinder has no such method.
        raise NotFound("The resource could not be found.")

    @route("POST", "/volumes")
    def create_volume(call: Call) -> Response:
        ctx = auth(call)
        body = S.parse(call.body, S.VolumeCreateBody).volume
        for field, what in (("snapshot_id", "a snapshot"), ("backup_id", "a backup"),
                            ("consistencygroup_id", "a consistency group"), ("group_id", "a group")):
            if getattr(body, field):
                raise BadRequest(f"Invalid input received: creating a volume from {what} ({field}) is not supported "
                                 "by this cloud; create an empty volume, or one from an image or another volume.")
        if body.multiattach:
            raise BadRequest("multiattach parameter has been removed. The default behavior is to use multiattach "
                             "enabled volume types. Contact your administrator to create a multiattach enabled "
                             "volume type and use it to create multiattach volumes.")
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

    @route("GET", "/volumes/{id}")
    def show_volume(call: Call) -> Response:
        ctx = auth(call)
        return one(call, ctx, vol.show_volume(ctx, call.params["id"]))

    @route("PUT", "/volumes/{id}")
    def update_volume(call: Call) -> Response:
        ctx = auth(call)
        body = S.parse(call.body, S.VolumeUpdateBody).volume
        changes: dict = {}
        for field, alias in (("name", "display_name"), ("description", "display_description")):
            value = getattr(body, field) if field in body.model_fields_set else getattr(body, alias)
            if field in body.model_fields_set or alias in body.model_fields_set:
                changes[field] = S.clean_text(value, field)
        if "metadata" in body.model_fields_set:
            if body.metadata is None:
                raise BadRequest("Invalid input for field/attribute metadata. Value: None. None is not of type "
                                 "'object'")
            changes["metadata"] = body.metadata
        return one(call, ctx, vol.update_volume(ctx, call.params["id"], changes), extended=False)

    @route("DELETE", "/volumes/{id}")
    def delete_volume(call: Call) -> Response:
        ctx = auth(call)
        # cascade (no snapshots here) and, from 3.23 only, force: read and checked, as Cinder.
        if "cascade" in call.query:
            bool_param(call.query["cascade"], "cascade")
        vol.delete_volume(ctx, call.params["id"])
        return empty(202)

    @route("POST", "/volumes/{id}/action")
    def volume_action(call: Call) -> Response:
        ctx = auth(call)
        body = call.body
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Malformed request body")
        action, args = next(iter(body.items()))
        volume_id = call.params["id"]
        if action == "os-extend":
            extend = S.parse(args, S.Extend)
            vol.extend_volume(ctx, volume_id, extend.new_size)
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

    # ---- metadata ------------------------------------------------------------------------
    @route("GET", "/volumes/{id}/metadata")
    def get_metadata(call: Call) -> Response:
        ctx = auth(call)
        return json_response({"metadata": vol.get_metadata(ctx, call.params["id"])})

    @route("POST", "/volumes/{id}/metadata")
    def add_metadata(call: Call) -> Response:
        ctx = auth(call)
        body = S.parse(call.body, S.MetadataBody)
        return json_response({"metadata": vol.update_metadata(ctx, call.params["id"], body.metadata)})

    @route("PUT", "/volumes/{id}/metadata")
    def replace_metadata(call: Call) -> Response:
        ctx = auth(call)
        body = S.parse(call.body, S.MetadataBody)
        return json_response({"metadata": vol.update_metadata(ctx, call.params["id"], body.metadata, replace=True)})

    @route("GET", "/volumes/{id}/metadata/{key}")
    def get_metadata_item(call: Call) -> Response:
        ctx = auth(call)
        key = call.params["key"]
        return json_response({"meta": {key: vol.get_metadata_item(ctx, call.params["id"], key)}})

    @route("PUT", "/volumes/{id}/metadata/{key}")
    def set_metadata_item(call: Call) -> Response:
        ctx = auth(call)
        body = S.parse(call.body, S.MetaItemBody)
        key = call.params["key"]
        if key not in body.meta:
            raise BadRequest("Request body and URI mismatch")
        vol.update_metadata(ctx, call.params["id"], body.meta)
        return json_response({"meta": body.meta})

    @route("DELETE", "/volumes/{id}/metadata/{key}")
    def delete_metadata_item(call: Call) -> Response:
        ctx = auth(call)
        vol.delete_metadata_item(ctx, call.params["id"], call.params["key"])
        return empty(200)

    # ---- volume types and availability zones --------------------------------------------
    @route("GET", "/types")
    def list_types(call: Call) -> Response:
        ctx = auth(call)
        return json_response({"volume_types": [type_view(ctx, t) for t in vol.list_types(ctx)]})

    @route("GET", "/types/{id}")
    def show_type(call: Call) -> Response:
        ctx = auth(call)
        return json_response({"volume_type": type_view(ctx, vol.show_type(ctx, call.params["id"]))})

    @route("GET", "/os-availability-zone")
    def availability_zones(call: Call) -> Response:
        auth(call)
        return json_response({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]})

    # ---- quotas and limits ---------------------------------------------------------------
    def target(call: Call) -> str:
        project_id = call.params["target"]
        if not 1 <= len(project_id) <= 255:
            raise BadRequest("Invalid input received: the project id must have 1 to 255 characters.")
        return project_id

    @route("GET", "/os-quota-sets/{target}")
    def show_quota(call: Call) -> Response:
        ctx = auth(call)
        usage = bool_param(call.query["usage"], "usage") if "usage" in call.query else False
        return json_response({"quota_set": vol.show_quota(ctx, target(call), with_usage=usage)})

    @route("GET", "/os-quota-sets/{target}/defaults")
    def default_quota(call: Call) -> Response:
        ctx = auth(call)
        return json_response({"quota_set": vol.default_quota(ctx, target(call))})

    @route("PUT", "/os-quota-sets/{target}")
    def update_quota(call: Call) -> Response:
        ctx = auth(call)
        body = call.body
        if not isinstance(body, dict) or set(body) != {"quota_set"}:
            raise BadRequest("'quota_set' is a required property" if not isinstance(body, dict)
                             or "quota_set" not in body else "Additional properties are not allowed")
        values = body["quota_set"]
        if not isinstance(values, dict) or not values:
            raise BadRequest("Invalid input for field/attribute quota_set. Value: "
                             f"{str(values)[:200]}. It must be an object with at least 1 property")
        return json_response({"quota_set": vol.update_quota(ctx, target(call), values)})

    @route("DELETE", "/os-quota-sets/{target}")
    def reset_quota(call: Call) -> Response:
        ctx = auth(call)
        vol.reset_quota(ctx, target(call))
        return empty(200)

    @route("GET", "/limits")
    def limits(call: Call) -> Response:
        ctx = auth(call)
        return json_response({"limits": {"rate": [], "absolute": vol.absolute_limits(ctx)}})

    return api
