"""Placement over HTTP, read-only (``/placement``): version discovery, the resource providers
(the compute hosts), and each one's inventories and usages, in Placement's shapes (those of
microversion 1.14, which every version up to it accepts) and its error format. Every call is
admin-only, as Placement's default policy."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, Microversions, ServiceAPI, json_response
from caas.compute.placement import PlacementService
from caas.errors import CaasError

MIN_VERSION, MAX_VERSION = "1.0", "1.14"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type"}


def placement_error(exc: CaasError) -> dict:
    """Placement's error body: a list of errors, each with its status, title and detail."""
    return {"errors": [{"status": exc.status, "title": TITLES.get(exc.status, exc.title), "detail": exc.message}]}


def build(cloud) -> ServiceAPI:
    placement = PlacementService(cloud.db)
    api = ServiceAPI("placement", placement_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate,
                     microversions=Microversions("placement", MIN_VERSION, MAX_VERSION))

    @api.route("GET", "/", unversioned=True, inline=True)
    def versions(call: Call) -> Response:
        return json_response({"versions": [{"id": "v1.0", "max_version": MAX_VERSION, "min_version": MIN_VERSION,
                                            "status": "CURRENT",
                                            "links": [{"rel": "self", "href": f"{call.base_url}/placement/"}]}]})

    @api.route("GET", "/resource_providers")
    def providers(call: Call) -> Response:
        found = placement.resource_providers(call.project_auth(), call.query.get("name"), call.query.get("uuid"))
        return json_response({"resource_providers": found})

    @api.route("GET", "/resource_providers/{uuid}")
    def provider(call: Call) -> Response:
        return json_response(placement.resource_provider(call.project_auth(), call.params["uuid"]))

    @api.route("GET", "/resource_providers/{uuid}/inventories")
    def inventories(call: Call) -> Response:
        return json_response(placement.inventories(call.project_auth(), call.params["uuid"]))

    @api.route("GET", "/resource_providers/{uuid}/usages")
    def usages(call: Call) -> Response:
        return json_response(placement.usages(call.project_auth(), call.params["uuid"]))

    return api
