"""Servers over HTTP: /servers (list, detail, create, show, update, delete), /servers/{id}/action
(os-stop, os-start, reboot, os-getConsoleOutput, os-resetState), metadata, and
os-volume_attachments."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.compute import api_root
from caas.api.compute.flavors import next_link
from caas.api.framework import Call, empty, json_response
from caas.errors import BadRequest, NotFound


def _object(call: Call, key: str) -> dict:
    body = call.body
    if body is None:
        raise BadRequest("The request body is required.")
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input: the body must be {{\"{key}\": {{...}}}}.")
    return body[key]


def _attachment_view(a: dict, version) -> dict:
    out = {"id": a["volume_id"], "serverId": a["server_id"], "volumeId": a["volume_id"], "device": a["device"]}
    return out


def register(api, cloud) -> None:
    compute = cloud.compute

    def listing(call: Call, detail: bool) -> Response:
        ctx = call.project_auth()
        rows, more = compute.list_servers(ctx, call.query, call.version)
        out = {"servers": compute.server_views(ctx, rows, call.version, call.base_url, detail, api_root(call))}
        if more and rows:
            out["servers_links"] = [next_link(call, "servers/detail" if detail else "servers", rows[-1].id)]
        return json_response(out)

    @api.route("GET", "/v2.1/servers")
    def list_servers(call: Call) -> Response:
        return listing(call, False)

    @api.route("GET", "/v2.1/servers/detail")
    def list_detail(call: Call) -> Response:
        return listing(call, True)

    @api.route("POST", "/v2.1/servers")
    def create(call: Call) -> Response:
        ctx = call.project_auth()
        body = _object(call, "server")
        hints = call.body.get("os:scheduler_hints", call.body.get("OS-SCH-HNT:scheduler_hints"))
        result = compute.create_servers(ctx, body, call.version, hints)
        if body.get("return_reservation_id") is True:
            return json_response({"reservation_id": result["reservation_id"]}, status=202)
        server = result["server"]
        view = {"id": server.id, "links": [{"rel": "self", "href": f"{api_root(call)}/servers/{server.id}"},
                                           {"rel": "bookmark", "href": f"{call.base_url}/compute/servers/{server.id}"}],
                "OS-DCF:diskConfig": "MANUAL", "security_groups": result["security_groups"],
                "adminPass": result["admin_pass"]}
        return json_response({"server": view}, status=202,
                             headers={"Location": f"{api_root(call)}/servers/{server.id}"})

    @api.route("GET", "/v2.1/servers/{id}")
    def show(call: Call) -> Response:
        ctx = call.project_auth()
        row = compute.show_server(ctx, call.params["id"])
        return json_response({"server": compute.server_views(ctx, [row], call.version, call.base_url, api=api_root(call))[0]})

    @api.route("PUT", "/v2.1/servers/{id}")
    def update(call: Call) -> Response:
        ctx = call.project_auth()
        row = compute.update_server(ctx, call.params["id"], _object(call, "server"), call.version)
        return json_response({"server": compute.server_views(ctx, [row], call.version, call.base_url, api=api_root(call))[0]})

    @api.route("DELETE", "/v2.1/servers/{id}")
    def delete(call: Call) -> Response:
        compute.delete_server(call.project_auth(), call.params["id"])
        return empty(204)

    @api.route("POST", "/v2.1/servers/{id}/action")
    def action(call: Call) -> Response:
        ctx = call.project_auth()
        body = call.body
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Invalid input: an action body names exactly one action, e.g. {\"os-stop\": null}.")
        name, arg = next(iter(body.items()))
        sid = call.params["id"]
        if name == "os-stop":
            compute.server_action(ctx, sid, "stop")
        elif name == "os-start":
            compute.server_action(ctx, sid, "start")
        elif name == "reboot":
            kind = arg.get("type") if isinstance(arg, dict) else None
            if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
                raise BadRequest("Invalid input for field/attribute type. It must be SOFT or HARD.")
            compute.server_action(ctx, sid, "reboot", hard=kind.upper() == "HARD")
        elif name == "os-getConsoleOutput":
            length = arg.get("length") if isinstance(arg, dict) else None
            if arg is not None and not isinstance(arg, dict):
                raise BadRequest("Invalid input for field/attribute os-getConsoleOutput.")
            return json_response({"output": compute.console_output(ctx, sid, length)})
        elif name == "os-resetState":
            compute.reset_state(ctx, sid, arg.get("state") if isinstance(arg, dict) else None)
        else:
            # Nova answers 400 for an action it does not know, after checking the server exists.
            compute.show_server(ctx, sid)
            raise BadRequest(f"There is no such action: {name[:60]}")
        return empty(202)

    # ---- metadata ------------------------------------------------------------------------
    @api.route("GET", "/v2.1/servers/{id}/metadata")
    def metadata(call: Call) -> Response:
        return json_response({"metadata": compute.server_metadata(call.project_auth(), call.params["id"])})

    @api.route("POST", "/v2.1/servers/{id}/metadata")
    def merge_metadata(call: Call) -> Response:
        values = _object(call, "metadata")
        return json_response({"metadata": compute.set_server_metadata(call.project_auth(), call.params["id"],
                                                                      values, replace=False)})

    @api.route("PUT", "/v2.1/servers/{id}/metadata")
    def replace_metadata(call: Call) -> Response:
        values = _object(call, "metadata")
        return json_response({"metadata": compute.set_server_metadata(call.project_auth(), call.params["id"],
                                                                      values, replace=True)})

    @api.route("GET", "/v2.1/servers/{id}/metadata/{key}")
    def metadata_item(call: Call) -> Response:
        data = compute.server_metadata(call.project_auth(), call.params["id"])
        key = call.params["key"]
        if key not in data:
            raise NotFound("Metadata item was not found")
        return json_response({"meta": {key: data[key]}})

    @api.route("PUT", "/v2.1/servers/{id}/metadata/{key}")
    def set_metadata_item(call: Call) -> Response:
        meta = _object(call, "meta")
        key = call.params["key"]
        if list(meta) != [key]:
            raise BadRequest("Request body and URI mismatch")
        compute.set_server_metadata(call.project_auth(), call.params["id"], meta, replace=False)
        return json_response({"meta": meta})

    @api.route("DELETE", "/v2.1/servers/{id}/metadata/{key}")
    def delete_metadata_item(call: Call) -> Response:
        compute.delete_server_metadata(call.project_auth(), call.params["id"], call.params["key"])
        return empty(204)

    # ---- volume attachments --------------------------------------------------------------
    @api.route("GET", "/v2.1/servers/{id}/os-volume_attachments")
    def attachments(call: Call) -> Response:
        items = compute.volume_attachments(call.project_auth(), call.params["id"])
        return json_response({"volumeAttachments": [_attachment_view(a, call.version) for a in items]})

    @api.route("POST", "/v2.1/servers/{id}/os-volume_attachments")
    def attach(call: Call) -> Response:
        body = _object(call, "volumeAttachment")
        extra = set(body) - {"volumeId", "device", "tag", "delete_on_termination"}
        if extra or ("tag" in body and call.version < (2, 49)):
            raise BadRequest(f"Invalid input for field/attribute volumeAttachment. Additional properties are not "
                             f"allowed ({', '.join(sorted(extra or {'tag'}))} unexpected)")
        if body.get("device") is not None and not isinstance(body["device"], str):
            raise BadRequest("Invalid input for field/attribute device.")
        a = compute.attach_volume(call.project_auth(), call.params["id"], body.get("volumeId"))
        return json_response({"volumeAttachment": _attachment_view(a, call.version)})

    @api.route("GET", "/v2.1/servers/{id}/os-volume_attachments/{volume_id}")
    def attachment(call: Call) -> Response:
        a = compute.volume_attachment(call.project_auth(), call.params["id"], call.params["volume_id"])
        return json_response({"volumeAttachment": _attachment_view(a, call.version)})

    @api.route("DELETE", "/v2.1/servers/{id}/os-volume_attachments/{volume_id}")
    def detach(call: Call) -> Response:
        compute.detach_volume(call.project_auth(), call.params["id"], call.params["volume_id"])
        return empty(202)
