"""The OpenAPI 3.1 document of ``/caas/v1``, built from the wire shapes in ``schemas``: every
schema a component, every ``$ref`` resolving inside it, every status an operation can answer
listed with its body."""

from __future__ import annotations

from typing import Any

from caas.api.clusters.schemas import JSON, MAX_SINCE, REF, component_schemas

ERRORS = {
    400: "Bad input: a body, query or path value that is malformed, of the wrong type or refused (the message says "
         "which)",
    401: "No token, or one that is not valid (missing, expired, revoked)",
    403: "Not allowed: a token not scoped to a project, or a role that may not do this",
    404: "No such cluster in the caller's project",
    409: "The cluster is busy (only an ACTIVE, idle cluster takes nodes or gives them up)",
    413: "The body is over the size limit (1 MiB unless configured otherwise)",
    415: "The body is not JSON",
    503: "The cloud did not answer the cluster service, or caas is overloaded (retry, after Retry-After seconds "
         "when given)",
}
AUTH = (400, 401, 403, 503)
ONE = AUTH + (404,)
BODY = (413, 415)


def _body(schema: str | dict, description: str) -> dict:
    """A response with a JSON body: ``schema`` a component's name, or a schema."""
    return {"description": description,
            "content": {JSON: {"schema": {"$ref": REF + schema} if isinstance(schema, str) else schema}}}


def _error(status: int, description: str | None) -> dict:
    out = _body("Error", description or ERRORS[status])
    if status == 401:
        out["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                               "description": "where to get a token"}}
    elif status == 503:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 0},
                                          "description": "seconds to wait before retrying (when overloaded)"}}
    return out


def _operation(op_id: str, summary: str, ok: dict[int, tuple[str | dict, str]], errors: tuple[int, ...],
               notes: dict[int, str] | None = None, links: dict[str, dict] | None = None, **extra: Any) -> dict:
    """One operation: its answers (``ok``: status -> (schema, description)) and every error
    status it can answer, each with the error body (``notes``: a description of its own).
    ``links``: the operations its 202 answer leads to (operationId -> link)."""
    responses = {str(s): _body(schema, text) | ({"links": links} if links and s == 202 else {})
                 for s, (schema, text) in ok.items()}
    responses.update({str(s): _error(s, (notes or {}).get(s)) for s in sorted(errors)})
    return {"operationId": op_id, "summary": summary, **extra, "responses": responses}


def _links(**targets: dict[str, str]) -> dict[str, dict]:
    """OpenAPI links: operationId -> its parameters, as runtime expressions on the answer."""
    return {op_id: {"operationId": op_id, "parameters": params} for op_id, params in targets.items()}


def _param(name: str, where: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def _json_body(schema: str) -> dict:
    return {"required": True, "content": {JSON: {"schema": {"$ref": REF + schema}}}}


# The parameters, the errors' own descriptions and the links the operations share.
REF_PARAM = _param("ref", "path", {"type": "string", "minLength": 1}, "the cluster's id or name")
NAMES_PARAM = _param("names", "path", {"type": "string", "minLength": 1},
                     "the nodes: a name (node002), a range (node0[04-05], node004..node005) or a list of them")
EMPTY = " An empty value is the same as none."
LIST_PARAMS = [
    _param("name", "query", {"type": "string"}, "only the cluster of this name." + EMPTY),
    _param("status", "query", {"type": "string"},
           "only the clusters in this status (CREATING, ACTIVE, UPDATING, DEGRADED, DELETING, ERROR; "
           "any case)." + EMPTY),
    _param("all_projects", "query", {"type": "boolean", "default": False},
           "every project's clusters (admins only, else 403); true, false, 1, 0, yes or no." + EMPTY),
]
SINCE_PARAM = _param("since", "query", {"type": "integer", "minimum": 0, "maximum": MAX_SINCE, "default": 0},
                     "only the events after this sequence number (to poll)." + EMPTY)
PUBLIC = {"security": []}
EVERY_PROJECT = {403: "all_projects asked for without the admin role, or a token not scoped to a project"}
TAKEN = {409: "The name is taken in this project (a cluster in ERROR that still owns resources included)"}
QUOTA = {403: "Not allowed, or it does not fit the project's quota or the cloud's capacity: `shortfalls` lists "
              "every shortfall, and nothing was created"}
NODES_BUSY = {409: "The cluster is busy (only an ACTIVE, idle cluster takes nodes), or it has a node of that "
                   "name or number already"}
NODE_404 = {404: "No such cluster in the caller's project, or the cluster has no node of that name"}
# Where an answer leads: the cluster it names, by id (clients and schemathesis follow these).
CLUSTER = {"ref": "$response.body#/cluster/id"}
ON_CLUSTER = _links(showCluster=CLUSTER, listClusterEvents=CLUSTER, listClusterNodes=CLUSTER,
                    addClusterNodes=CLUSTER, deleteCluster=CLUSTER)
ON_NODES = {**ON_CLUSTER, **_links(removeClusterNodes={**CLUSTER, "names": "$response.body#/nodes/0"})}


def openapi(base: str) -> dict:
    """The OpenAPI 3.1 document of the API served at ``base`` (``.../caas/v1``)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "caas clusters", "version": "1",
                 "description": "Cluster as a Service: a head node and compute nodes on a network of their own. "
                                "Project-scoped Keystone tokens in X-Auth-Token; a project sees only its clusters."},
        "servers": [{"url": base}],
        "security": [{"keystone": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"keystone": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                                             "description": "a project-scoped Keystone token"}},
            "schemas": component_schemas(),
        },
    }


def _paths() -> dict:
    """Every path of the API with its operations."""
    return {
        "/": {"get": _operation("showVersion", "This version of the API", {200: ("VersionBody", "The version")},
                                (400, 503), **PUBLIC)},
        "/openapi.json": {"get": _operation("showOpenAPI", "This document",
                                            {200: ({"type": "object"}, "The OpenAPI document")}, (400, 503),
                                            **PUBLIC)},
        "/profiles": {"get": _operation("listProfiles", "Profiles and their versions",
                                        {200: ("ProfileList", "The profiles")}, AUTH)},
        "/clusters": {
            "get": _operation("listClusters", "The project's clusters (all_projects: every project's, admins)",
                              {200: ("ClusterList", "The clusters, oldest first")}, AUTH, EVERY_PROJECT,
                              parameters=LIST_PARAMS),
            "post": _operation("createCluster", "Create a cluster (dry_run: the plan only)",
                               {200: ("PlanBody", "The plan (dry_run): what would be made, the quota it "
                                                  "would use and every shortfall; nothing is created"),
                                202: ("CreateAccepted", "Accepted: the cluster is CREATING; poll it or its "
                                                        "events")},
                               AUTH + (409,) + BODY, {**QUOTA, **TAKEN}, ON_CLUSTER,
                               requestBody=_json_body("CreateBody")),
        },
        "/clusters/{ref}": {
            "parameters": [REF_PARAM],
            "get": _operation("showCluster", "A cluster with its nodes", {200: ("ClusterBody", "The cluster")},
                              ONE),
            "delete": _operation("deleteCluster", "Delete a cluster and everything it owns (again: harmless)",
                                 {202: ("ClusterBody", "Accepted: the cluster is DELETING; it is gone (404) "
                                                       "when done")}, ONE + BODY),
        },
        "/clusters/{ref}/events": {
            "parameters": [REF_PARAM],
            "get": _operation("listClusterEvents", "The cluster's events after sequence number `since`",
                              {200: ("EventList", "The events, in order (at most 5000)")}, ONE,
                              parameters=[SINCE_PARAM]),
        },
        "/clusters/{ref}/nodes": {
            "parameters": [REF_PARAM],
            "get": _operation("listClusterNodes", "The cluster's nodes, the head first",
                              {200: ("NodeList", "The nodes")}, ONE),
            "post": _operation("addClusterNodes", "Add nodes by count or by names",
                               {202: ("NodesChange", "Accepted: the cluster is UPDATING")},
                               ONE + (409,) + BODY, {**QUOTA, **NODES_BUSY}, ON_NODES,
                               requestBody=_json_body("NodesBody")),
        },
        "/clusters/{ref}/nodes/{names}": {
            "parameters": [REF_PARAM, NAMES_PARAM],
            "delete": _operation("removeClusterNodes", "Remove the named compute nodes",
                                 {202: ("NodesChange", "Accepted: the cluster is UPDATING")},
                                 ONE + (409,) + BODY, NODE_404, ON_CLUSTER),
        },
        **_more_paths(),
    }


def _more_paths() -> dict:
    """The paths of elastic clusters and of their samples."""
    return {
        "/clusters/{ref}/scale": {
            "parameters": [REF_PARAM],
            "post": _operation("scaleCluster", "Slurm's power saving: resume or suspend an elastic cluster's nodes",
                               {200: ("NodesChange", "Nothing to do (the nodes are already as asked)"),
                                202: ("NodesChange", "Accepted: the cluster is UPDATING")},
                               ONE + (409,) + BODY, {**QUOTA, 409: "The cluster is busy, or not elastic"}, ON_CLUSTER,
                               requestBody=_json_body("ScaleBody")),
        },
        "/clusters/{ref}/elastic": {
            "parameters": [REF_PARAM],
            "put": _operation("setClusterElastic", "Make a slurm cluster elastic, or change its min_nodes, max_nodes "
                              "and idle_time", {202: ("ClusterBody", "Accepted: the cluster is UPDATING (its "
                                                                     "slurm.conf rewritten on the head)")},
                              ONE + (409,) + BODY, {409: "The cluster is busy, or has nodes beyond max_nodes"},
                              ON_CLUSTER, requestBody=_json_body("ElasticBody")),
        },
        "/clusters/{ref}/samples": {
            "parameters": [REF_PARAM],
            "get": _operation("listClusterSamples", "The cluster's size and queue over the last day (a sample at "
                              "every change, at most every 30 s)", {200: ("SampleList", "The samples, oldest first")},
                              ONE),
        },
    }
