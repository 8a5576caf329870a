"""Placement over HTTP, read-only (``/placement``): version discovery, the resource providers
(the compute hosts), and each one's inventories and usages, in Placement's shapes (those of
microversion 1.14, which every version up to it accepts) and its error format. Every call is
admin-only, as Placement's default policy. The routes are one table (``TABLE``) of
module-level handlers over the PlacementService ``build`` hands them as ``call.services``."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, Endpoint, Microversions, ServiceAPI, json_response
from caas.compute.placement import PlacementService
from caas.errors import CaasError

MIN_VERSION, MAX_VERSION = "1.0", "1.14"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type"}


def placement_error(exc: CaasError) -> dict:
    """Placement's error body: a list of errors, each with its status, title and detail."""
    return {"errors": [{"status": exc.status, "title": TITLES.get(exc.status, exc.title), "detail": exc.message}]}


def versions(call: Call) -> Response:
    return json_response({"versions": [{"id": "v1.0", "max_version": MAX_VERSION, "min_version": MIN_VERSION,
                                        "status": "CURRENT",
                                        "links": [{"rel": "self", "href": f"{call.base_url}/placement/"}]}]})


def providers(call: Call) -> Response:
    found = call.services.resource_providers(call.project_auth(), call.query.get("name"), call.query.get("uuid"))
    return json_response({"resource_providers": found})


def provider(call: Call) -> Response:
    return json_response(call.services.resource_provider(call.project_auth(), call.params["uuid"]))


def inventories(call: Call) -> Response:
    return json_response(call.services.inventories(call.project_auth(), call.params["uuid"]))


def usages(call: Call) -> Response:
    return json_response(call.services.usages(call.project_auth(), call.params["uuid"]))


TABLE = [
    Endpoint("GET", "/", versions, unversioned=True, inline=True),
    Endpoint("GET", "/resource_providers", providers),
    Endpoint("GET", "/resource_providers/{uuid}", provider),
    Endpoint("GET", "/resource_providers/{uuid}/inventories", inventories),
    Endpoint("GET", "/resource_providers/{uuid}/usages", usages),
]


def build(cloud) -> ServiceAPI:
    """The Placement API over ``cloud``'s database (its handlers use a PlacementService)."""
    api = ServiceAPI("placement", placement_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, services=PlacementService(cloud.db),
                     microversions=Microversions("placement", MIN_VERSION, MAX_VERSION))
    return api.add(TABLE)
