"""os-quota-sets (show, detail, defaults, update, delete) and limits over HTTP: the resources a
microversion shows (the network proxies go at 2.36, injected files at 2.57) and the shapes of
the limits. Module-level handlers over ``call.services`` (the Cloud) and one route table, ROUTES."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response
from caas.compute.common import require_admin
from caas.compute.quotas import DEFAULT_QUOTAS, QuotaUsage, unexpected_quotas
from caas.errors import BadRequest

# Shown, never enforced: Neutron owns those resources, as in Nova with Neutron.
NETWORK_PROXY = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")  # gone at 2.36
INJECTED = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")  # gone at 2.57


def visible_resources(version: tuple[int, int]) -> list[str]:
    """The quota resources a response at ``version`` names."""
    out = list(DEFAULT_QUOTAS)
    if version >= (2, 36):
        out = [r for r in out if r not in NETWORK_PROXY]
    if version >= (2, 57):
        out = [r for r in out if r not in INJECTED]
    return out


def _project(call: Call) -> str:
    project_id = call.params["project_id"]
    if not 1 <= len(project_id) <= 64:
        raise BadRequest(f"Invalid project id {project_id[:80]!r}.")
    return project_id


def quota_set_view(call: Call, project_id: str, q: QuotaUsage, detail: bool) -> dict:
    out: dict = {"id": project_id}
    for r in visible_resources(call.version):
        out[r] = {"limit": q.limits[r], "in_use": q.used.get(r, 0), "reserved": 0} if detail else q.limits[r]
    return out


def absolute_limits_view(call: Call, q: QuotaUsage) -> dict:
    """The ``absolute`` part of GET /limits."""
    lim, used = q.limits, q.used
    out = {"maxTotalInstances": lim["instances"], "maxTotalCores": lim["cores"],
           "maxTotalRAMSize": lim["ram"], "maxServerMeta": lim["metadata_items"],
           "maxTotalKeypairs": lim["key_pairs"], "maxServerGroups": lim["server_groups"],
           "maxServerGroupMembers": lim["server_group_members"],
           "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
           "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"]}
    if call.version < (2, 39):
        out["maxImageMeta"] = lim["metadata_items"]
    if call.version < (2, 57):
        out["maxPersonality"] = lim["injected_files"]
        out["maxPersonalitySize"] = lim["injected_file_content_bytes"]
    if call.version < (2, 36):
        out.update({"maxTotalFloatingIps": lim["floating_ips"], "maxSecurityGroups": lim["security_groups"],
                    "maxSecurityGroupRules": lim["security_group_rules"], "totalFloatingIpsUsed": 0,
                    "totalSecurityGroupsUsed": 0})
    return out


def _show(call: Call, detail: bool) -> Response:
    ctx = call.project_auth()
    project_id = _project(call)
    q = call.services.compute.quotas.show_quota(ctx, project_id)
    return json_response({"quota_set": quota_set_view(call, project_id, q, detail)})


def show(call: Call) -> Response:
    return _show(call, False)


def detail(call: Call) -> Response:
    return _show(call, True)


def defaults(call: Call) -> Response:
    ctx = call.project_auth()
    project_id = _project(call)
    values = call.services.compute.quotas.default_quota(ctx, project_id)
    return json_response({"quota_set": {"id": project_id, **{r: values[r] for r in visible_resources(call.version)}}})


def _force(values: dict) -> bool:
    """The update's ``force`` flag (a boolean, or its string), taken out of ``values``."""
    force = values.pop("force", False)
    if isinstance(force, bool):
        return force
    if isinstance(force, str) and force.lower() in ("true", "false"):
        return force.lower() == "true"
    raise BadRequest("Invalid input for field/attribute force. It must be a boolean.")


def update(call: Call) -> Response:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("quota_set"), dict):
        raise BadRequest("Invalid input: the body must be {\"quota_set\": {resource: limit}}.")
    values = dict(body["quota_set"])
    force = _force(values)
    ctx = call.project_auth()
    project_id = _project(call)
    require_admin(ctx, "os_compute_api:os-quota-sets:update")  # before the body's resources, as always
    allowed = visible_resources(call.version)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise BadRequest(unexpected_quotas(unknown))
    lim = call.services.compute.quotas.update_quota(ctx, project_id, values, force)
    return json_response({"quota_set": {r: lim[r] for r in allowed}})


def reset(call: Call) -> Response:
    call.services.compute.quotas.reset_quota(call.project_auth(), _project(call))
    return empty(202)


def limits(call: Call) -> Response:
    ctx = call.project_auth()
    project = call.query.get("tenant_id") or ctx.project_id
    q = call.services.compute.quotas.show_quota(ctx, project)
    return json_response({"limits": {"rate": [], "absolute": absolute_limits_view(call, q)}})


Q = "/v2.1/os-quota-sets/{project_id}"
ROUTES = [
    Endpoint("GET", Q, show),
    Endpoint("GET", f"{Q}/detail", detail),
    Endpoint("GET", f"{Q}/defaults", defaults),
    Endpoint("PUT", Q, update),
    Endpoint("DELETE", Q, reset),
    Endpoint("GET", "/v2.1/limits", limits),
]
