"""Compute server groups over HTTP: ``/v2.1/os-server-groups`` in Nova's shapes for
microversions 2.1 to 2.60: ``policies`` (a list of exactly one), ``metadata`` ({}),
``members``; the soft policies from 2.15; ``project_id`` and ``user_id`` from 2.13;
``all_projects`` (admins), ``limit`` and ``offset`` on the list."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.compute.validation import invalid, keys, nova_name, not_of_type, query_uint, version_at_least, wrapper
from caas.api.framework import Call, Endpoint, empty, json_response


def _view(call: Call, group, members: list[str]) -> dict:
    out = {"id": group.id, "name": group.name, "policies": [group.policy], "members": list(members),
           "metadata": {}}
    if version_at_least(call, 13):
        out["project_id"] = group.project_id
        out["user_id"] = group.user_id
    return out


def _policy(call: Call, value) -> str:
    allowed = ["anti-affinity", "affinity"]
    if version_at_least(call, 15):
        allowed += ["soft-anti-affinity", "soft-affinity"]
    if not isinstance(value, list):
        raise not_of_type("policies", value, "array")
    if not value:
        raise invalid("policies", value, "[] should be non-empty")
    if len(value) > 1:
        raise invalid("policies", value, f"{value!r} is too long")
    policy = value[0]
    if not isinstance(policy, str) or policy not in allowed:
        raise invalid("0", policy, f"{policy!r} is not one of {allowed}")
    return policy


def _groups(call: Call):
    return call.services.compute.server_groups



def list_server_groups(call: Call) -> Response:
    ctx = call.project_auth()
    limit = query_uint(call, "limit")
    offset = query_uint(call, "offset") or 0
    # Nova: the parameter's presence is what counts, whatever its value.
    rows = _groups(call).list_server_groups(ctx, all_projects="all_projects" in call.query, limit=limit,
                                      offset=offset)
    return json_response({"server_groups": [_view(call, g, m) for g, m in rows]})

def create_server_group(call: Call) -> Response:
    ctx = call.project_auth()
    body = keys(wrapper(call.body, "server_group"), "server_group", {"name", "policies"}, ("name", "policies"))
    name = nova_name(body["name"])
    policy = _policy(call, body["policies"])
    group, members = _groups(call).create_server_group(ctx, name, policy)
    return json_response({"server_group": _view(call, group, members)})

def show_server_group(call: Call) -> Response:
    ctx = call.project_auth()
    group, members = _groups(call).show_server_group(ctx, call.params["group_id"])
    return json_response({"server_group": _view(call, group, members)})

def delete_server_group(call: Call) -> Response:
    ctx = call.project_auth()
    _groups(call).delete_server_group(ctx, call.params["group_id"])
    return empty(204)


ROUTES = [
    Endpoint("GET", "/v2.1/os-server-groups", list_server_groups),
    Endpoint("POST", "/v2.1/os-server-groups", create_server_group),
    Endpoint("GET", "/v2.1/os-server-groups/{group_id}", show_server_group),
    Endpoint("DELETE", "/v2.1/os-server-groups/{group_id}", delete_server_group),
]
