"""os-quota-sets (show, detail, defaults, update, delete) and limits over HTTP."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, empty, json_response
from caas.errors import BadRequest


def _project(call: Call) -> str:
    project_id = call.params["project_id"]
    if not 1 <= len(project_id) <= 64:
        raise BadRequest(f"Invalid project id {project_id[:80]!r}.")
    return project_id


def register(api, cloud) -> None:
    compute = cloud.compute

    @api.route("GET", "/v2.1/os-quota-sets/{project_id}")
    def show(call: Call) -> Response:
        return json_response({"quota_set": compute.show_quota(call.project_auth(), _project(call), call.version)})

    @api.route("GET", "/v2.1/os-quota-sets/{project_id}/detail")
    def detail(call: Call) -> Response:
        return json_response({"quota_set": compute.show_quota(call.project_auth(), _project(call), call.version,
                                                              detail=True)})

    @api.route("GET", "/v2.1/os-quota-sets/{project_id}/defaults")
    def defaults(call: Call) -> Response:
        return json_response({"quota_set": compute.default_quota(call.project_auth(), _project(call), call.version)})

    @api.route("PUT", "/v2.1/os-quota-sets/{project_id}")
    def update(call: Call) -> Response:
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("quota_set"), dict):
            raise BadRequest("Invalid input: the body must be {\"quota_set\": {resource: limit}}.")
        values = dict(body["quota_set"])
        force = values.pop("force", False)
        if not isinstance(force, bool):
            if isinstance(force, str) and force.lower() in ("true", "false"):
                force = force.lower() == "true"
            else:
                raise BadRequest("Invalid input for field/attribute force. It must be a boolean.")
        ctx = call.project_auth()
        return json_response({"quota_set": compute.update_quota(ctx, _project(call), values, call.version, force)})

    @api.route("DELETE", "/v2.1/os-quota-sets/{project_id}")
    def reset(call: Call) -> Response:
        compute.reset_quota(call.project_auth(), _project(call))
        return empty(202)

    @api.route("GET", "/v2.1/limits")
    def limits(call: Call) -> Response:
        ctx = call.project_auth()
        project = call.query.get("tenant_id") or ctx.project_id
        return json_response({"limits": {"rate": [], "absolute": compute.absolute_limits(ctx, project, call.version)}})
