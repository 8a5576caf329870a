"""Network v2.0's routes as one table (``ROUTES``) of module-level handlers: discovery and
extensions, the CRUD nouns (declared once each in ``NOUNS``), their tags, router interfaces and
quotas. Handlers reach the network service through ``call.services`` (the cloud): they turn a
body into the service's typed request (``schemas``), hand it Neutron's policy check
(``policy``) and render what it returns (``views``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from pydantic import BaseModel
from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.network import extensions, listing, policy, views
from caas.api.network import schemas as S
from caas.errors import BadRequest, Forbidden, NotFound
from caas.network import requests as R
from caas.network.service import NetworkService as N
from caas.network.tags import TAGGABLE

RESOURCES = ["networks", "subnets", "ports", "routers", "floatingips", "security-groups", "security-group-rules",
             "quotas", "extensions"]


@dataclass(frozen=True)
class Noun:
    """One CRUD noun of Neutron: its collection path, body key, request models (the body's
    and the service's), its view, and the NetworkService methods behind its five routes.
    ``sql_filters``: ``list`` also takes the list's filters (``where``), to skip in its query
    what the list would drop."""

    collection: str
    key: str
    create_model: type[BaseModel]
    update_model: type[BaseModel]
    create_request: type
    update_request: type
    view: Callable
    list: Callable
    show: Callable
    create: Callable
    update: Callable
    delete: Callable
    sql_filters: bool = False


NOUNS = [
    Noun("networks", "network", S.NetworkCreate, S.NetworkUpdate, R.NetworkCreate, R.NetworkChanges, views.network,
         N.list_networks, N.show_network, N.create_network, N.update_network, N.delete_network),
    Noun("subnets", "subnet", S.SubnetCreate, S.SubnetUpdate, R.SubnetCreate, R.SubnetChanges, views.subnet,
         N.list_subnets, N.show_subnet, N.create_subnet, N.update_subnet, N.delete_subnet),
    Noun("ports", "port", S.PortCreate, S.PortUpdate, R.PortCreate, R.PortChanges, views.port,
         N.list_ports, N.show_port, N.create_port, N.update_port, N.delete_port, sql_filters=True),
    Noun("routers", "router", S.RouterCreate, S.RouterUpdate, R.RouterCreate, R.RouterChanges, views.router,
         N.list_routers, N.show_router, N.create_router, N.update_router, N.delete_router),
    Noun("floatingips", "floatingip", S.FloatingIPCreate, S.FloatingIPUpdate, R.FloatingIPCreate,
         R.FloatingIPChanges, views.floating_ip, N.list_floating_ips, N.show_floating_ip, N.create_floating_ip,
         N.update_floating_ip, N.delete_floating_ip),
    Noun("security-groups", "security_group", S.SecurityGroupCreate, S.SecurityGroupUpdate, R.GroupCreate,
         R.GroupChanges, views.security_group, N.list_security_groups, N.show_security_group,
         N.create_security_group, N.update_security_group, N.delete_security_group),
    Noun("security-group-rules", "security_group_rule", S.RuleCreate, S.RuleUpdate, R.RuleCreate, R.RuleChanges,
         views.rule, N.list_security_group_rules, N.show_security_group_rule, N.create_security_group_rule,
         N.update_security_group_rule, N.delete_security_group_rule),
]
# The port list's filters that its query applies too: Neutron's name -> the port's column.
PORT_FILTERS = {"device_id": "device_id", "device_owner": "device_owner", "network_id": "network_id",
                "project_id": "project_id", "tenant_id": "project_id", "mac_address": "mac_address"}


def auth(call: Call):
    """The caller's project context (a reader-only token may not write); the project's
    ``default`` security group exists from its first request on."""
    ctx = call.project_auth()
    if call.request.method in ("POST", "PUT", "DELETE") and not ctx.may_write:
        # A token whose only role is reader only reads (as compute, volumes and images).
        raise Forbidden(f"{call.request.method} on {call.request.url.path} is disallowed by policy: the token's "
                        "only role on the project is reader.", kind="PolicyNotAuthorized")
    call.services.network.ensure_default_security_group(ctx.project_id)
    return ctx


def v2(call: Call) -> str:
    return call.base_url + "/network/v2.0"


def one(key: str, item: dict, call: Call, status: int = 200) -> Response:
    """``{key: item}``, cut down to the ``fields`` the query names."""
    wanted = [f for raw in call.query.getlist("fields") for f in raw.split(",") if f]
    if wanted:
        item = {k: v for k, v in item.items() if k in wanted}
    return json_response({key: item}, status=status)


# ---- discovery -----------------------------------------------------------------------------
def versions(call: Call) -> Response:
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                        "links": [{"rel": "self", "href": v2(call) + "/"}]}]})


def resources(call: Call) -> Response:
    return json_response({"resources": [{"name": n[:-1] if n.endswith("s") else n, "collection": n,
                                         "links": [{"rel": "self", "href": f"{v2(call)}/{n}"}]} for n in RESOURCES]})


def list_extensions(call: Call) -> Response:
    call.auth()
    return json_response({"extensions": [extensions.describe(alias) for alias in extensions.EXTENSIONS]})


def show_extension(call: Call) -> Response:
    call.auth()
    alias = call.params["alias"]
    if alias not in extensions.EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist", kind="HTTPNotFound")
    return json_response({"extension": extensions.describe(alias)})


# ---- the CRUD nouns (``noun`` bound in the table) ------------------------------------------
def list_items(call: Call, noun: Noun) -> Response:
    ctx = auth(call)
    net, q = call.services.network, call.query
    if noun.sql_filters:
        where = [(PORT_FILTERS[k], q.getlist(k)) for k in dict.fromkeys(q.keys()) if k in PORT_FILTERS]
        records = noun.list(net, ctx, where=where)
    else:
        records = noun.list(net, ctx)
    items = [noun.view(r) for r in records]
    return json_response(listing.apply(items, q, f"{v2(call)}/{noun.collection}", noun.collection.replace("-", "_")))


def _checked(action: str, model: BaseModel) -> dict:
    """The service's ``authorize`` argument for ``action`` when Neutron's policy has rules for
    it (none otherwise)."""
    return {"authorize": policy.checker(action, S.fields(model))} if action in policy.RULES else {}


def create_item(call: Call, noun: Noun) -> Response:
    model = getattr(call.parse(wrapped(noun.key, noun.create_model)), noun.key)
    record = noun.create(call.services.network, auth(call), S.request(model, noun.create_request),
                         **_checked(f"create_{noun.key}", model))
    return one(noun.key, noun.view(record), call, status=201)


def show_item(call: Call, noun: Noun) -> Response:
    return one(noun.key, noun.view(noun.show(call.services.network, auth(call), call.params["id"])), call)


def update_item(call: Call, noun: Noun) -> Response:
    model = getattr(call.parse(wrapped(noun.key, noun.update_model)), noun.key)
    record = noun.update(call.services.network, auth(call), call.params["id"], S.request(model, noun.update_request),
                         **_checked(f"update_{noun.key}", model))
    return one(noun.key, noun.view(record), call)


def delete_item(call: Call, noun: Noun) -> Response:
    noun.delete(call.services.network, auth(call), call.params["id"])
    return empty()


# ---- tags (standard-attr-tag, tag-creation; ``collection`` bound in the table) ---------------
def list_tags(call: Call, collection: str) -> Response:
    return json_response({"tags": call.services.network.get_tags(auth(call), collection, call.params["id"])})


def replace_tags(call: Call, collection: str) -> Response:
    tags = call.parse(S.TagList).tags
    return json_response({"tags": call.services.network.set_tags(auth(call), collection, call.params["id"], tags)})


def create_tags(call: Call, collection: str) -> Response:
    tags = call.parse(S.TagList).tags
    return json_response({"tags": call.services.network.add_tags(auth(call), collection, call.params["id"], tags)})


def clear_tags(call: Call, collection: str) -> Response:
    call.services.network.clear_tags(auth(call), collection, call.params["id"])
    return empty()


def check_tag(call: Call, collection: str) -> Response:
    call.services.network.check_tag(auth(call), collection, call.params["id"], call.params["tag"])
    return empty()


def add_tag(call: Call, collection: str) -> Response:
    call.services.network.add_tags(auth(call), collection, call.params["id"], [call.params["tag"]])
    return empty(201)


def remove_tag(call: Call, collection: str) -> Response:
    call.services.network.remove_tag(auth(call), collection, call.params["id"], call.params["tag"])
    return empty()


# ---- router interfaces ---------------------------------------------------------------------
def add_interface(call: Call) -> Response:
    req = S.request(call.parse(S.RouterInterface), R.InterfaceRequest)
    return json_response(views.interface(call.services.network.add_router_interface(auth(call), call.params["id"], req)))


def remove_interface(call: Call) -> Response:
    req = S.request(call.parse(S.RouterInterface), R.InterfaceRequest)
    interface = call.services.network.remove_router_interface(auth(call), call.params["id"], req)
    return json_response(views.interface(interface))


# ---- quotas --------------------------------------------------------------------------------
def _project(call: Call) -> str:
    project_id = call.params["project_id"]
    project_id = project_id[:-5] if project_id.endswith(".json") else project_id
    if not 1 <= len(project_id) <= 64:
        raise BadRequest(f"Invalid input: '{project_id[:80]}' is not a valid project id.", kind="InvalidInput")
    return project_id


def list_quotas(call: Call) -> Response:
    return json_response({"quotas": views.quotas(call.services.network.list_quotas(auth(call)))})


def show_quota(call: Call) -> Response:
    return json_response({"quota": call.services.network.show_quota(auth(call), _project(call))})


def default_quota(call: Call) -> Response:
    return json_response({"quota": call.services.network.default_quota(auth(call), _project(call))})


def quota_details(call: Call) -> Response:
    return json_response({"quota": call.services.network.quota_details(auth(call), _project(call))})


def update_quota(call: Call) -> Response:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise BadRequest("Invalid input: the body must be {\"quota\": {resource: limit}}.", kind="HTTPBadRequest")
    limits = dict(body["quota"])
    # quota-check-limit: refuse a limit below what the project already uses.
    check = limits.pop("check_limit", False)
    limits.pop("force", None)
    found = call.services.network.update_quota(auth(call), _project(call), limits, check=bool(check))
    return json_response({"quota": found})


def reset_quota(call: Call) -> Response:
    call.services.network.reset_quota(auth(call), _project(call))
    return empty()


def noun_rows(noun: Noun) -> list[Endpoint]:
    """The five routes of a noun; the collection's also with ``.json`` (as Neutron)."""
    base = f"/v2.0/{noun.collection}"
    rows = []
    for path, method, fn in ((base, "GET", list_items), (base, "POST", create_item), (base + "/{id}", "GET", show_item),
                             (base + "/{id}", "PUT", update_item), (base + "/{id}", "DELETE", delete_item)):
        handler = partial(fn, noun=noun)
        rows.append(Endpoint(method, path, handler))
        if not path.endswith("}"):
            rows.append(Endpoint(method, path + ".json", handler))
    return rows


def tag_rows(collection: str) -> list[Endpoint]:
    """The tag routes of a collection; a tag may hold a "/" (set through the body of PUT or
    POST .../tags): in a path, it takes the rest of it."""
    base = f"/v2.0/{collection}/{{id}}/tags"
    one_tag = base + "/{tag:path}"
    return [Endpoint(method, path, partial(fn, collection=collection)) for method, path, fn in (
        ("GET", base, list_tags), ("PUT", base, replace_tags), ("POST", base, create_tags),
        ("DELETE", base, clear_tags), ("GET", one_tag, check_tag), ("PUT", one_tag, add_tag),
        ("DELETE", one_tag, remove_tag))]


ROUTES = [
    Endpoint("GET", "/", versions, inline=True),
    Endpoint("GET", "/v2.0", resources, inline=True),
    Endpoint("GET", "/v2.0/", resources, inline=True),
    Endpoint("GET", "/v2.0/extensions", list_extensions),
    Endpoint("GET", "/v2.0/extensions/{alias}", show_extension),
    *[row for noun in NOUNS for row in noun_rows(noun)],
    *[row for collection in TAGGABLE for row in tag_rows(collection)],
    Endpoint("PUT", "/v2.0/routers/{id}/add_router_interface", add_interface),
    Endpoint("PUT", "/v2.0/routers/{id}/remove_router_interface", remove_interface),
    Endpoint("GET", "/v2.0/quotas", list_quotas),
    Endpoint("GET", "/v2.0/quotas/{project_id}", show_quota),
    Endpoint("GET", "/v2.0/quotas/{project_id}/default", default_quota),
    Endpoint("GET", "/v2.0/quotas/{project_id}/details", quota_details),
    Endpoint("GET", "/v2.0/quotas/{project_id}/details.json", quota_details),
    Endpoint("PUT", "/v2.0/quotas/{project_id}", update_quota),
    Endpoint("DELETE", "/v2.0/quotas/{project_id}", reset_quota),
]
