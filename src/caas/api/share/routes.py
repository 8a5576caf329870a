"""Shared File Systems v2's routes as one table (``ROUTES``) of module-level handlers, each path
under ``/v2`` and under ``/v2/{project_id}``. Handlers reach the share service through
``call.services`` (the cloud). Routes and actions that Manila serves only from (or up to) some
microversion answer 404 outside it, as Manila does."""

from __future__ import annotations

from starlette.responses import Response

from caas import paging
from caas.api import novalike
from caas.api.framework import Call, Endpoint, Handler, empty, json_response
from caas.api.novalike import auth
from caas.api.share import schemas as S
from caas.api.share import views as V
from caas.context import AuthContext
from caas.errors import BadRequest, NotFound


def since(call: Call, low: tuple[int, int], high: tuple[int, int] | None = None) -> None:
    """404 unless the call's microversion is within ``low``..``high``."""
    if call.version < low or (high is not None and call.version > high):
        raise NotFound("The resource could not be found.")


def one(call: Call, ctx: AuthContext, share, status: int = 200) -> Response:
    path = call.services.share.export_path(share.id)
    return json_response({"share": V.share(call, ctx, share, path)}, status=status)


# ---- discovery -----------------------------------------------------------------------------
def versions(call: Call) -> Response:
    return json_response(V.versions_doc(call), status=300)


def version(call: Call) -> Response:
    return json_response(V.versions_doc(call))


# ---- shares --------------------------------------------------------------------------------
def _listing(call: Call, detail: bool) -> Response:
    ctx = auth(call)
    svc = call.services.share
    q = S.list_query(call.query)
    found = svc.list_shares(ctx, q)
    items = [V.share(call, ctx, s, svc.export_path(s.id)) if detail else V.brief(call, s) for s in found]
    body: dict = {"shares": items}
    if items and len(items) >= q.limit:
        own, _ = V.prefixes(call)
        href = paging.href(f"{own}/shares{'/detail' if detail else ''}", call.query, drop=("offset",),
                           extra=[("offset", str(q.offset + len(items)))])
        body["shares_links"] = [{"rel": "next", "href": href}]
    return json_response(body)


def list_shares(call: Call) -> Response:
    return _listing(call, detail=False)


def list_shares_detail(call: Call) -> Response:
    return _listing(call, detail=True)


def create_share(call: Call) -> Response:
    ctx = auth(call)
    args = S.create(call.body)
    return one(call, ctx, call.services.share.create_share(ctx, **args))


def show_share(call: Call) -> Response:
    ctx = auth(call)
    return one(call, ctx, call.services.share.show_share(ctx, call.params["id"]))


def update_share(call: Call) -> Response:
    ctx = auth(call)
    changes = S.update(call.body)
    return one(call, ctx, call.services.share.update_share(ctx, call.params["id"], changes))


def delete_share(call: Call) -> Response:
    ctx = auth(call)
    call.services.share.delete_share(ctx, call.params["id"])
    return empty(202)


# ---- actions -------------------------------------------------------------------------------
def _allow(call: Call, ctx: AuthContext, share_id: str, args) -> Response:
    access_type, access_to, level = S.access(args)
    rule = call.services.share.allow_access(ctx, share_id, access_type, access_to, level,
                                            allow_ipv6=call.version >= (2, 38))
    return json_response({"access": V.access_rule(call, rule)})


def _deny(call: Call, ctx: AuthContext, share_id: str, args) -> Response:
    call.services.share.deny_access(ctx, share_id, S.access_id(args))
    return empty(202)


def _access_list(call: Call, ctx: AuthContext, share_id: str, args) -> Response:
    rules = call.services.share.access_rules(ctx, share_id)
    return json_response({"access_list": [V.access_rule(call, r, with_share=False) for r in rules]})


def _reset_task_state(call: Call, ctx: AuthContext, share_id: str, args) -> Response:
    if not isinstance(args, dict) or "task_state" not in args:
        raise BadRequest("Invalid input received: 'task_state' is a required property.")
    call.services.share.reset_task_state(ctx, share_id, args["task_state"])
    return empty(202)


# name -> (handler, lowest microversion, highest microversion or None)
ACTIONS = {
    "os-allow_access": (_allow, (2, 0), (2, 6)),
    "allow_access": (_allow, (2, 7), None),
    "os-deny_access": (_deny, (2, 0), (2, 6)),
    "deny_access": (_deny, (2, 7), None),
    "os-access_list": (_access_list, (2, 0), (2, 6)),
    "access_list": (_access_list, (2, 7), (2, 44)),
    "reset_task_state": (_reset_task_state, (2, 22), None),
}


def share_action(call: Call) -> Response:
    ctx = auth(call)
    name, args = S.action_args(call.body)
    if name not in ACTIONS:
        raise BadRequest(f"There is no such action: {str(name)[:100]}")
    handler, low, high = ACTIONS[name]
    since(call, low, high)
    return handler(call, ctx, call.params["id"], args)


# ---- metadata ------------------------------------------------------------------------------
def get_metadata(call: Call) -> Response:
    return json_response({"metadata": call.services.share.get_metadata(auth(call), call.params["id"])})


def add_metadata(call: Call) -> Response:
    ctx = auth(call)
    found = call.services.share.update_metadata(ctx, call.params["id"], S.metadata_body(call.body))
    return json_response({"metadata": found})


def replace_metadata(call: Call) -> Response:
    ctx = auth(call)
    found = call.services.share.update_metadata(ctx, call.params["id"], S.metadata_body(call.body), replace=True)
    return json_response({"metadata": found})


def get_metadata_item(call: Call) -> Response:
    ctx = auth(call)
    key = call.params["key"]
    return json_response({"meta": {key: call.services.share.get_metadata_item(ctx, call.params["id"], key)}})


def set_metadata_item(call: Call) -> Response:
    ctx = auth(call)
    meta = S.metadata_body(call.body, "meta")
    if call.params["key"] not in meta or len(meta) != 1:
        raise BadRequest("Request body and URI mismatch")
    call.services.share.update_metadata(ctx, call.params["id"], meta)
    return json_response({"meta": meta})


def delete_metadata_item(call: Call) -> Response:
    ctx = auth(call)
    call.services.share.delete_metadata_item(ctx, call.params["id"], call.params["key"])
    return empty(200)


# ---- export locations ----------------------------------------------------------------------
def list_export_locations(call: Call) -> Response:
    ctx = auth(call)
    since(call, (2, 9))
    found = call.services.share.export_locations(ctx, call.params["id"])
    return json_response({"export_locations": [V.export_location(call, ctx, e, detail=False) for e in found]})


def show_export_location(call: Call) -> Response:
    ctx = auth(call)
    since(call, (2, 9))
    found = call.services.share.export_location(ctx, call.params["id"], call.params["el_id"])
    return json_response({"export_location": V.export_location(call, ctx, found, detail=True)})


# ---- the share type ------------------------------------------------------------------------
def list_types(call: Call) -> Response:
    ctx = auth(call)
    types = [V.share_type(call, ctx, call.services.share.share_type(ctx))]
    return json_response({"share_types": types, "volume_types": types})


def show_type(call: Call) -> Response:
    ctx = auth(call)
    found = V.share_type(call, ctx, call.services.share.share_type(ctx, call.params["id"]))
    return json_response({"share_type": found, "volume_type": found})


# ---- access rules --------------------------------------------------------------------------
def list_access_rules(call: Call) -> Response:
    ctx = auth(call)
    since(call, (2, 45))
    share_id = call.query.get("share_id")
    if share_id is None:
        raise BadRequest("The field 'share_id' has to be specified.")
    try:
        rules = call.services.share.access_rules(ctx, share_id)
    except NotFound:
        raise BadRequest(f"Share {share_id[:100]} not found.") from None  # Manila's 400 here
    return json_response({"access_list": [V.access_rule(call, r, with_share=False) for r in rules]})


def show_access_rule(call: Call) -> Response:
    ctx = auth(call)
    since(call, (2, 45))
    return json_response({"access": V.access_rule(call, call.services.share.access_rule(ctx, call.params["id"]))})


def both(method: str, path: str, handler: Handler) -> list[Endpoint]:
    return novalike.both("/v2", method, path, handler)


ROUTES = [
    Endpoint("GET", "/", versions, unversioned=True, inline=True),
    Endpoint("GET", "/v2", version, unversioned=True, inline=True),
    Endpoint("GET", "/v2/", version, unversioned=True, inline=True),
    *both("GET", "/shares", list_shares),
    *both("GET", "/shares/detail", list_shares_detail),
    *both("POST", "/shares", create_share),
    *both("GET", "/shares/{id}", show_share),
    *both("PUT", "/shares/{id}", update_share),
    *both("DELETE", "/shares/{id}", delete_share),
    *both("POST", "/shares/{id}/action", share_action),
    *both("GET", "/shares/{id}/metadata", get_metadata),
    *both("POST", "/shares/{id}/metadata", add_metadata),
    *both("PUT", "/shares/{id}/metadata", replace_metadata),
    *both("GET", "/shares/{id}/metadata/{key}", get_metadata_item),
    *both("PUT", "/shares/{id}/metadata/{key}", set_metadata_item),
    *both("DELETE", "/shares/{id}/metadata/{key}", delete_metadata_item),
    *both("GET", "/shares/{id}/export_locations", list_export_locations),
    *both("GET", "/shares/{id}/export_locations/{el_id}", show_export_location),
    *both("GET", "/types", list_types),
    *both("GET", "/types/{id}", show_type),
    *both("GET", "/share-access-rules", list_access_rules),
    *both("GET", "/share-access-rules/{id}", show_access_rule),
]
