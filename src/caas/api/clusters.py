"""Cluster as a Service over HTTP (mounted at /caas): ``/v1`` with clusters, their nodes and
events, the profiles, and the OpenAPI document (built in ``clusters_schemas`` with the bodies
it describes). Keystone tokens (project-scoped); a project sees only its own clusters, admins
may list every project's. Errors are ``{"error": {"code", "title", "message"}}``; a refusal
for quota adds ``shortfalls``. An empty query parameter is the same as none.
"""

from __future__ import annotations

from caas.api.clusters_schemas import MAX_SINCE, CreateBody, NodesBody, openapi
from caas.api.framework import Call, ServiceAPI, json_response
from caas.clusters.service import ClusterService, QuotaShortfall, Request
from caas.errors import BadRequest, CaasError
from caas.numbers import parse_int

# The largest event sequence number either backend stores (PostgreSQL's integer): a larger
# `since` is past every event, and PostgreSQL would refuse to compare with it.
MAX_SEQ = 2**31 - 1


def caas_error(exc: CaasError) -> dict:
    body = {"code": exc.status, "title": exc.title, "message": exc.message}
    if isinstance(exc, QuotaShortfall):
        body["shortfalls"] = exc.shortfalls
    return {"error": body}


def _text(call: Call, name: str) -> str | None:
    """A query parameter's value; an empty one is the same as none (as from a form's empty
    field)."""
    return call.query.get(name) or None


def _flag(call: Call, name: str) -> bool:
    """A boolean query parameter: true/false, 1/0 or yes/no in any case; absent or empty is
    false; anything else is 400."""
    value = _text(call, name)
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(f"Query parameter {name} must be true or false.")


def build(cloud) -> ServiceAPI:
    clusters: ClusterService = cloud.clusters
    api = ServiceAPI("caas", caas_error, max_body=cloud.settings.max_body_bytes, validate_token=cloud.tokens.validate)

    def version_doc(call: Call) -> dict:
        return {"id": "v1", "status": "CURRENT", "links": [{"rel": "self", "href": f"{call.base_url}/caas/v1/"},
                                                            {"rel": "describedby", "type": "application/json",
                                                             "href": f"{call.base_url}/caas/v1/openapi.json"}]}

    @api.route("GET", "/", inline=True)
    def versions(call: Call):
        return json_response({"versions": [version_doc(call)]}, status=300)

    @api.route("GET", "/v1", inline=True)
    def version(call: Call):
        return json_response({"version": version_doc(call)})

    api.route("GET", "/v1/", inline=True)(version)

    @api.route("GET", "/v1/openapi.json")
    def openapi_doc(call: Call):
        return json_response(openapi(f"{call.base_url}/caas/v1"))

    @api.route("GET", "/v1/profiles")
    def list_profiles(call: Call):
        return json_response({"profiles": clusters.profiles(call.project_auth())})

    @api.route("GET", "/v1/clusters")
    def list_clusters(call: Call):
        ctx = call.project_auth()
        return json_response({"clusters": clusters.list(ctx, _flag(call, "all_projects"), _text(call, "name"),
                                                        _text(call, "status"))})

    @api.route("POST", "/v1/clusters")
    def create_cluster(call: Call):
        ctx = call.project_auth()
        body = call.parse(CreateBody)
        b = body.cluster
        req = Request(name=b.name, image=b.image, profile=b.profile, profile_version=b.profile_version,
                      node_count=b.node_count, node_flavor=b.node_flavor, head_flavor=b.head_flavor,
                      key_name=b.key_name, keep_on_failure=b.keep_on_failure)
        if body.dry_run:
            return json_response({"plan": clusters.plan(ctx, req)})
        view, private = clusters.create(ctx, req)
        out = {"cluster": view}
        if private:
            out["private_key"] = private
        return json_response(out, status=202)

    @api.route("GET", "/v1/clusters/{ref}")
    def show_cluster(call: Call):
        return json_response({"cluster": clusters.show(call.project_auth(), call.params["ref"])})

    @api.route("DELETE", "/v1/clusters/{ref}")
    def delete_cluster(call: Call):
        return json_response({"cluster": clusters.delete(call.project_auth(), call.params["ref"])}, status=202)

    @api.route("GET", "/v1/clusters/{ref}/events")
    def cluster_events(call: Call):
        ctx = call.project_auth()
        since = parse_int(_text(call, "since") or "0", "since", 0, MAX_SINCE,
                          message=f"since must be an integer from 0 to {MAX_SINCE}.")
        return json_response({"events": clusters.events(ctx, call.params["ref"], min(since, MAX_SEQ))})

    @api.route("GET", "/v1/clusters/{ref}/nodes")
    def list_nodes(call: Call):
        return json_response({"nodes": clusters.nodes(call.project_auth(), call.params["ref"])})

    @api.route("POST", "/v1/clusters/{ref}/nodes")
    def add_nodes(call: Call):
        ctx = call.project_auth()
        b = call.parse(NodesBody).nodes
        view, names = clusters.add_nodes(ctx, call.params["ref"], b.count, b.names, b.flavor)
        return json_response({"cluster": view, "nodes": names}, status=202)

    @api.route("DELETE", "/v1/clusters/{ref}/nodes/{names}")
    def remove_nodes(call: Call):
        ctx = call.project_auth()
        view, names = clusters.remove_nodes(ctx, call.params["ref"], call.params["names"])
        return json_response({"cluster": view, "nodes": names}, status=202)

    return api
