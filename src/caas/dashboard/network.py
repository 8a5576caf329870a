"""The network pages of a project, Neutron's nouns as the project's members see them:

- ``/project/networks``: the networks the project sees (its own, shared and external ones) with
  their subnets; create a network with one subnet; delete one of the project's networks.
- ``/project/routers``: the project's routers (external gateway, interfaces on subnets); create
  one (optionally with a gateway on the external network), add and remove interfaces, delete.
- ``/project/security-groups`` and ``/project/security-groups/{id}``: groups, and a group's
  rules; create and delete groups, add and delete rules.
- ``/project/floating-ips``: allocate from an external network, associate with an instance's
  port, disassociate, release.

Also the form helpers that the admin pages share: ``Invalid`` (a field the dashboard refuses
itself), ``text``/``integer``/``choice``/``ident`` (a field's checked value), ``action`` (a form
post: its refusals, the dashboard's or the API's, go back to the page as the error message) and
``part`` (an id as one path segment).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Awaitable, Callable
from urllib.parse import quote

from starlette.responses import Response

from caas.dashboard.client import ApiError
from caas.dashboard.pages import Pages, View

pages = Pages()
FIELD_MAX = 255
ID_MAX = 64
PAGE_SIZE = 100  # rows of a list page
PORTS_MAX = 500  # the instance ports offered for a floating IP
# The servers whose names label those ports: the project's newest (Nova's list costs about
# 0.05 ms a server); the ports of older ones are labelled by address and port id alone.
SERVERS_NAMED = 500
NET = "/network/v2.0"
INTEGER = re.compile(r"-?[0-9]{1,12}")


# ---- form helpers (shared with admin) --------------------------------------------------------
def part(value) -> str:
    """``value`` as one path segment of an API call."""
    return quote(str(value), safe="")


class Invalid(Exception):
    """A field the dashboard refuses before any call; the message says which field and why."""


def text(view: View, name: str, label: str, required: bool = True, max_len: int = FIELD_MAX) -> str:
    """The stripped field; ``Invalid`` when required and empty, or longer than ``max_len``."""
    value = view.field(name)
    if required and not value:
        raise Invalid(f"{label} is required.")
    if len(value) > max_len:
        raise Invalid(f"{label} is at most {max_len} characters.")
    return value


def ident(view: View, name: str, label: str) -> str:
    """An id from a select or a hidden field: required, at most 64 characters."""
    return text(view, name, label, max_len=ID_MAX)


def integer(view: View, name: str, label: str, low: int, high: int, required: bool = True) -> int | None:
    """The field as an integer in ``low..high`` (None when optional and empty)."""
    raw = view.field(name)
    if not raw:
        if required:
            raise Invalid(f"{label} is required.")
        return None
    if not INTEGER.fullmatch(raw):
        raise Invalid(f"{label} must be a whole number, not {raw[:40]!r}.")
    value = int(raw)
    if not low <= value <= high:
        raise Invalid(f"{label} must be between {low} and {high}.")
    return value


def choice(view: View, name: str, label: str, options: tuple[str, ...]) -> str:
    """The field, which must be one of ``options``."""
    value = view.field(name)
    if value not in options:
        raise Invalid(f"{label} must be one of: {', '.join(options)}.")
    return value


Back = str | Callable[[View], str]


def action(registry: Pages, path: str, back: Back, admin: bool = False):
    """Register ``fn`` as the form post at ``path``. ``fn(view)`` does the work and returns the
    message for the page ``back`` (a dashboard path, formatted with the path's parameters as
    quoted segments, or a function of the view). ``Invalid`` and the API's refusals go back
    to that page as the error, with the API's own reason; a 401 is left to the guard (it ends
    the session)."""
    def register(fn: Callable[[View], Awaitable[str]]):
        async def post(view: View) -> Response:
            target = back(view) if callable(back) else back.format(**{k: part(v) for k, v in view.params.items()})
            try:
                message = await fn(view)
            except Invalid as exc:
                return view.redirect(target, error=str(exc))
            except ApiError as exc:
                if exc.status == 401:
                    raise
                return view.redirect(target, error=exc.message)
            return view.redirect(target, ok=message)
        registry.page(path, methods=("POST",), admin=admin)(post)
        return fn
    return register


def pager_marker(view: View) -> str | None:
    """The ``marker`` of the page asked for (a row id), if any."""
    marker = view.query.get("marker", "")
    return marker[:ID_MAX] or None


# ---- Neutron lists ---------------------------------------------------------------------------
async def listed(view: View, collection: str, **filters) -> list[dict]:
    """A Neutron list (filters as Neutron takes them; a list value repeats the key: OR)."""
    body = await view.api.get(f"{NET}/{collection}", **filters)
    return body[collection.replace("-", "_")]


async def one_page(view: View, collection: str, sort_key: str, **filters) -> tuple[list[dict], str | None]:
    """One page of a Neutron list and the marker of the next page (None on the last)."""
    items = await listed(view, collection, limit=PAGE_SIZE, marker=pager_marker(view), sort_key=sort_key, **filters)
    return items, (items[-1]["id"] if len(items) == PAGE_SIZE else None)


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
    marker = pager_marker(view)
    own, nxt = await one_page(view, "networks", "name", project_id=pid)
    if marker is None:
        shared, external = await view.api.gather(listed(view, "networks", shared="true", sort_key="name"),
                                                 external_networks(view))
        seen = {n["id"] for n in own}
        own = own + [n for n in {n["id"]: n for n in shared + external}.values() if n["id"] not in seen]
    subnets = await by_ids(view, "subnets", "network_id", [n["id"] for n in own])
    rows = [{"net": n, "subnets": [s for s in subnets if s["network_id"] == n["id"]]} for n in own]
    return view.render("network_networks.html", title="Networks", rows=rows, next_marker=nxt, marker=marker)


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
    pid = view.session.project_id
    (items, nxt), subnets, externals = await view.api.gather(
        one_page(view, "routers", "name", project_id=pid), listed(view, "subnets", project_id=pid, sort_key="name"),
        external_networks(view))
    interfaces = await by_ids(view, "ports", "device_id", [r["id"] for r in items],
                              device_owner="network:router_interface")
    subnet_of = {s["id"]: s for s in subnets}
    net_name = {n["id"]: n["name"] or n["id"] for n in externals}
    inner = [s for s in subnets if s["network_id"] not in net_name]  # an external subnet is a gateway's
    rows = []
    for r in items:
        gateway = r.get("external_gateway_info") or {}
        attached = [{"subnet_id": ip["subnet_id"], "ip": ip["ip_address"], "subnet": subnet_of.get(ip["subnet_id"])}
                    for p in interfaces if p["device_id"] == r["id"] for ip in p["fixed_ips"]]
        rows.append({"router": r, "gateway_network": net_name.get(gateway.get("network_id"), gateway.get("network_id")),
                     "gateway_ips": [ip["ip_address"] for ip in gateway.get("external_fixed_ips") or []],
                     "interfaces": attached})
    return view.render("network_routers.html", title="Routers", rows=rows, subnets=inner,
                       has_external=bool(externals), next_marker=nxt, marker=pager_marker(view))


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


async def _interface(view: View, verb: str) -> None:
    subnet_id = ident(view, "subnet_id", "Subnet")
    await view.api.put(f"{NET}/routers/{part(view.params['id'])}/{verb}_router_interface", {"subnet_id": subnet_id})


@action(pages, "/project/routers/{id}/interfaces", "/project/routers")
async def add_interface(view: View) -> str:
    await _interface(view, "add")
    return "Interface added."


@action(pages, "/project/routers/{id}/interfaces/remove", "/project/routers")
async def remove_interface(view: View) -> str:
    await _interface(view, "remove")
    return "Interface removed."


# ---- security groups -------------------------------------------------------------------------
PROTOCOLS = ("any", "tcp", "udp", "icmp")
PORT_MAX = 65535


@pages.page("/project/security-groups")
async def security_groups(view: View) -> Response:
    items, nxt = await one_page(view, "security-groups", "name", project_id=view.session.project_id)
    return view.render("network_security_groups.html", title="Security groups", groups=items, next_marker=nxt,
                       marker=pager_marker(view))


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
    """The project's instance ports (``compute:*``), each with its ``label``: the server's
    name (when among the project's SERVERS_NAMED newest servers), its addresses and the port id."""
    ports = await listed(view, "ports", project_id=view.session.project_id, limit=PORTS_MAX, sort_key="device_id",
                         fields="id,device_id,device_owner,fixed_ips")
    ports = [p for p in ports if (p.get("device_owner") or "").startswith("compute:")]
    names = {}
    if ports:
        servers = (await view.api.get("/compute/v2.1/servers", limit=SERVERS_NAMED))["servers"]
        names = {s["id"]: s["name"] for s in servers}
    return [{**p, "label": _port_label(p, names.get(p["device_id"]))} for p in ports]


@pages.page("/project/floating-ips")
async def floating_ips(view: View) -> Response:
    (items, nxt), externals, ports = await view.api.gather(
        one_page(view, "floatingips", "floating_ip_address", project_id=view.session.project_id),
        external_networks(view), instance_ports(view))
    label = {p["id"]: p["label"] for p in ports}
    net_name = {n["id"]: n["name"] or n["id"] for n in externals}
    return view.render("network_floating_ips.html", title="Floating IPs", fips=items, externals=externals,
                       ports=ports, label=label, net_name=net_name, next_marker=nxt, marker=pager_marker(view))


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
