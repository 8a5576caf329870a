"""os-hypervisors (list, detail, show, uptime, statistics), os-services (the nova-compute of each
host: list, enable, disable, force down), os-aggregates and os-availability-zone over HTTP: the
request checks and shapes of each microversion (2.11 forced_down, 2.28 cpu_info as an object,
2.33 paging, 2.53 uuids and the hostname pattern). Module-level handlers over ``call.services``
(the Cloud) and one route table, ROUTES."""

from __future__ import annotations

import json

from starlette.responses import Response

from caas.api.compute.links import next_link
from caas.api.framework import Call, Endpoint, json_response
from caas.compute.common import isotime_us, require_admin
from caas.compute.hosts import Hypervisor, HypervisorQuery, ServiceChange, ServiceRef
from caas.compute.models import ComputeHost
from caas.errors import BadRequest, NotFound
from caas.numbers import INT32_MAX, parse_int

UPDATE_SERVICE = "os_compute_api:os-services:update"


def _hosts(call: Call):
    return call.services.compute.hosts


def _uuids(call: Call) -> bool:
    """From 2.53 hosts and services are known by uuid, before by row id."""
    return call.version >= (2, 53)


def _state(h: ComputeHost) -> dict:
    return {"state": "up" if h.up and not h.forced_down else "down",
            "status": "enabled" if h.enabled else "disabled"}


def hypervisor_view(call: Call, found: Hypervisor, detail: bool) -> dict:
    h = found.host
    ident = h.uuid if _uuids(call) else h.id
    out = {"id": ident, "hypervisor_hostname": h.name, **_state(h)}
    if detail:
        vcpus, ram, disk = h.vcpus, h.memory_mb, h.local_gb
        out.update({
            "vcpus": vcpus, "memory_mb": ram, "local_gb": disk, "vcpus_used": h.vcpus_used,
            "memory_mb_used": h.memory_mb_used, "local_gb_used": h.local_gb_used,
            "free_ram_mb": ram - h.memory_mb_used, "free_disk_gb": disk - h.local_gb_used,
            "disk_available_least": disk - h.local_gb_used, "current_workload": 0,
            "running_vms": h.running_vms, "hypervisor_type": h.hypervisor_type,
            "hypervisor_version": h.hypervisor_version, "host_ip": h.host_ip,
            "cpu_info": h.cpu_info if call.version >= (2, 28) else json.dumps(h.cpu_info),
            "service": {"host": h.name, "id": ident, "disabled_reason": h.disabled_reason}})
    if found.servers is not None:
        out["servers"] = [{"uuid": sid, "name": name} for sid, name in found.servers]
    return out


def service_view(call: Call, h: ComputeHost) -> dict:
    state = _state(h)
    out = {"id": h.uuid if _uuids(call) else h.id, "binary": "nova-compute", "host": h.name,
           "zone": h.availability_zone, "status": state["status"], "state": state["state"],
           "updated_at": isotime_us(h.updated_at), "disabled_reason": h.disabled_reason}
    if call.version >= (2, 11):
        out["forced_down"] = h.forced_down
    return out


def parse_hypervisor_query(call: Call) -> HypervisorQuery:
    """The list's query: the pattern and with_servers from 2.53, paging from 2.33."""
    query = call.query
    pattern = query.get("hypervisor_hostname_pattern")
    if not _uuids(call) and (pattern is not None or "with_servers" in query):
        raise BadRequest("Query parameters hypervisor_hostname_pattern and with_servers need microversion 2.53.")
    limit = marker = None
    if call.version >= (2, 33):
        if query.get("limit") is not None:
            limit = parse_int(query["limit"], "limit", 0, INT32_MAX,
                              message="Invalid input for query parameters limit. Value must be an integer >= 0.")
        marker = query.get("marker")
    return HypervisorQuery(pattern=pattern, with_servers=query.get("with_servers", "false").lower() in
                           ("true", "1", "yes"), limit=limit, marker=marker, by_uuid=_uuids(call))


def _listing(call: Call, detail: bool) -> Response:
    ctx = call.project_auth()
    require_admin(ctx, "os_compute_api:os-hypervisors:list")  # before the query is checked, as always
    found, more = _hosts(call).list_hypervisors(ctx, parse_hypervisor_query(call))
    views = [hypervisor_view(call, h, detail) for h in found]
    out = {"hypervisors": views}
    if more and views:
        out["hypervisors_links"] = [next_link(call, "os-hypervisors/detail" if detail else "os-hypervisors",
                                              str(views[-1]["id"]))]
    return json_response(out)


def index(call: Call) -> Response:
    return _listing(call, False)


def detail(call: Call) -> Response:
    return _listing(call, True)


def statistics(call: Call) -> Response:
    return json_response({"hypervisor_statistics": _hosts(call).hypervisor_statistics(call.project_auth())})


def show(call: Call) -> Response:
    with_servers = _uuids(call) and call.query.get("with_servers", "").lower() in ("true", "1")
    found = _hosts(call).show_hypervisor(call.project_auth(), call.params["id"], _uuids(call), with_servers)
    return json_response({"hypervisor": hypervisor_view(call, found, True)})


def uptime(call: Call) -> Response:
    found, line = _hosts(call).hypervisor_uptime(call.project_auth(), call.params["id"], _uuids(call))
    view = hypervisor_view(call, found, False)
    return json_response({"hypervisor": {k: view[k] for k in ("id", "hypervisor_hostname", "state", "status")}
                          | {"uptime": line}})


def services(call: Call) -> Response:
    rows = _hosts(call).list_services(call.project_auth(), call.query.get("host"), call.query.get("binary"))
    return json_response({"services": [service_view(call, h) for h in rows]})


def parse_service_change(body: dict) -> ServiceChange:
    """A 2.53 update: status, disabled_reason and/or forced_down."""
    extra = set(body) - {"status", "disabled_reason", "forced_down"}
    if extra or not body:
        raise BadRequest("Invalid input: give status, disabled_reason and/or forced_down.")
    status = body.get("status")
    if status is not None and status not in ("enabled", "disabled"):
        raise BadRequest("Invalid input for field/attribute status. It must be enabled or disabled.")
    reason = body.get("disabled_reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
        raise BadRequest("Invalid input for field/attribute disabled_reason.")
    if reason is not None and status != "disabled":
        raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    if "forced_down" in body and not isinstance(body["forced_down"], bool):
        raise BadRequest("Invalid input for field/attribute forced_down. It must be a boolean.")
    return ServiceChange(enabled=None if status is None else status == "enabled", disabled_reason=reason,
                         forced_down=body.get("forced_down"))


def parse_service_action(call: Call, action: str, body: dict) -> ServiceChange:
    """A legacy update, /os-services/{action} (enable, disable, disable-log-reason, and
    force-down from 2.11); an unknown action is NotFound."""
    if action == "enable":
        return ServiceChange(enabled=True)
    if action in ("disable", "disable-log-reason"):
        reason = body.get("disabled_reason") if action == "disable-log-reason" else None
        if action == "disable-log-reason" and (not isinstance(reason, str) or not 1 <= len(reason) <= 255):
            raise BadRequest("Invalid input for field/attribute disabled_reason.")
        return ServiceChange(enabled=False, disabled_reason=reason)
    if action == "force-down" and call.version >= (2, 11):
        if not isinstance(body.get("forced_down"), bool):
            raise BadRequest("Invalid input for field/attribute forced_down. It must be a boolean.")
        return ServiceChange(forced_down=body["forced_down"])
    raise NotFound(f"Unknown action {action}")


def legacy_service_view(ref: ServiceRef, change: ServiceChange) -> dict:
    """What a legacy update answers: the service and what changed."""
    out: dict = {"host": ref.host, "binary": ref.binary}
    if change.enabled is not None:
        out["status"] = "enabled" if change.enabled else "disabled"
        if change.disabled_reason is not None:
            out["disabled_reason"] = change.disabled_reason
    if change.forced_down is not None:
        out["forced_down"] = change.forced_down
    return out


def update_service(call: Call) -> Response:
    """PUT /os-services/{id}: by uuid from 2.53, else {id} is the action and the body names the
    host and binary. Checked as Nova does: policy, body, the service exists, then its fields."""
    ctx = call.project_auth()
    require_admin(ctx, UPDATE_SERVICE)
    body = call.body
    if not isinstance(body, dict):
        raise BadRequest("Invalid input: the body must be an object.")
    hosts = _hosts(call)
    if _uuids(call):
        ref = ServiceRef(uuid=call.params["id"])
        hosts.find_service(ctx, ref)
        row = hosts.update_service(ctx, ref, parse_service_change(body))
        return json_response({"service": service_view(call, row)})
    host, binary = body.get("host"), body.get("binary")
    if not isinstance(host, str) or not isinstance(binary, str):
        raise BadRequest("Invalid input: host and binary are required strings.")
    ref = ServiceRef(host=host, binary=binary)
    hosts.find_service(ctx, ref)
    change = parse_service_action(call, call.params["id"], body)
    hosts.update_service(ctx, ref, change)
    return json_response({"service": legacy_service_view(ref, change)})


def aggregates(call: Call) -> Response:
    return json_response({"aggregates": _hosts(call).list_aggregates(call.project_auth())})


def zones(call: Call) -> Response:
    return json_response({"availabilityZoneInfo": _hosts(call).availability_zones(call.project_auth(), False)})


def zones_detail(call: Call) -> Response:
    return json_response({"availabilityZoneInfo": _hosts(call).availability_zones(call.project_auth(), True)})


H = "/v2.1/os-hypervisors"
ROUTES = [
    Endpoint("GET", H, index),
    Endpoint("GET", f"{H}/detail", detail),
    Endpoint("GET", f"{H}/statistics", statistics),
    Endpoint("GET", f"{H}/{{id}}", show),
    Endpoint("GET", f"{H}/{{id}}/uptime", uptime),
    Endpoint("GET", "/v2.1/os-services", services),
    Endpoint("PUT", "/v2.1/os-services/{id}", update_service),
    Endpoint("GET", "/v2.1/os-aggregates", aggregates),
    Endpoint("GET", "/v2.1/os-availability-zone", zones),
    Endpoint("GET", "/v2.1/os-availability-zone/detail", zones_detail),
]
