"""os-hypervisors (list, detail, show, statistics), os-services (the nova-compute of each host:
list, enable, disable, force down) and os-availability-zone over HTTP."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.compute.flavors import next_link
from caas.api.framework import Call, json_response


def register(api, cloud) -> None:
    compute = cloud.compute

    def listing(call: Call, detail: bool) -> Response:
        views, nxt = compute.list_hypervisors(call.project_auth(), call.version, detail, call.query)
        out = {"hypervisors": views}
        if nxt is not None:
            out["hypervisors_links"] = [next_link(call, "os-hypervisors/detail" if detail else "os-hypervisors",
                                                  str(nxt))]
        return json_response(out)

    @api.route("GET", "/v2.1/os-hypervisors")
    def index(call: Call) -> Response:
        return listing(call, False)

    @api.route("GET", "/v2.1/os-hypervisors/detail")
    def detail(call: Call) -> Response:
        return listing(call, True)

    @api.route("GET", "/v2.1/os-hypervisors/statistics")
    def statistics(call: Call) -> Response:
        return json_response({"hypervisor_statistics": compute.hypervisor_statistics(call.project_auth())})

    @api.route("GET", "/v2.1/os-hypervisors/{id}")
    def show(call: Call) -> Response:
        with_servers = call.version >= (2, 53) and call.query.get("with_servers", "").lower() in ("true", "1")
        view = compute.show_hypervisor(call.project_auth(), call.version, call.params["id"], with_servers)
        return json_response({"hypervisor": view})

    @api.route("GET", "/v2.1/os-services")
    def services(call: Call) -> Response:
        views = compute.list_services(call.project_auth(), call.version, call.query.get("host"),
                                      call.query.get("binary"))
        return json_response({"services": views})

    @api.route("PUT", "/v2.1/os-services/{id}")
    def update_service(call: Call) -> Response:
        ctx = call.project_auth()
        if call.version >= (2, 53):
            return json_response({"service": compute.update_service(ctx, call.version, call.params["id"], call.body)})
        return json_response({"service": compute.update_service(ctx, call.version, None, call.body,
                                                                action=call.params["id"])})

    @api.route("GET", "/v2.1/os-hypervisors/{id}/uptime")
    def uptime(call: Call) -> Response:
        view = compute.hypervisor_uptime(call.project_auth(), call.version, call.params["id"])
        return json_response({"hypervisor": view})

    @api.route("GET", "/v2.1/os-aggregates")
    def aggregates(call: Call) -> Response:
        return json_response({"aggregates": compute.list_aggregates(call.project_auth())})

    @api.route("GET", "/v2.1/os-availability-zone")
    def zones(call: Call) -> Response:
        return json_response({"availabilityZoneInfo": compute.availability_zones(call.project_auth(), False)})

    @api.route("GET", "/v2.1/os-availability-zone/detail")
    def zones_detail(call: Call) -> Response:
        return json_response({"availabilityZoneInfo": compute.availability_zones(call.project_auth(), True)})
