"""The routes of ``/caas/v1`` as one table (``ROUTES``) of module-level handlers: version
discovery, the OpenAPI document, profiles, clusters, their events and nodes. Handlers reach the
cluster service through ``call.services`` (the cloud)."""

from __future__ import annotations

from caas.api.clusters.openapi import openapi
from caas.api.clusters.schemas import MAX_SINCE, CreateBody, ElasticBody, NodesBody, ScaleBody
from caas.api.framework import Call, Endpoint, json_response
from caas.clusters.planning import Request
from caas.errors import BadRequest
from caas.numbers import parse_int

# The largest event sequence number either backend stores (PostgreSQL's integer): a larger
# `since` is past every event, and PostgreSQL would refuse to compare with it.
MAX_SEQ = 2**31 - 1


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


def version_doc(call: Call) -> dict:
    return {"id": "v1", "status": "CURRENT", "links": [{"rel": "self", "href": f"{call.base_url}/caas/v1/"},
                                                        {"rel": "describedby", "type": "application/json",
                                                         "href": f"{call.base_url}/caas/v1/openapi.json"}]}


def versions(call: Call):
    return json_response({"versions": [version_doc(call)]}, status=300)


def version(call: Call):
    return json_response({"version": version_doc(call)})


def openapi_doc(call: Call):
    return json_response(openapi(f"{call.base_url}/caas/v1"))


def list_profiles(call: Call):
    return json_response({"profiles": call.services.clusters.profiles(call.project_auth())})


def list_clusters(call: Call):
    ctx = call.project_auth()
    found = call.services.clusters.list(ctx, _flag(call, "all_projects"), _text(call, "name"), _text(call, "status"))
    return json_response({"clusters": found})


def create_cluster(call: Call):
    ctx = call.project_auth()
    body = call.parse(CreateBody)
    b = body.cluster
    req = Request(name=b.name, image=b.image, profile=b.profile, profile_version=b.profile_version,
                  node_count=b.node_count, node_flavor=b.node_flavor, head_flavor=b.head_flavor,
                  key_name=b.key_name, keep_on_failure=b.keep_on_failure, ready=b.ready, network=b.network,
                  external_network=b.external_network, users=b.users, partitions=b.partitions,
                  home_size=b.home_size, min_nodes=b.min_nodes, max_nodes=b.max_nodes, idle_time=b.idle_time)
    if body.dry_run:
        return json_response({"plan": call.services.clusters.plan(ctx, req)})
    view, private = call.services.clusters.create(ctx, req)
    out = {"cluster": view}
    if private:
        out["private_key"] = private
    return json_response(out, status=202)


def show_cluster(call: Call):
    return json_response({"cluster": call.services.clusters.show(call.project_auth(), call.params["ref"])})


def delete_cluster(call: Call):
    return json_response({"cluster": call.services.clusters.delete(call.project_auth(), call.params["ref"])},
                         status=202)


def cluster_events(call: Call):
    ctx = call.project_auth()
    since = parse_int(_text(call, "since") or "0", "since", 0, MAX_SINCE,
                      message=f"since must be an integer from 0 to {MAX_SINCE}.")
    return json_response({"events": call.services.clusters.events(ctx, call.params["ref"], min(since, MAX_SEQ))})


def cluster_samples(call: Call):
    return json_response({"samples": call.services.clusters.samples(call.project_auth(), call.params["ref"])})


def list_nodes(call: Call):
    return json_response({"nodes": call.services.clusters.nodes(call.project_auth(), call.params["ref"])})


def add_nodes(call: Call):
    ctx = call.project_auth()
    b = call.parse(NodesBody).nodes
    view, names = call.services.clusters.add_nodes(ctx, call.params["ref"], b.count, b.names, b.flavor)
    return json_response({"cluster": view, "nodes": names}, status=202)


def set_elastic(call: Call):
    b = call.parse(ElasticBody).elastic
    view = call.services.clusters.set_elastic(call.project_auth(), call.params["ref"], b.min_nodes, b.max_nodes,
                                              b.idle_time)
    return json_response({"cluster": view}, status=202)


def scale_cluster(call: Call):
    ctx = call.project_auth()
    b = call.parse(ScaleBody).scale
    view, names = call.services.clusters.scale(ctx, call.params["ref"], b.action, b.names)
    return json_response({"cluster": view, "nodes": names}, status=202 if names else 200)


def remove_nodes(call: Call):
    ctx = call.project_auth()
    view, names = call.services.clusters.remove_nodes(ctx, call.params["ref"], call.params["names"])
    return json_response({"cluster": view, "nodes": names}, status=202)


ROUTES = [
    Endpoint("GET", "/", versions, inline=True),
    Endpoint("GET", "/v1", version, inline=True),
    Endpoint("GET", "/v1/", version, inline=True),
    Endpoint("GET", "/v1/openapi.json", openapi_doc),
    Endpoint("GET", "/v1/profiles", list_profiles),
    Endpoint("GET", "/v1/clusters", list_clusters),
    Endpoint("POST", "/v1/clusters", create_cluster),
    Endpoint("GET", "/v1/clusters/{ref}", show_cluster),
    Endpoint("DELETE", "/v1/clusters/{ref}", delete_cluster),
    Endpoint("GET", "/v1/clusters/{ref}/events", cluster_events),
    Endpoint("GET", "/v1/clusters/{ref}/nodes", list_nodes),
    Endpoint("GET", "/v1/clusters/{ref}/samples", cluster_samples),
    Endpoint("POST", "/v1/clusters/{ref}/nodes", add_nodes),
    Endpoint("DELETE", "/v1/clusters/{ref}/nodes/{names}", remove_nodes),
    Endpoint("POST", "/v1/clusters/{ref}/scale", scale_cluster),
    Endpoint("PUT", "/v1/clusters/{ref}/elastic", set_elastic),
]
