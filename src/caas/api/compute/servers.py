"""Servers over HTTP: /servers (list, detail, create, show, update, delete), /servers/{id}/action
(os-stop, os-start, reboot, os-getConsoleOutput, os-resetState), metadata, and
os-volume_attachments. Module-level handlers over ``call.services`` (the Cloud) and one route
table, ROUTES; requests are parsed by schemas.py, servers rendered by views.py."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.compute import api_root
from caas.api.compute.links import next_link
from caas.api.compute.schemas import parse_boot, parse_server_query, parse_update, server_object
from caas.api.compute.views import attachment_view, links, server_views
from caas.api.framework import Call, Endpoint, empty, json_response
from caas.compute.server_state import require_writer
from caas.errors import BadRequest, NotFound


def _servers(call: Call):
    return call.services.compute.servers


def _listing(call: Call, detail: bool) -> Response:
    ctx = call.project_auth()
    rows, more = _servers(call).queries.list_servers(ctx, parse_server_query(call))
    out = {"servers": server_views(call, ctx, rows, detail)}
    if more and rows:
        out["servers_links"] = [next_link(call, "servers/detail" if detail else "servers", rows[-1].id)]
    return json_response(out)


def list_servers(call: Call) -> Response:
    return _listing(call, False)


def list_detail(call: Call) -> Response:
    return _listing(call, True)


def create(call: Call) -> Response:
    ctx = call.project_auth()
    server_object(call, "server")
    require_writer(ctx, "create")  # a reader is refused before the body is checked, as always
    boot = parse_boot(call)
    result = _servers(call).boot.create_servers(ctx, boot.request)
    if boot.return_reservation_id:
        return json_response({"reservation_id": result.reservation_id}, status=202)
    server = result.servers[0]
    view = {"id": server.id, "links": links(call, "servers", server.id), "OS-DCF:diskConfig": "MANUAL",
            "security_groups": boot.security_groups, "adminPass": boot.admin_pass}
    return json_response({"server": view}, status=202, headers={"Location": f"{api_root(call)}/servers/{server.id}"})


def _one(call: Call, ctx, row) -> Response:
    return json_response({"server": server_views(call, ctx, [row])[0]})


def show(call: Call) -> Response:
    ctx = call.project_auth()
    return _one(call, ctx, _servers(call).queries.show_server(ctx, call.params["id"]))


def update(call: Call) -> Response:
    ctx = call.project_auth()
    server_object(call, "server")
    require_writer(ctx, "update")  # a reader is refused before the body is checked, as always
    return _one(call, ctx, _servers(call).actions.update_server(ctx, call.params["id"], parse_update(call)))


def delete(call: Call) -> Response:
    _servers(call).actions.delete_server(call.project_auth(), call.params["id"])
    return empty(204)


def action(call: Call) -> Response:
    """One action of ``{"name": argument}``; Nova answers 400 for an unknown one, after checking
    that the server exists."""
    ctx = call.project_auth()
    servers = _servers(call)
    body = call.body
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid input: an action body names exactly one action, e.g. {\"os-stop\": null}.")
    name, arg = next(iter(body.items()))
    sid = call.params["id"]
    if name in ("os-stop", "os-start"):
        servers.actions.server_action(ctx, sid, name[3:])
    elif name == "reboot":
        kind = arg.get("type") if isinstance(arg, dict) else None
        if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
            raise BadRequest("Invalid input for field/attribute type. It must be SOFT or HARD.")
        servers.actions.server_action(ctx, sid, "reboot", hard=kind.upper() == "HARD")
    elif name == "os-getConsoleOutput":
        length = arg.get("length") if isinstance(arg, dict) else None
        if arg is not None and not isinstance(arg, dict):
            raise BadRequest("Invalid input for field/attribute os-getConsoleOutput.")
        return json_response({"output": servers.actions.console_output(ctx, sid, length)})
    elif name == "os-resetState":
        servers.actions.reset_state(ctx, sid, arg.get("state") if isinstance(arg, dict) else None)
    else:
        servers.queries.show_server(ctx, sid)
        raise BadRequest(f"There is no such action: {name[:60]}")
    return empty(202)


# ---- metadata ----------------------------------------------------------------------------
def metadata(call: Call) -> Response:
    return json_response({"metadata": _servers(call).actions.server_metadata(call.project_auth(), call.params["id"])})


def _set_metadata(call: Call, replace: bool) -> Response:
    values = server_object(call, "metadata")
    meta = _servers(call).actions.set_server_metadata(call.project_auth(), call.params["id"], values, replace=replace)
    return json_response({"metadata": meta})


def merge_metadata(call: Call) -> Response:
    return _set_metadata(call, replace=False)


def replace_metadata(call: Call) -> Response:
    return _set_metadata(call, replace=True)


def metadata_item(call: Call) -> Response:
    data = _servers(call).actions.server_metadata(call.project_auth(), call.params["id"])
    key = call.params["key"]
    if key not in data:
        raise NotFound("Metadata item was not found")
    return json_response({"meta": {key: data[key]}})


def set_metadata_item(call: Call) -> Response:
    meta = server_object(call, "meta")
    key = call.params["key"]
    if list(meta) != [key]:
        raise BadRequest("Request body and URI mismatch")
    _servers(call).actions.set_server_metadata(call.project_auth(), call.params["id"], meta, replace=False)
    return json_response({"meta": meta})


def delete_metadata_item(call: Call) -> Response:
    _servers(call).actions.delete_server_metadata(call.project_auth(), call.params["id"], call.params["key"])
    return empty(204)


# ---- volume attachments ------------------------------------------------------------------
def attachments(call: Call) -> Response:
    items = _servers(call).actions.volume_attachments(call.project_auth(), call.params["id"])
    return json_response({"volumeAttachments": [attachment_view(a) for a in items]})


def attach(call: Call) -> Response:
    body = server_object(call, "volumeAttachment")
    extra = set(body) - {"volumeId", "device", "tag", "delete_on_termination"}
    if extra or ("tag" in body and call.version < (2, 49)):
        raise BadRequest(f"Invalid input for field/attribute volumeAttachment. Additional properties are not "
                         f"allowed ({', '.join(sorted(extra or {'tag'}))} unexpected)")
    if body.get("device") is not None and not isinstance(body["device"], str):
        raise BadRequest("Invalid input for field/attribute device.")
    a = _servers(call).actions.attach_volume(call.project_auth(), call.params["id"], body.get("volumeId"))
    return json_response({"volumeAttachment": attachment_view(a)})


def attachment(call: Call) -> Response:
    a = _servers(call).actions.volume_attachment(call.project_auth(), call.params["id"], call.params["volume_id"])
    return json_response({"volumeAttachment": attachment_view(a)})


def detach(call: Call) -> Response:
    _servers(call).actions.detach_volume(call.project_auth(), call.params["id"], call.params["volume_id"])
    return empty(202)


S = "/v2.1/servers"
ROUTES = [
    Endpoint("GET", S, list_servers),
    Endpoint("GET", f"{S}/detail", list_detail),
    Endpoint("POST", S, create),
    Endpoint("GET", f"{S}/{{id}}", show),
    Endpoint("PUT", f"{S}/{{id}}", update),
    Endpoint("DELETE", f"{S}/{{id}}", delete),
    Endpoint("POST", f"{S}/{{id}}/action", action),
    Endpoint("GET", f"{S}/{{id}}/metadata", metadata),
    Endpoint("POST", f"{S}/{{id}}/metadata", merge_metadata),
    Endpoint("PUT", f"{S}/{{id}}/metadata", replace_metadata),
    Endpoint("GET", f"{S}/{{id}}/metadata/{{key}}", metadata_item),
    Endpoint("PUT", f"{S}/{{id}}/metadata/{{key}}", set_metadata_item),
    Endpoint("DELETE", f"{S}/{{id}}/metadata/{{key}}", delete_metadata_item),
    Endpoint("GET", f"{S}/{{id}}/os-volume_attachments", attachments),
    Endpoint("POST", f"{S}/{{id}}/os-volume_attachments", attach),
    Endpoint("GET", f"{S}/{{id}}/os-volume_attachments/{{volume_id}}", attachment),
    Endpoint("DELETE", f"{S}/{{id}}/os-volume_attachments/{{volume_id}}", detach),
]
