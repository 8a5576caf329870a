"""Compute v2.1 over HTTP (mounted at /compute): version discovery and microversions (2.1 to
MAX_VERSION, each honoured exactly); the same API under /v2 as Nova's legacy v2.0 (the 2.1 API
with the version headers ignored and left out, see framework.Legacy); and one module per noun,
each a route table ``ROUTES`` of module-level handlers: flavors, keypairs, server groups,
servers (+ actions, volume attachments), hypervisors, services and availability zones, quota
sets and limits. Errors in Nova's format ``{"itemNotFound": {"code",
"message"}}``."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import JSON_TYPE, BodyRules, Call, Legacy, Microversions, ServiceAPI, json_response
from caas.errors import CaasError

MIN_VERSION = "2.1"
MAX_VERSION = "2.60"

# Nova's fault names by status (nova/api/openstack/wsgi.py, Fault._fault_names).
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
               409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 429: "overLimit",
               501: "notImplemented", 503: "serviceUnavailable"}


def nova_error(exc: CaasError) -> dict:
    return {FAULT_NAMES.get(exc.status, "computeFault"): {"code": exc.status, "message": exc.message}}


def version_doc(base: str, current: bool = True) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"},
                      {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


def legacy_version_doc(base: str) -> dict:
    """Nova's v2.0 (nova/api/openstack/compute/versions.py VERSIONS["v2.0"]): deprecated, no
    microversions."""
    return {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "", "updated": "2025-07-04T12:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2/"},
                      {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]}


def api_root(call: Call) -> str:
    """The URL of the API the request came in on: .../compute/v2.1, or .../compute/v2 for a
    legacy v2.0 request (Nova's links follow the request's own prefix)."""
    return f"{call.base_url}/compute/{'v2' if call.legacy else 'v2.1'}"


def build(cloud) -> ServiceAPI:
    from caas.api.compute import flavors, hypervisors, keypairs, quotas, server_groups, servers

    api = ServiceAPI("compute", nova_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, services=cloud,
                     microversions=Microversions("compute", MIN_VERSION, MAX_VERSION, "X-OpenStack-Nova-API-Version"),
                     legacy=Legacy("/v2.1", "/v2"),
                     # Nova's types, and text/plain (eventlet's default); others are 415
                     body_rules=BodyRules(types=(JSON_TYPE, "application/vnd.openstack.compute+json", "text/plain"),
                                          refusal="Unsupported Content-Type"))

    @api.route("GET", "/", unversioned=True, inline=True)
    def versions(call: Call) -> Response:
        # Nova's list: each version with its self link only
        keys = ("id", "status", "version", "min_version", "updated")
        docs = (legacy_version_doc(call.base_url), version_doc(call.base_url))
        return json_response({"versions": [{**{k: d[k] for k in keys}, "links": d["links"][:1]} for d in docs]})

    @api.route("GET", "/v2.1", inline=True)
    def version(call: Call) -> Response:
        return json_response({"version": version_doc(call.base_url)})

    api.route("GET", "/v2.1/", inline=True)(version)

    @api.route("GET", "/v2", unversioned=True, inline=True)
    def legacy_version(call: Call) -> Response:
        return json_response({"version": legacy_version_doc(call.base_url)})

    api.route("GET", "/v2/", unversioned=True, inline=True)(legacy_version)

    for module in (flavors, keypairs, server_groups, hypervisors, quotas, servers):
        api.add(module.ROUTES)
    return api
