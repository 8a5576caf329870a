"""Placement over HTTP, read-only (``/placement``): version discovery, the resource providers
(the compute hosts), and each one's inventories and usages, in Placement's shapes (those of
microversion 1.14, which every version up to it accepts) and its error format. Every call is
admin-only, as Placement's default policy. Module-level handlers over ``call.services`` (the
PlacementService) and one route table, ROUTES."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import Call, Endpoint, Microversions, ServiceAPI, json_response
from caas.compute.placement import PlacementService, Provider
from caas.errors import CaasError

MIN_VERSION, MAX_VERSION = "1.0", "1.14"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          406: "Not Acceptable", 409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type"}
# Placement does not version resource provider generations for reads; a host row has none, so
# every provider is at generation 1 (a client that writes would need more: there are no writes).
GENERATION = 1
CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")


def placement_error(exc: CaasError) -> dict:
    """Placement's error body: a list of errors, each with its status, title and detail."""
    return {"errors": [{"status": exc.status, "title": TITLES.get(exc.status, exc.title), "detail": exc.message}]}


def provider_links(uuid: str) -> list[dict]:
    """A provider's links, relative to the Placement root as Placement writes them."""
    base = f"/resource_providers/{uuid}"
    return [{"rel": "self", "href": base}] + [{"rel": rel, "href": f"{base}/{rel}"}
                                              for rel in ("inventories", "usages", "aggregates", "traits",
                                                          "allocations")]


def provider_view(p: Provider) -> dict:
    return {"uuid": p.uuid, "name": p.name, "generation": GENERATION, "links": provider_links(p.uuid),
            "parent_provider_uuid": None, "root_provider_uuid": p.uuid}


def inventory_view(total: int, ratio: float) -> dict:
    """One class's inventory: caas reserves nothing on a host and allocates in units of one."""
    return {"total": total, "reserved": 0, "min_unit": 1, "max_unit": max(1, total), "step_size": 1,
            "allocation_ratio": float(ratio)}


def versions(call: Call) -> Response:
    return json_response({"versions": [{"id": "v1.0", "max_version": MAX_VERSION, "min_version": MIN_VERSION,
                                        "status": "CURRENT",
                                        "links": [{"rel": "self", "href": f"{call.base_url}/placement/"}]}]})


def providers(call: Call) -> Response:
    found = call.services.resource_providers(call.project_auth(), call.query.get("name"), call.query.get("uuid"))
    return json_response({"resource_providers": [provider_view(p) for p in found]})


def provider(call: Call) -> Response:
    return json_response(provider_view(call.services.resource_provider(call.project_auth(), call.params["uuid"])))


def inventories(call: Call) -> Response:
    """The provider's VCPU, MEMORY_MB and DISK_GB inventories, with its host's ratios."""
    p = call.services.resource_provider(call.project_auth(), call.params["uuid"], "inventories:list")
    return json_response({"resource_provider_generation": GENERATION,
                          "inventories": {c: inventory_view(p.totals[c], p.ratios[c]) for c in CLASSES}})


def usages(call: Call) -> Response:
    """What the servers on the provider's host claim, in the inventories' classes."""
    p = call.services.resource_provider(call.project_auth(), call.params["uuid"], "usages")
    return json_response({"resource_provider_generation": GENERATION, "usages": {c: p.used[c] for c in CLASSES}})


ROUTES = [
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
    api.add(ROUTES)
    return api
