"""Cluster as a Service over HTTP (mounted at /caas): ``/v1`` with clusters, their nodes and
events, the profiles, and an OpenAPI document. Keystone tokens (project-scoped); a project sees
only its own clusters, admins may list every project's. Errors are
``{"error": {"code", "title", "message"}}``; a refusal for quota adds ``shortfalls``.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from caas.api.framework import Call, ServiceAPI, json_response
from caas.clusters.profiles import PROFILES
from caas.clusters.service import ClusterService, QuotaShortfall, Request
from caas.errors import BadRequest, CaasError
from caas.numbers import parse_int

Text = Field(default=None, min_length=1, max_length=255)


class ClusterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=255)
    image: Optional[StrictStr] = Text
    profile: StrictStr = Field(default="base", min_length=1, max_length=64)
    profile_version: Optional[StrictStr] = Field(default=None, min_length=1, max_length=32)
    node_count: StrictInt = 0
    node_flavor: Optional[StrictStr] = Text
    head_flavor: Optional[StrictStr] = Text
    key_name: Optional[StrictStr] = Text
    keep_on_failure: StrictBool = False


class CreateBody(BaseModel):
    cluster: ClusterCreate
    dry_run: StrictBool = False


class NodesAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Optional[StrictInt] = None
    names: Optional[StrictStr] = Field(default=None, min_length=1, max_length=4096)
    flavor: Optional[StrictStr] = Text


class NodesBody(BaseModel):
    nodes: NodesAdd


def caas_error(exc: CaasError) -> dict:
    body = {"code": exc.status, "title": exc.title, "message": exc.message}
    if isinstance(exc, QuotaShortfall):
        body["shortfalls"] = exc.shortfalls
    return {"error": body}


def openapi(base: str) -> dict:
    ref = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "cluster id or name"}
    ok = {"description": "OK"}
    accepted = {"description": "Accepted: the work runs in the background; poll the cluster or its events"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "caas clusters", "version": "1"},
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {"keystone": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
            "schemas": {"ClusterCreate": CreateBody.model_json_schema(), "NodesAdd": NodesBody.model_json_schema()},
        },
        "security": [{"keystone": []}],
        "paths": {
            "/profiles": {"get": {"summary": "Profiles and their versions", "responses": {"200": ok}}},
            "/clusters": {
                "get": {"summary": "The project's clusters (all_projects=true: every project's, admins)",
                        "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                       for n in ("name", "status", "all_projects")], "responses": {"200": ok}},
                "post": {"summary": "Create a cluster (dry_run: the plan only)",
                         "requestBody": {"content": {"application/json": {"schema": {
                             "$ref": "#/components/schemas/ClusterCreate"}}}},
                         "responses": {"202": accepted, "200": {"description": "the plan (dry_run)"},
                                       "400": {"description": "invalid"},
                                       "403": {"description": "does not fit the quota (shortfalls listed)"},
                                       "409": {"description": "name taken"}}}},
            "/clusters/{ref}": {"parameters": [ref], "get": {"summary": "A cluster with its nodes",
                                                             "responses": {"200": ok, "404": {"description": "no such cluster"}}},
                                "delete": {"summary": "Delete a cluster and everything it owns", "responses": {"202": accepted}}},
            "/clusters/{ref}/events": {"parameters": [ref], "get": {
                "summary": "Events after sequence number `since`",
                "parameters": [{"name": "since", "in": "query", "schema": {"type": "integer"}}], "responses": {"200": ok}}},
            "/clusters/{ref}/nodes": {"parameters": [ref], "get": {"summary": "The cluster's nodes", "responses": {"200": ok}},
                                      "post": {"summary": "Add nodes by count or by names (node0[04-05])",
                                               "requestBody": {"content": {"application/json": {"schema": {
                                                   "$ref": "#/components/schemas/NodesAdd"}}}},
                                               "responses": {"202": accepted}}},
            "/clusters/{ref}/nodes/{names}": {"parameters": [ref, {"name": "names", "in": "path", "required": True,
                                                                   "schema": {"type": "string"}}],
                                              "delete": {"summary": "Remove the named nodes (a name or a range)",
                                                         "responses": {"202": accepted}}},
        },
    }


def _flag(value: str | None, name: str) -> bool:
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

    @api.route("GET", "/")
    def versions(call: Call):
        return json_response({"versions": [version_doc(call)]}, status=300)

    @api.route("GET", "/v1")
    def version(call: Call):
        return json_response({"version": version_doc(call)})

    api.route("GET", "/v1/")(version)

    @api.route("GET", "/v1/openapi.json")
    def openapi_doc(call: Call):
        return json_response(openapi(f"{call.base_url}/caas/v1"))

    @api.route("GET", "/v1/profiles")
    def list_profiles(call: Call):
        call.project_auth()
        return json_response({"profiles": [p.view() for p in PROFILES.values()]})

    @api.route("GET", "/v1/clusters")
    def list_clusters(call: Call):
        ctx = call.project_auth()
        q = call.query
        return json_response({"clusters": clusters.list(ctx, _flag(q.get("all_projects"), "all_projects"),
                                                        q.get("name"), q.get("status"))})

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
        since = parse_int(call.query.get("since", "0"), "since", 0, message="since must be a non-negative integer.")
        return json_response({"events": clusters.events(ctx, call.params["ref"], since)})

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
