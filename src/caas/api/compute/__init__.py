"""Compute v2.1 over HTTP (mounted at /compute): version discovery and microversions (2.1 to
MAX_VERSION, each honoured exactly), and one module per noun, each with ``register(api, cloud)``:
flavors, keypairs, server groups, servers (+ actions, volume attachments), hypervisors and
availability zones, quota sets and limits. Errors in Nova's format ``{"itemNotFound": {"code",
"message"}}``."""

from __future__ import annotations

from starlette.responses import Response

from caas.api.framework import JSON_TYPE, BodyRules, Call, Microversions, ServiceAPI, json_response
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


def build(cloud) -> ServiceAPI:
    from caas.api.compute import flavors, hypervisors, keypairs, quotas, server_groups, servers

    api = ServiceAPI("compute", nova_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate,
                     microversions=Microversions("compute", MIN_VERSION, MAX_VERSION, "X-OpenStack-Nova-API-Version"),
                     # Nova's types, and text/plain (eventlet's default); others are 415
                     body_rules=BodyRules(types=(JSON_TYPE, "application/vnd.openstack.compute+json", "text/plain"),
                                          refusal="Unsupported Content-Type"))

    @api.route("GET", "/", unversioned=True, inline=True)
    def versions(call: Call) -> Response:
        base = call.base_url
        v20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
               "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": f"{base}/compute/v2/"}]}
        return json_response({"versions": [v20, version_doc(base)]})

    @api.route("GET", "/v2.1", inline=True)
    def version(call: Call) -> Response:
        return json_response({"version": version_doc(call.base_url)})

    api.route("GET", "/v2.1/", inline=True)(version)

    for module in (flavors, keypairs, server_groups, servers, hypervisors, quotas):
        module.register(api, cloud)
    return api
