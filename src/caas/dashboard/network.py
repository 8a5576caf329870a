"""The network pages of a project, Neutron's nouns as the project's members see them:

- ``/project/networks``: the networks the project sees (its own, shared and external ones) with
  their subnets; create a network with one subnet; delete one of the project's networks.
- ``/project/routers``: the project's routers (external gateway, interfaces on subnets); create
  one (optionally with a gateway on the external network), add an interface (one form for the
  page: a router and a subnet), remove one, delete a router.
- ``/project/security-groups`` and ``/project/security-groups/{id}``: groups, and a group's
  rules; create and delete groups, add and delete rules.
- ``/project/floating-ips``: allocate from an external network, associate with an instance's
  port, disassociate, release.

Every post is a ``forms.action``: a field the dashboard refuses, or a refusal by Neutron, goes
back to the page with the reason; a 404 (not there, or another project's) is the error page.
"""

from __future__ import annotations

import contextlib
import ipaddress

from starlette.responses import Response

from caas.dashboard.client import ApiError
from caas.dashboard.forms import (FIELD_MAX, ID_MAX, PAGE_SIZE, Invalid, action, choice, ident, integer, marker,
                                  paging, part, text)
from caas.dashboard.pages import Pages, View

pages = Pages()
# The servers whose ports are offered for a floating IP: the project's newest, one page of
# Nova's list (a longer select is no use to a person, and each port costs the page time).
SERVERS_OFFERED = 100
NET = "/network/v2.0"


# ---- Neutron lists ---------------------------------------------------------------------------
async def listed(view: View, collection: str, **filters) -> list[dict]:
    """A Neutron list (filters as Neutron takes them; a list value repeats the key: OR)."""
    body = await view.api.get(f"{NET}/{collection}", **filters)
    return body[collection.replace("-", "_")]


async def one_page(view: View, collection: str, sort_key: str, **filters) -> tuple[list[dict], dict]:
    """One page of a Neutron list, and its ``paging`` (Neutron says nothing of what follows: a
    full page may have more)."""
    items = await listed(view, collection, limit=PAGE_SIZE, marker=marker(view), sort_key=sort_key, **filters)
    return items, paging(view, items, len(items) == PAGE_SIZE)


async def by_ids(view: View, collection: str, key: str, ids, **filters) -> list[dict]:
    """The items whose ``key`` is one of ``ids`` (none asked: none returned)."""
    ids = sorted(set(ids))
    return await listed(view, collection, **{key: ids}, **filters) if ids else []


async def external_networks(view: View) -> list[dict]:
    return await listed(view, "networks", **{"router:external": "true"}, sort_key="name")


def cidr_version(value: str, label: str) -> int:
    """The IP version of a CIDR such as 10.0.0.0/24; ``Invalid`` when it is not one."""
    try:
        return ipaddress.ip_network(value, strict=False).version
    except ValueError:
        raise Invalid(f"{label} {value!r} is not a network in CIDR notation, such as 10.0.0.0/24.") from None


# ---- networks --------------------------------------------------------------------------------
@pages.page("/project/networks")
async def networks(view: View) -> Response:
    """The project's networks a page at a time; on the first page also the shared and external
    networks of other projects, which the project may use."""
    pid = view.session.project_id
    own, pager = await one_page(view, "networks", "name", project_id=pid)
    if pager["marker"] is None:
        shared, external = await view.api.gather(listed(view, "networks", shared="true", sort_key="name"),
                                                 external_networks(view))
        seen = {n["id"] for n in own}
        own = own + [n for n in {n["id"]: n for n in shared + external}.values() if n["id"] not in seen]
    subnets = await by_ids(view, "subnets", "network_id", [n["id"] for n in own])
    rows = [{"net": n, "subnets": [s for s in subnets if s["network_id"] == n["id"]]} for n in own]
    return view.render("network_networks.html", title="Networks", rows=rows, **pager)


@action(pages, "/project/networks", "/project/networks")
async def create_network(view: View) -> str:
    """A network and its one subnet; when the subnet is refused the network is deleted again."""
    name = text(view, "name", "Name")
    cidr = text(view, "cidr", "Subnet CIDR", max_len=ID_MAX)
    version = cidr_version(cidr, "Subnet CIDR")
    gateway = text(view, "gateway", "Gateway", required=False, max_len=ID_MAX)
    if gateway:
        try:
            ipaddress.ip_address(gateway)
        except ValueError:
            raise Invalid(f"Gateway {gateway!r} is not an IP address.") from None
    net = (await view.api.post(f"{NET}/networks", {"network": {"name": name}}))["network"]
    subnet = {"network_id": net["id"], "cidr": cidr, "ip_version": version, "name": f"{name[:FIELD_MAX - 7]}-subnet"}
    if gateway:
        subnet["gateway_ip"] = gateway
    try:
        await view.api.post(f"{NET}/subnets", {"subnet": subnet})
    except ApiError:
        with contextlib.suppress(ApiError):  # the refusal that matters is the subnet's
            await view.api.delete(f"{NET}/networks/{part(net['id'])}")
        raise
    return f"Network {name} created with subnet {cidr}."


@action(pages, "/project/networks/{id}/delete", "/project/networks")
async def delete_network(view: View) -> str:
    await view.api.delete(f"{NET}/networks/{part(view.params['id'])}")
    return "Network deleted."


# ---- routers ---------------------------------------------------------------------------------
@pages.page("/project/routers")
async def routers(view: View) -> Response:
    """A page of the project's routers with their interfaces, and the page's one form to add an
    interface: a select of the page's routers and one of the project's own subnets."""
    pid = view.session.project_id
    (items, pager), subnets, externals = await view.api.gather(
        one_page(view, "routers", "name", project_id=pid), listed(view, "subnets", project_id=pid, sort_key="name"),
        external_networks(view))
    interfaces = await by_ids(view, "ports", "device_id", [r["id"] for r in items],
                              device_owner="network:router_interface")
    subnet_of = {s["id"]: s for s in subnets}
    attached: dict[str, list[dict]] = {}
    for p in interfaces:
        attached.setdefault(p["device_id"], []).extend(
            {"subnet_id": ip["subnet_id"], "ip": ip["ip_address"], "subnet": subnet_of.get(ip["subnet_id"])}
            for ip in p["fixed_ips"])
    net_name = {n["id"]: n["name"] or n["id"] for n in externals}
    inner = [s for s in subnets if s["network_id"] not in net_name]  # an external subnet is a gateway's
    rows = []
    for r in items:
        gateway = r.get("external_gateway_info") or {}
        rows.append({"router": r, "gateway_network": net_name.get(gateway.get("network_id"), gateway.get("network_id")),
                     "gateway_ips": [ip["ip_address"] for ip in gateway.get("external_fixed_ips") or []],
                     "interfaces": attached.get(r["id"], [])})
    return view.render("network_routers.html", title="Routers", rows=rows, subnets=inner,
                       has_external=bool(externals), **pager)


@action(pages, "/project/routers", "/project/routers")
async def create_router(view: View) -> str:
    name = text(view, "name", "Name")
    router: dict = {"name": name}
    if view.field("external"):
        externals = await external_networks(view)
        if not externals:
            raise Invalid("There is no external network to connect the router to.")
        router["external_gateway_info"] = {"network_id": externals[0]["id"]}
    await view.api.post(f"{NET}/routers", {"router": router})
    return f"Router {name} created."


@action(pages, "/project/routers/{id}/delete", "/project/routers")
async def delete_router(view: View) -> str:
    await view.api.delete(f"{NET}/routers/{part(view.params['id'])}")
    return "Router deleted."


async def _interface(view: View, verb: str, router_id: str) -> None:
    subnet_id = ident(view, "subnet_id", "Subnet")
    await view.api.put(f"{NET}/routers/{part(router_id)}/{verb}_router_interface", {"subnet_id": subnet_id})


@action(pages, "/project/routers/interfaces", "/project/routers")
async def add_interface(view: View) -> str:
    """The page's one form: the router and the subnet are both fields."""
    await _interface(view, "add", ident(view, "router_id", "Router"))
    return "Interface added."


@action(pages, "/project/routers/{id}/interfaces/remove", "/project/routers")
async def remove_interface(view: View) -> str:
    """The button of one interface: the router is in the path, the subnet a hidden field."""
    await _interface(view, "remove", view.params["id"])
    return "Interface removed."


# ---- security groups -------------------------------------------------------------------------
PROTOCOLS = ("any", "tcp", "udp", "icmp")
PORT_MAX = 65535


@pages.page("/project/security-groups")
async def security_groups(view: View) -> Response:
    items, pager = await one_page(view, "security-groups", "name", project_id=view.session.project_id)
    return view.render("network_security_groups.html", title="Security groups", groups=items, **pager)


@action(pages, "/project/security-groups", "/project/security-groups")
async def create_security_group(view: View) -> str:
    name = text(view, "name", "Name")
    description = text(view, "description", "Description", required=False)
    await view.api.post(f"{NET}/security-groups", {"security_group": {"name": name, "description": description}})
    return f"Security group {name} created."


@action(pages, "/project/security-groups/{id}/delete", "/project/security-groups")
async def delete_security_group(view: View) -> str:
    await view.api.delete(f"{NET}/security-groups/{part(view.params['id'])}")
    return "Security group deleted."


@pages.page("/project/security-groups/{id}")
async def security_group(view: View) -> Response:
    group = (await view.api.get(f"{NET}/security-groups/{part(view.params['id'])}"))["security_group"]
    remote_ids = {r["remote_group_id"] for r in group["security_group_rules"] if r["remote_group_id"]}
    names = {g["id"]: g["name"] or g["id"] for g in await by_ids(view, "security-groups", "id", remote_ids,
                                                                 fields="id,name")}
    rules = sorted(group["security_group_rules"], key=lambda r: (r["direction"], r["ethertype"], r["protocol"] or "",
                                                                r["port_range_min"] or 0))
    return view.render("network_security_group.html", title=f"Security group {group['name']}", group=group,
                       rules=rules, names=names, protocols=PROTOCOLS)


def _port_range(view: View, protocol: str) -> dict:
    """The rule's port range: TCP and UDP only; one port when only the lowest is given."""
    if protocol not in ("tcp", "udp"):
        if view.field("port_min") or view.field("port_max"):
            raise Invalid("Ports apply to TCP and UDP only.")
        return {}
    low = integer(view, "port_min", "Lowest port", 1, PORT_MAX, required=False)
    high = integer(view, "port_max", "Highest port", 1, PORT_MAX, required=False)
    if low is None:
        if high is not None:
            raise Invalid("Give the lowest port too (or neither, for all ports).")
        return {}
    high = low if high is None else high
    if high < low:
        raise Invalid("The highest port must not be below the lowest.")
    return {"port_range_min": low, "port_range_max": high}


@action(pages, "/project/security-groups/{id}/rules", "/project/security-groups/{id}")
async def add_rule(view: View) -> str:
    """A rule; its ethertype is the remote CIDR's IP version (IPv4 without one)."""
    rule = {"security_group_id": view.params["id"],
            "direction": choice(view, "direction", "Direction", ("ingress", "egress"))}
    protocol = choice(view, "protocol", "Protocol", PROTOCOLS)
    if protocol != "any":
        rule["protocol"] = protocol
    rule.update(_port_range(view, protocol))
    cidr = text(view, "remote_ip_prefix", "Remote CIDR", required=False, max_len=ID_MAX)
    rule["ethertype"] = "IPv6" if cidr and cidr_version(cidr, "Remote CIDR") == 6 else "IPv4"
    if cidr:
        rule["remote_ip_prefix"] = cidr
    await view.api.post(f"{NET}/security-group-rules", {"security_group_rule": rule})
    return "Rule added."


@action(pages, "/project/security-groups/{id}/rules/{rule_id}/delete", "/project/security-groups/{id}")
async def delete_rule(view: View) -> str:
    path = f"{NET}/security-group-rules/{part(view.params['rule_id'])}"
    rule = (await view.api.get(path))["security_group_rule"]
    if rule["security_group_id"] != view.params["id"]:  # a rule of another of the project's groups
        raise Invalid("That rule is not in this security group.")
    await view.api.delete(path)
    return "Rule deleted."


# ---- floating IPs ----------------------------------------------------------------------------
def _port_label(port: dict, server_name: str | None) -> str:
    ips = ", ".join(ip["ip_address"] for ip in port.get("fixed_ips") or []) or "no address"
    return f"{server_name}: {ips} (port {port['id']})" if server_name else f"{ips} (port {port['id']})"


async def instance_ports(view: View) -> list[dict]:
    """The ports of the project's SERVERS_OFFERED newest servers, each with its ``label``: the
    server's name, its addresses and the port id. Neutron is asked for those servers' ports
    only (``device_id``, applied in its query), not for every port of the project."""
    servers = (await view.api.get("/compute/v2.1/servers", limit=SERVERS_OFFERED))["servers"]
    names = {s["id"]: s["name"] for s in servers}
    ports = await by_ids(view, "ports", "device_id", names, fields="id,device_id,device_owner,fixed_ips")
    return [{**p, "label": _port_label(p, names.get(p["device_id"]))}
            for p in sorted(ports, key=lambda p: (names.get(p["device_id"], ""), p["id"]))
            if (p.get("device_owner") or "").startswith("compute:")]


@pages.page("/project/floating-ips")
async def floating_ips(view: View) -> Response:
    (items, pager), externals, ports = await view.api.gather(
        one_page(view, "floatingips", "floating_ip_address", project_id=view.session.project_id),
        external_networks(view), instance_ports(view))
    label = {p["id"]: p["label"] for p in ports}
    net_name = {n["id"]: n["name"] or n["id"] for n in externals}
    return view.render("network_floating_ips.html", title="Floating IPs", fips=items, externals=externals,
                       ports=ports, label=label, net_name=net_name, **pager)


@action(pages, "/project/floating-ips", "/project/floating-ips")
async def allocate_floating_ip(view: View) -> str:
    network_id = ident(view, "network_id", "External network")
    fip = (await view.api.post(f"{NET}/floatingips", {"floatingip": {"floating_network_id": network_id}}))["floatingip"]
    return f"Floating IP {fip['floating_ip_address']} allocated."


@action(pages, "/project/floating-ips/associate", "/project/floating-ips")
async def associate_floating_ip(view: View) -> str:
    fip_id = ident(view, "floatingip_id", "Floating IP")
    port_id = ident(view, "port_id", "Port")
    fip = (await view.api.put(f"{NET}/floatingips/{part(fip_id)}", {"floatingip": {"port_id": port_id}}))["floatingip"]
    return f"Floating IP {fip['floating_ip_address']} associated with {fip['fixed_ip_address']}."


@action(pages, "/project/floating-ips/{id}/disassociate", "/project/floating-ips")
async def disassociate_floating_ip(view: View) -> str:
    fip = (await view.api.put(f"{NET}/floatingips/{part(view.params['id'])}",
                              {"floatingip": {"port_id": None}}))["floatingip"]
    return f"Floating IP {fip['floating_ip_address']} disassociated."


@action(pages, "/project/floating-ips/{id}/delete", "/project/floating-ips")
async def release_floating_ip(view: View) -> str:
    await view.api.delete(f"{NET}/floatingips/{part(view.params['id'])}")
    return "Floating IP released."
