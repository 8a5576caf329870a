"""Network v2.0 over HTTP (mounted at /network): version discovery, extensions, networks,
subnets, ports, routers (and their interfaces), floating IPs, security groups and rules, their
tags (``/{collection}/{id}/tags``), quotas. Errors in Neutron's format
``{"NeutronError": {"type", "message", "detail"}}``."""

from __future__ import annotations

from starlette.responses import Response

from caas.api import listing
from caas.api import network_schemas as S
from caas.api.framework import BodyRules, Call, ServiceAPI, empty, json_response, wrapped
from caas.errors import BadRequest, CaasError, Forbidden, NotFound
from caas.network.tags import TAGGABLE

# What Neutron's GET /v2.0/extensions says of each extension caas implements: alias -> (name,
# description, updated), verbatim from neutron-lib's API definitions (the real service's answer).
# standard-attr-tag's name lists the resources that take tags: caas's, not Neutron's longer list.
EXTENSIONS = {
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application",
                "2014-02-03T10:00:00-00:00"),
    "external-net": ("Neutron external network", "Adds external network attribute to network resource.",
                     "2013-01-14T10:00:00-00:00"),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for "
                    "specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00"),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00"),
    "l3-port-ip-change-not-allowed": ("Prevent L3 router ports IP address change extension",
                                      "Prevent change of IP address for some L3 router ports",
                                      "2018-10-09T10:00:00-00:00"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00"),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled.",
                   "2016-06-12T00:00:00-00:00"),
    "port-security": ("Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id field is enabled.",
                   "2016-09-09T09:09:09-09:09"),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks",
                 "2012-09-07T10:00:00-00:00"),
    "quotas": ("Quota management support", "Expose functions for quotas management per project",
               "2012-07-29T10:00:00-00:00"),
    "quota_details": ("Quota details management support", "Expose functions for quotas usage statistics per project",
                      "2017-02-10T10:00:00-00:00"),
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and "
               "access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00"),
    "security-group": ("security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00"),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00"),
    "standard-attr-description": ("standard-attr-description", "Extension to add descriptions to standard "
                                  "attributes", "2016-02-10T10:00:00-00:00"),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display the revision number of "
                                "neutron resources.", "2016-04-11T10:00:00-00:00"),
    "standard-attr-tag": ("Tag support for resources with standard attribute: network, subnet, port, router, "
                          "floatingip, security_group", "Enables to set tag on resources with standard attribute.",
                          "2017-01-01T00:00:00-00:00"),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at fields to all Neutron "
                                "resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00"),
    "stateful-security-group": ("Stateful security group", "Indicates if the security group is stateful or not",
                                "2019-11-26T09:00:00-00:00"),
    "subnet-external-network": ("Subnet belongs to an external network", "Informs if the subnet belongs to an "
                                "external network", "2024-02-05T18:00:00-00:00"),
    "tag-creation": ("Tag creation extension", "Allow to create multiple tags for a resource",
                     "2024-23-07T10:00:00-00:00"),
    "tag-ports-during-bulk-creation": ("Tag Ports During Bulk Creation", "Allow to tag ports during bulk creation",
                                       "2019-12-29T19:00:00-00:00"),
}


def neutron_error(exc: CaasError) -> dict:
    return {"NeutronError": {"type": exc.kind, "message": exc.message, "detail": ""}}


def build(cloud) -> ServiceAPI:
    net = cloud.network
    api = ServiceAPI("network", neutron_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, body_rules=BodyRules(types=None))  # any type, as Neutron

    def auth(call: Call):
        ctx = call.project_auth()
        if call.request.method in ("POST", "PUT", "DELETE") and not ctx.may_write:
            # A token whose only role is reader only reads (as compute, volumes and images).
            raise Forbidden(f"{call.request.method} on {call.request.url.path} is disallowed by policy: the token's "
                            "only role on the project is reader.", kind="PolicyNotAuthorized")
        net.ensure_default_security_group(ctx.project_id)
        return ctx

    def v2(call: Call) -> str:
        return call.base_url + "/network/v2.0"

    def one(key: str, item: dict, call: Call, status: int = 200) -> Response:
        wanted = [f for raw in call.query.getlist("fields") for f in raw.split(",") if f]
        if wanted:
            item = {k: v for k, v in item.items() if k in wanted}
        return json_response({key: item}, status=status)

    # ---- discovery -----------------------------------------------------------------------
    @api.route("GET", "/", inline=True)
    def versions(call: Call) -> Response:
        return json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": v2(call) + "/"}]}]})

    @api.route("GET", "/v2.0", inline=True)
    def resources(call: Call) -> Response:
        names = ["networks", "subnets", "ports", "routers", "floatingips", "security-groups",
                 "security-group-rules", "quotas", "extensions"]
        return json_response({"resources": [{"name": n[:-1] if n.endswith("s") else n, "collection": n,
                                             "links": [{"rel": "self", "href": f"{v2(call)}/{n}"}]} for n in names]})

    api.route("GET", "/v2.0/", inline=True)(resources)

    @api.route("GET", "/v2.0/extensions")
    def extensions(call: Call) -> Response:
        call.auth()
        return json_response({"extensions": [_ext(alias) for alias in EXTENSIONS]})

    @api.route("GET", "/v2.0/extensions/{alias}")
    def extension(call: Call) -> Response:
        call.auth()
        alias = call.params["alias"]
        if alias not in EXTENSIONS:
            raise NotFound(f"Extension with alias {alias} does not exist", kind="HTTPNotFound")
        return json_response({"extension": _ext(alias)})

    # ---- the CRUD nouns ------------------------------------------------------------------
    def crud(collection: str, key: str, create_model, update_model, list_fn, show_fn, create_fn, update_fn,
             delete_fn, sql_filters: bool = False) -> None:
        """The five routes of a noun. ``sql_filters``: ``list_fn`` also takes the list's filters
        (``where``), to skip in its query what the list would drop."""
        base = f"/v2.0/{collection}"

        def do_list(call: Call) -> Response:
            ctx = auth(call)
            q = call.query
            items = list_fn(ctx, where={k: q.getlist(k) for k in q.keys()}) if sql_filters else list_fn(ctx)
            return json_response(listing.apply(items, call.query, f"{v2(call)}/{collection}",
                                               collection.replace("-", "_")))

        def do_create(call: Call) -> Response:
            body = S.fields(getattr(call.parse(wrapped(key, create_model)), key))
            return one(key, create_fn(auth(call), body), call, status=201)

        def do_show(call: Call) -> Response:
            return one(key, show_fn(auth(call), call.params["id"]), call)

        def do_update(call: Call) -> Response:
            body = S.fields(getattr(call.parse(wrapped(key, update_model)), key))
            return one(key, update_fn(auth(call), call.params["id"], body), call)

        def do_delete(call: Call) -> Response:
            delete_fn(auth(call), call.params["id"])
            return empty()

        for path, method, fn in ((base, "GET", do_list), (base, "POST", do_create), (base + "/{id}", "GET", do_show),
                                 (base + "/{id}", "PUT", do_update), (base + "/{id}", "DELETE", do_delete)):
            api.route(method, path)(fn)
            if not path.endswith("}"):
                api.route(method, path + ".json")(fn)

    crud("networks", "network", S.NetworkCreate, S.NetworkUpdate, net.list_networks, net.show_network,
         net.create_network, net.update_network, net.delete_network)
    crud("subnets", "subnet", S.SubnetCreate, S.SubnetUpdate, net.list_subnets, net.show_subnet,
         net.create_subnet, net.update_subnet, net.delete_subnet)
    crud("ports", "port", S.PortCreate, S.PortUpdate, net.list_ports, net.show_port,
         net.create_port, net.update_port, net.delete_port, sql_filters=True)
    crud("routers", "router", S.RouterCreate, S.RouterUpdate, net.list_routers, net.show_router,
         net.create_router, net.update_router, net.delete_router)
    crud("floatingips", "floatingip", S.FloatingIPCreate, S.FloatingIPUpdate, net.list_floating_ips,
         net.show_floating_ip, net.create_floating_ip, net.update_floating_ip, net.delete_floating_ip)
    crud("security-groups", "security_group", S.SecurityGroupCreate, S.SecurityGroupUpdate,
         net.list_security_groups, net.show_security_group, net.create_security_group,
         net.update_security_group, net.delete_security_group)
    crud("security-group-rules", "security_group_rule", S.RuleCreate, S.RuleUpdate,
         net.list_security_group_rules, net.show_security_group_rule, net.create_security_group_rule,
         net.update_security_group_rule, net.delete_security_group_rule)

    # ---- tags (standard-attr-tag, tag-creation) ---------------------------------------------
    def tagged(collection: str) -> None:
        base = f"/v2.0/{collection}/{{id}}/tags"
        # A tag may hold a "/" (set through the body of PUT or POST .../tags): it takes the rest
        # of the path.
        one_tag = base + "/{tag:path}"

        def tag_list(tags: list[str]) -> Response:
            return json_response({"tags": tags})

        @api.route("GET", base)
        def list_tags(call: Call) -> Response:
            return tag_list(net.get_tags(auth(call), collection, call.params["id"]))

        @api.route("PUT", base)
        def replace_tags(call: Call) -> Response:
            tags = call.parse(S.TagList).tags
            return tag_list(net.set_tags(auth(call), collection, call.params["id"], tags))

        @api.route("POST", base)
        def create_tags(call: Call) -> Response:
            tags = call.parse(S.TagList).tags
            return tag_list(net.add_tags(auth(call), collection, call.params["id"], tags))

        @api.route("DELETE", base)
        def clear_tags(call: Call) -> Response:
            net.clear_tags(auth(call), collection, call.params["id"])
            return empty()

        @api.route("GET", one_tag)
        def check_tag(call: Call) -> Response:
            net.check_tag(auth(call), collection, call.params["id"], call.params["tag"])
            return empty()

        @api.route("PUT", one_tag)
        def add_tag(call: Call) -> Response:
            net.add_tags(auth(call), collection, call.params["id"], [call.params["tag"]])
            return empty(201)

        @api.route("DELETE", one_tag)
        def remove_tag(call: Call) -> Response:
            net.remove_tag(auth(call), collection, call.params["id"], call.params["tag"])
            return empty()

    for collection in TAGGABLE:
        tagged(collection)

    @api.route("PUT", "/v2.0/routers/{id}/add_router_interface")
    def add_interface(call: Call) -> Response:
        body = S.fields(call.parse(S.RouterInterface))
        return json_response(net.add_router_interface(auth(call), call.params["id"], body))

    @api.route("PUT", "/v2.0/routers/{id}/remove_router_interface")
    def remove_interface(call: Call) -> Response:
        body = S.fields(call.parse(S.RouterInterface))
        return json_response(net.remove_router_interface(auth(call), call.params["id"], body))

    # ---- quotas --------------------------------------------------------------------------
    @api.route("GET", "/v2.0/quotas")
    def list_quotas(call: Call) -> Response:
        return json_response({"quotas": net.list_quotas(auth(call))})

    @api.route("GET", "/v2.0/quotas/{project_id}")
    def show_quota(call: Call) -> Response:
        return json_response({"quota": net.show_quota(auth(call), _project(call))})

    @api.route("GET", "/v2.0/quotas/{project_id}/default")
    def default_quota(call: Call) -> Response:
        return json_response({"quota": net.default_quota(auth(call), _project(call))})

    @api.route("GET", "/v2.0/quotas/{project_id}/details")
    def quota_details(call: Call) -> Response:
        return json_response({"quota": net.quota_details(auth(call), _project(call))})

    api.route("GET", "/v2.0/quotas/{project_id}/details.json")(quota_details)

    @api.route("PUT", "/v2.0/quotas/{project_id}")
    def update_quota(call: Call) -> Response:
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
            raise BadRequest("Invalid input: the body must be {\"quota\": {resource: limit}}.", kind="HTTPBadRequest")
        limits = dict(body["quota"])
        # quota-check-limit: refuse a limit below what the project already uses.
        check = limits.pop("check_limit", False)
        limits.pop("force", None)
        return json_response({"quota": net.update_quota(auth(call), _project(call), limits, check=bool(check))})

    @api.route("DELETE", "/v2.0/quotas/{project_id}")
    def reset_quota(call: Call) -> Response:
        net.reset_quota(auth(call), _project(call))
        return empty()

    return api


def _project(call: Call) -> str:
    project_id = call.params["project_id"]
    project_id = project_id[:-5] if project_id.endswith(".json") else project_id
    if not 1 <= len(project_id) <= 64:
        raise BadRequest(f"Invalid input: '{project_id[:80]}' is not a valid project id.", kind="InvalidInput")
    return project_id


def _ext(alias: str) -> dict:
    """An extension as Neutron shows it (the key order is Neutron's)."""
    name, description, updated = EXTENSIONS[alias]
    return {"name": name, "alias": alias, "description": description, "updated": updated, "links": []}
