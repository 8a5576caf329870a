"""The dashboard's network pages against a real caas: networks, routers, security groups and
their rules, floating IPs. Each form: success (checked through the API), missing and wrong
fields, an oversized body, no CSRF token, unknown ids, another project's ids, and names that
are stored as typed and rendered escaped."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.conftest import client_for, issue_token, make_member
from tests.dashboard.common import Browser, submit, text

pytestmark = pytest.mark.inprocess  # pages and sessions: the app in process, no caas up

EVIL = "x;$(id)'\"<b>"
NET = "/network/v2.0"
D = "/dashboard"


@pytest.fixture(scope="module")
def admin_api(sqlite_server):
    with client_for(sqlite_server, issue_token(sqlite_server)) as c:
        yield c


@pytest.fixture(scope="module")
def member(sqlite_server, admin_api):
    """A member of another project; its network quotas unlimited (the tests make many things)."""
    m = make_member(sqlite_server, admin_api)
    r = admin_api.put(f"{NET}/quotas/{m['project_id']}", json={"quota": {
        k: -1 for k in ("network", "subnet", "router", "security_group", "security_group_rule", "floatingip")}})
    assert r.status_code == 200, r.text
    return m


@pytest.fixture(scope="module")
def member_api(sqlite_server, member):
    with client_for(sqlite_server, member["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def ab(sqlite_server):
    """The admin's browser (project admin)."""
    with Browser(sqlite_server) as b:
        b.login()
        yield b


@pytest.fixture(scope="module")
def mb(sqlite_server, member):
    """The browser of a member of another project."""
    with Browser(sqlite_server) as b:
        b.login(member["name"], member["password"], member["name"])
        yield b


def items(api: httpx.Client, collection: str, **filters) -> list[dict]:
    r = api.get(f"{NET}/{collection}", params=filters)
    assert r.status_code == 200, r.text
    return r.json()[collection.replace("-", "_")]



def make_network(api: httpx.Client, name: str, cidr: str) -> tuple[dict, dict]:
    net = api.post(f"{NET}/networks", json={"network": {"name": name}}).json()["network"]
    r = api.post(f"{NET}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4,
                                                    "name": f"{name}-subnet"}})
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


@pytest.fixture(scope="module")
def admin_net(admin_api):
    """A private network of the admin project (another project, for the member)."""
    return make_network(admin_api, f"adm-{uuid.uuid4().hex[:6]}", "10.200.0.0/24")


def public_network(api: httpx.Client) -> dict:
    return items(api, "networks", **{"router:external": "true"})[0]


# ---- the guard on every form ---------------------------------------------------------------
POSTS = ["/project/networks", "/project/networks/{net}/delete", "/project/routers", "/project/routers/{router}/delete",
         "/project/routers/interfaces", "/project/routers/{router}/interfaces/remove",
         "/project/security-groups", "/project/security-groups/{sg}/delete", "/project/security-groups/{sg}/rules",
         "/project/security-groups/{sg}/rules/{rule}/delete", "/project/floating-ips",
         "/project/floating-ips/associate", "/project/floating-ips/{fip}/disassociate",
         "/project/floating-ips/{fip}/delete"]


def snapshot(api: httpx.Client) -> dict:
    """What the member's project holds, to see that a refused post changed nothing."""
    out = {c: sorted((i["id"], i.get("revision_number")) for i in items(api, c))
           for c in ("networks", "subnets", "routers", "security-groups", "security-group-rules", "floatingips")}
    out["ports"] = sorted((p["id"], p["device_id"]) for p in items(api, "ports"))
    return out


@pytest.fixture(scope="module")
def member_things(member_api, member):
    """One of each thing of the member's project, for the guard tests."""
    net, subnet = make_network(member_api, "guarded", "10.50.0.0/24")
    router = member_api.post(f"{NET}/routers", json={"router": {"name": "guarded"}}).json()["router"]
    sg = member_api.post(f"{NET}/security-groups", json={"security_group": {"name": "guarded"}})
    sg = sg.json()["security_group"]
    fip = member_api.post(f"{NET}/floatingips", json={"floatingip": {
        "floating_network_id": public_network(member_api)["id"]}}).json()["floatingip"]
    return {"net": net["id"], "subnet": subnet["id"], "router": router["id"], "sg": sg["id"],
            "rule": sg["security_group_rules"][0]["id"], "fip": fip["id"]}


def guard_form(things: dict) -> dict:
    return {"name": "guarded-new", "cidr": "10.51.0.0/24", "router_id": things["router"],
            "subnet_id": things["subnet"], "direction": "ingress",
            "protocol": "tcp", "port_min": "22", "network_id": "x", "floatingip_id": things["fip"], "port_id": "x"}


def test_posts_without_csrf_are_refused_and_change_nothing(mb, member_api, member_things):
    before = snapshot(member_api)
    mb.get(D + "/project/networks")
    for path in POSTS:
        r = mb.post(D + path.format(**member_things), guard_form(member_things), status=403, csrf=False)
        assert "CSRF" in text(r)
        r = mb.post(D + path.format(**member_things), {**guard_form(member_things), "csrf_token": "forged"},
                    status=403, csrf=False)
    assert snapshot(member_api) == before


def test_oversized_posts_are_refused_and_change_nothing(mb, member_api, member_things):
    before = snapshot(member_api)
    mb.get(D + "/project/networks")
    for path in POSTS:
        r = mb.post(D + path.format(**member_things), {**guard_form(member_things), "name": "n" * 70_000}, status=413)
        assert "64 KiB" in text(r)
    assert snapshot(member_api) == before


def test_pages_need_a_session(sqlite_server, admin_api):
    with httpx.Client(base_url=sqlite_server.url, transport=sqlite_server.transport) as c:
        for page in ("/project/networks", "/project/routers", "/project/security-groups", "/project/floating-ips"):
            r = c.get(D + page)
            assert r.status_code == 303 and r.headers["location"].startswith(D + "/login"), page
            r = c.post(D + page, data={"name": "anonymous", "cidr": "10.99.0.0/24"})
            assert r.status_code == 303 and r.headers["location"].startswith(D + "/login"), page
    assert not [n for n in items(admin_api, "networks") if n["name"] == "anonymous"]
    assert not [n for n in items(admin_api, "security-groups") if n["name"] == "anonymous"]


# ---- networks ------------------------------------------------------------------------------
def test_create_network_with_subnet(mb, member_api, member):
    message = submit(mb, "/project/networks", "/project/networks",
                     {"name": EVIL, "cidr": "10.20.0.0/24", "gateway": "10.20.0.254"})
    assert message == f"Done: Network {EVIL} created with subnet 10.20.0.0/24."
    [net] = [n for n in items(member_api, "networks") if n["name"] == EVIL]
    assert net["project_id"] == member["project_id"]
    [subnet] = items(member_api, "subnets", network_id=net["id"])
    assert (subnet["cidr"], subnet["gateway_ip"], subnet["ip_version"]) == ("10.20.0.0/24", "10.20.0.254", 4)
    page = mb.get(D + "/project/networks")
    assert "<b>" not in page.text and EVIL in text(page) and "10.20.0.0/24" in text(page)


def test_create_network_without_gateway_and_ipv6(mb, member_api):
    assert "created" in submit(mb, "/project/networks", "/project/networks", {"name": "v6", "cidr": "fd00:1::/64"})
    [net] = [n for n in items(member_api, "networks") if n["name"] == "v6"]
    [subnet] = items(member_api, "subnets", network_id=net["id"])
    assert subnet["ip_version"] == 6 and subnet["gateway_ip"] == "fd00:1::1"


@pytest.mark.parametrize("form, message", [
    ({"cidr": "10.21.0.0/24"}, "Name is required."),
    ({"name": "bad"}, "Subnet CIDR is required."),
    ({"name": "bad", "cidr": "abc"}, "Subnet CIDR 'abc' is not a network in CIDR notation"),
    ({"name": "bad", "cidr": "10.21.0.0/33"}, "is not a network in CIDR notation"),
    ({"name": "bad", "cidr": "10.21.0.0/24", "gateway": "abc"}, "Gateway 'abc' is not an IP address."),
    ({"name": "n" * 256, "cidr": "10.21.0.0/24"}, "Name is at most 255 characters."),
])
def test_create_network_refusals(mb, member_api, form, message):
    before = snapshot(member_api)
    assert message in submit(mb, "/project/networks", "/project/networks", form)
    assert snapshot(member_api) == before


def test_a_refused_subnet_shows_the_api_reason_and_leaves_no_network(mb, member_api):
    before = [n["id"] for n in items(member_api, "networks")]
    message = submit(mb, "/project/networks", "/project/networks",
                     {"name": "half", "cidr": "10.22.0.5/24"})
    assert "isn't a recommended CIDR, use '10.22.0.0/24'" in message
    message = submit(mb, "/project/networks", "/project/networks",
                     {"name": "half", "cidr": "10.22.0.0/24", "gateway": "192.168.9.1"})
    assert "gateway_ip 192.168.9.1 is not a usable address of subnet 10.22.0.0/24" in message
    assert [n["id"] for n in items(member_api, "networks")] == before


def test_member_sees_the_external_network_but_not_other_projects(mb, admin_api, admin_net):
    page = mb.get(D + "/project/networks")
    assert "public" in text(page) and "external" in text(page)
    assert admin_net[0]["name"] not in page.text and admin_net[0]["id"] not in page.text
    assert f"/project/networks/{public_network(admin_api)['id']}/delete" not in page.text


def test_delete_network(mb, member_api):
    net, _ = make_network(member_api, "doomed", "10.23.0.0/24")
    page = mb.get(D + "/project/networks")
    assert f'action="/dashboard/project/networks/{net["id"]}/delete"' in page.text and "data-confirm" in page.text
    assert mb.follow(mb.post(D + f"/project/networks/{net['id']}/delete")).status_code == 200
    assert net["id"] not in [n["id"] for n in items(member_api, "networks")]


def test_delete_unknown_and_other_projects_network(mb, admin_api, admin_net):
    unknown = str(uuid.uuid4())
    message = submit(mb, "/project/networks", f"/project/networks/{unknown}/delete", {}, status=404)
    assert message == f"Error: Network {unknown} could not be found."
    message = submit(mb, "/project/networks", f"/project/networks/{admin_net[0]['id']}/delete", {}, status=404)
    assert message == f"Error: Network {admin_net[0]['id']} could not be found."
    assert admin_api.get(f"{NET}/networks/{admin_net[0]['id']}").status_code == 200
    public = public_network(admin_api)
    assert submit(mb, "/project/networks", f"/project/networks/{public['id']}/delete", {}, status=404) == \
        f"Error: Network {public['id']} could not be found."
    assert admin_api.get(f"{NET}/networks/{public['id']}").status_code == 200


def test_network_pages_paginate(mb, member_api, admin_api, member):
    """A page holds at most 100 of the project's networks; the Next link shows the rest."""
    own = items(member_api, "networks", project_id=member["project_id"])
    for i in range(101 - len(own)):
        assert member_api.post(f"{NET}/networks", json={"network": {"name": f"zz-bulk-{i:03d}"}}).status_code == 201
    first = mb.get(D + "/project/networks")
    delete = 'action="/dashboard/project/networks/'
    assert first.text.count(delete) == 100 and "Next" in text(first) and "public" in text(first)
    nxt = first.text.split("marker=")[1].split('"')[0]
    second = mb.get(D + "/project/networks", marker=nxt)
    assert second.text.count(delete) == 1 and "zz-bulk-" in text(second) and "First page" in text(second)
    assert "public" not in text(second)
    for n in items(member_api, "networks"):
        if n["name"].startswith("zz-bulk-"):
            member_api.delete(f"{NET}/networks/{n['id']}")


# ---- routers -------------------------------------------------------------------------------
def router_named(api: httpx.Client, name: str) -> dict:
    [router] = [r for r in items(api, "routers") if r["name"] == name]
    return router


def test_create_router_with_gateway(mb, member_api):
    assert submit(mb, "/project/routers", "/project/routers", {"name": EVIL, "external": "1"}) == \
        f"Done: Router {EVIL} created."
    router = router_named(member_api, EVIL)
    gateway = router["external_gateway_info"]
    assert gateway["network_id"] == public_network(member_api)["id"]
    page = mb.get(D + "/project/routers")
    assert "<b>" not in page.text and EVIL in text(page)
    assert gateway["external_fixed_ips"][0]["ip_address"] in text(page) and "public" in text(page)


def test_create_router_without_gateway_and_refusals(mb, member_api):
    assert "created" in submit(mb, "/project/routers", "/project/routers", {"name": "inner"})
    assert router_named(member_api, "inner")["external_gateway_info"] is None
    before = snapshot(member_api)
    assert submit(mb, "/project/routers", "/project/routers", {"external": "1"}) == "Error: Name is required."
    assert "at most 255" in submit(mb, "/project/routers", "/project/routers", {"name": "r" * 300})
    assert snapshot(member_api) == before


ADD = "/project/routers/interfaces"  # the page's one form: a router and a subnet


def test_router_interfaces(mb, member_api):
    net, subnet = make_network(member_api, "inside", "10.30.0.0/24")
    router = member_api.post(f"{NET}/routers", json={"router": {"name": "edge"}}).json()["router"]
    remove = f"/project/routers/{router['id']}/interfaces/remove"
    add = {"router_id": router["id"], "subnet_id": subnet["id"]}
    page = mb.get(D + "/project/routers")
    assert f'<option value="{subnet["id"]}">' in page.text and f'<option value="{router["id"]}">' in page.text
    # one select of routers and one of subnets, not a select of subnets per router
    assert page.text.count("<select") == 2 and page.text.count(f'<option value="{subnet["id"]}">') == 1
    assert submit(mb, "/project/routers", ADD, add) == "Done: Interface added."
    [port] = items(member_api, "ports", device_id=router["id"])
    assert port["fixed_ips"][0] == {"subnet_id": subnet["id"], "ip_address": "10.30.0.1"}
    row = text(mb.get(D + "/project/routers")).split("edge", 1)[1]
    assert "inside-subnet 10.30.0.0/24 10.30.0.1" in row
    assert "already has a port on subnet" in submit(mb, "/project/routers", ADD, add)
    assert submit(mb, "/project/routers", ADD, {"router_id": router["id"]}) == "Error: Subnet is required."
    assert submit(mb, "/project/routers", ADD, {"subnet_id": subnet["id"]}) == "Error: Router is required."
    assert submit(mb, "/project/routers", ADD, {**add, "router_id": "r" * 65}) == \
        "Error: Router is at most 64 characters."
    assert submit(mb, "/project/routers", remove, {"subnet_id": subnet["id"]}) == "Done: Interface removed."
    assert items(member_api, "ports", device_id=router["id"]) == []
    message = submit(mb, "/project/routers", remove, {"subnet_id": subnet["id"]}, status=404)
    assert message == f"Error: Router {router['id']} does not have an interface with subnet {subnet['id']}"


def test_router_interfaces_unknown_and_other_projects(mb, member_api, admin_api, admin_net):
    router = member_api.post(f"{NET}/routers", json={"router": {"name": "edge2"}}).json()["router"]
    unknown = str(uuid.uuid4())
    assert submit(mb, "/project/routers", ADD, {"router_id": router["id"], "subnet_id": unknown}, status=404) == \
        f"Error: Subnet {unknown} could not be found."
    admin_subnet = admin_net[1]["id"]
    assert submit(mb, "/project/routers", ADD, {"router_id": router["id"], "subnet_id": admin_subnet},
                  status=404) == f"Error: Subnet {admin_subnet} could not be found."
    assert items(member_api, "ports", device_id=router["id"]) == []
    admin_router = admin_api.post(f"{NET}/routers", json={"router": {"name": "adm-router"}}).json()["router"]
    _, subnet = make_network(member_api, "inside2", "10.31.0.0/24")
    for router_id in (admin_router["id"], unknown):
        message = submit(mb, "/project/routers", ADD, {"router_id": router_id, "subnet_id": subnet["id"]}, status=404)
        assert message == f"Error: Router {router_id} could not be found."
    assert items(admin_api, "ports", device_id=admin_router["id"]) == []
    assert "adm-router" not in mb.get(D + "/project/routers").text


def test_delete_router(mb, member_api, admin_api):
    router = member_api.post(f"{NET}/routers", json={"router": {"name": "gone"}}).json()["router"]
    assert submit(mb, "/project/routers", f"/project/routers/{router['id']}/delete", {}) == "Done: Router deleted."
    assert member_api.get(f"{NET}/routers/{router['id']}").status_code == 404
    unknown = str(uuid.uuid4())
    assert submit(mb, "/project/routers", f"/project/routers/{unknown}/delete", {}, status=404) == \
        f"Error: Router {unknown} could not be found."
    other = admin_api.post(f"{NET}/routers", json={"router": {"name": "adm-keep"}}).json()["router"]
    assert submit(mb, "/project/routers", f"/project/routers/{other['id']}/delete", {}, status=404) == \
        f"Error: Router {other['id']} could not be found."
    assert admin_api.get(f"{NET}/routers/{other['id']}").status_code == 200


# ---- security groups -----------------------------------------------------------------------
def group_named(api: httpx.Client, name: str) -> dict:
    [group] = [g for g in items(api, "security-groups") if g["name"] == name]
    return group


def test_create_security_group(mb, member_api):
    message = submit(mb, "/project/security-groups", "/project/security-groups",
                     {"name": EVIL, "description": EVIL + " desc"})
    assert message == f"Done: Security group {EVIL} created."
    group = group_named(member_api, EVIL)
    assert group["description"] == EVIL + " desc"
    page = mb.get(D + "/project/security-groups")
    assert "<b>" not in page.text and f"{EVIL} {EVIL} desc 2" in text(page)  # the two egress rules
    detail = mb.get(D + f"/project/security-groups/{group['id']}")
    assert "<b>" not in detail.text and f"Security group {EVIL}" in text(detail)
    assert "egress IPv4 any any any" in text(detail) and "egress IPv6 any any any" in text(detail)


def test_create_security_group_refusals(mb, member_api):
    before = snapshot(member_api)
    assert submit(mb, "/project/security-groups", "/project/security-groups", {"description": "d"}) == \
        "Error: Name is required."
    assert "Description is at most 255" in submit(mb, "/project/security-groups", "/project/security-groups",
                                                  {"name": "ok", "description": "d" * 256})
    assert submit(mb, "/project/security-groups", "/project/security-groups", {"name": "default"}) == \
        "Error: Default security group already exists."
    assert snapshot(member_api) == before


def test_security_group_page_unknown_and_other_project(mb, admin_api):
    unknown = str(uuid.uuid4())
    page = mb.get(D + f"/project/security-groups/{unknown}", status=404)
    assert f"Security group {unknown} could not be found." in text(page)
    admin_group = items(admin_api, "security-groups", project_id=admin_project(admin_api), name="default")[0]
    page = mb.get(D + f"/project/security-groups/{admin_group['id']}", status=404)
    assert f"Security group {admin_group['id']} could not be found." in text(page)
    assert admin_group["id"] not in mb.get(D + "/project/security-groups").text


def admin_project(api: httpx.Client) -> str:
    return api.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": api.headers["X-Auth-Token"]}
                   ).json()["token"]["project"]["id"]


@pytest.fixture()
def group(member_api):
    g = member_api.post(f"{NET}/security-groups", json={"security_group": {"name": f"g-{uuid.uuid4().hex[:6]}"}})
    assert g.status_code == 201, g.text
    yield g.json()["security_group"]
    member_api.delete(f"{NET}/security-groups/{g.json()['security_group']['id']}")


def rules_of(api: httpx.Client, group_id: str) -> list[dict]:
    return [r for r in items(api, "security-group-rules", security_group_id=group_id) if r["direction"] == "ingress"]


def test_add_rules(mb, member_api, group):
    page, path = f"/project/security-groups/{group['id']}", f"/project/security-groups/{group['id']}/rules"
    assert submit(mb, page, path, {"direction": "ingress", "protocol": "tcp", "port_min": "22",
                                   "remote_ip_prefix": "10.0.0.0/8"}) == "Done: Rule added."
    assert submit(mb, page, path, {"direction": "ingress", "protocol": "udp", "port_min": "5000",
                                   "port_max": "5010"}) == "Done: Rule added."
    assert submit(mb, page, path, {"direction": "ingress", "protocol": "icmp", "remote_ip_prefix": "::/0"}) == \
        "Done: Rule added."
    assert submit(mb, page, path, {"direction": "ingress", "protocol": "any"}) == "Done: Rule added."
    got = {(r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"], r["ethertype"])
           for r in rules_of(member_api, group["id"])}
    assert got == {("tcp", 22, 22, "10.0.0.0/8", "IPv4"), ("udp", 5000, 5010, None, "IPv4"),
                   ("ipv6-icmp", None, None, "::/0", "IPv6"), (None, None, None, None, "IPv4")}
    shown = text(mb.get(D + page))
    assert "ingress IPv4 tcp 22 10.0.0.0/8" in shown and "ingress IPv4 udp 5000–5010 any" in shown
    assert "ingress IPv6 ipv6-icmp any ::/0" in shown
    assert "Security group rule already exists" in submit(mb, page, path, {"direction": "ingress", "protocol": "tcp",
                                                                           "port_min": "22",
                                                                           "remote_ip_prefix": "10.0.0.0/8"})


@pytest.mark.parametrize("form, message", [
    ({"protocol": "tcp"}, "Direction must be one of: ingress, egress."),
    ({"direction": "sideways", "protocol": "tcp"}, "Direction must be one of: ingress, egress."),
    ({"direction": "ingress"}, "Protocol must be one of: any, tcp, udp, icmp."),
    ({"direction": "ingress", "protocol": "gre"}, "Protocol must be one of: any, tcp, udp, icmp."),
    ({"direction": "ingress", "protocol": "tcp", "port_min": "abc"},
     "Lowest port must be a whole number from 1 to 65535, not 'abc'."),
    ({"direction": "ingress", "protocol": "tcp", "port_min": "22.5"}, "Lowest port must be a whole number"),
    ({"direction": "ingress", "protocol": "tcp", "port_min": "0"},
     "Lowest port must be a whole number from 1 to 65535, not '0'."),
    ({"direction": "ingress", "protocol": "tcp", "port_min": "1", "port_max": "70000"},
     "Highest port must be a whole number from 1 to 65535, not '70000'."),
    ({"direction": "ingress", "protocol": "tcp", "port_min": "90", "port_max": "80"},
     "The highest port must not be below the lowest."),
    ({"direction": "ingress", "protocol": "tcp", "port_max": "80"}, "Give the lowest port too"),
    ({"direction": "ingress", "protocol": "icmp", "port_min": "8"}, "Ports apply to TCP and UDP only."),
    ({"direction": "ingress", "protocol": "tcp", "remote_ip_prefix": "abc"}, "Remote CIDR 'abc' is not a network"),
    ({"direction": "ingress", "protocol": "tcp", "remote_ip_prefix": "1" * 65}, "Remote CIDR is at most 64"),
])
def test_add_rule_refusals(mb, member_api, group, form, message):
    before = snapshot(member_api)
    got = submit(mb, f"/project/security-groups/{group['id']}", f"/project/security-groups/{group['id']}/rules", form)
    assert got.startswith("Error: ") and message in got
    assert snapshot(member_api) == before


def test_add_rule_unknown_and_other_projects_group(mb, admin_api):
    unknown = str(uuid.uuid4())
    form = {"direction": "ingress", "protocol": "tcp", "port_min": "22"}
    mb.get(D + "/project/security-groups")
    page = mb.post(D + f"/project/security-groups/{unknown}/rules", form, status=404)
    assert f"Security group {unknown} could not be found." in text(page)
    other = admin_api.post(f"{NET}/security-groups", json={"security_group": {"name": "adm-sg"}}).json()
    other = other["security_group"]
    mb.get(D + "/project/security-groups")
    page = mb.post(D + f"/project/security-groups/{other['id']}/rules", form, status=404)
    assert f"Security group {other['id']} could not be found." in text(page)
    assert rules_of(admin_api, other["id"]) == []


def test_delete_rule(mb, member_api, admin_api, group):
    other = member_api.post(f"{NET}/security-groups", json={"security_group": {"name": "other"}}).json()
    other_rule = other["security_group"]["security_group_rules"][0]["id"]
    rule = group["security_group_rules"][0]["id"]
    page = f"/project/security-groups/{group['id']}"
    assert submit(mb, page, f"{page}/rules/{other_rule}/delete", {}) == \
        "Error: That rule is not in this security group."
    assert member_api.get(f"{NET}/security-group-rules/{other_rule}").status_code == 200
    assert submit(mb, page, f"{page}/rules/{rule}/delete", {}) == "Done: Rule deleted."
    assert member_api.get(f"{NET}/security-group-rules/{rule}").status_code == 404
    assert submit(mb, page, f"{page}/rules/{rule}/delete", {}, status=404) == \
        f"Error: Security group rule {rule} could not be found."
    admin_rule = items(admin_api, "security-group-rules", project_id=admin_project(admin_api))[0]
    path = f"/project/security-groups/{admin_rule['security_group_id']}/rules/{admin_rule['id']}/delete"
    assert submit(mb, page, path, {}, status=404) == \
        f"Error: Security group rule {admin_rule['id']} could not be found."
    assert admin_api.get(f"{NET}/security-group-rules/{admin_rule['id']}").status_code == 200


def test_delete_security_group(mb, member_api, admin_api, group):
    assert submit(mb, "/project/security-groups", f"/project/security-groups/{group['id']}/delete", {}) == \
        "Done: Security group deleted."
    assert member_api.get(f"{NET}/security-groups/{group['id']}").status_code == 404
    assert submit(mb, "/project/security-groups", f"/project/security-groups/{group['id']}/delete", {},
                  status=404) == f"Error: Security group {group['id']} could not be found."
    other = items(admin_api, "security-groups", project_id=admin_project(admin_api))[0]
    assert submit(mb, "/project/security-groups", f"/project/security-groups/{other['id']}/delete", {},
                  status=404) == \
        f"Error: Security group {other['id']} could not be found."
    assert admin_api.get(f"{NET}/security-groups/{other['id']}").status_code == 200


# ---- floating IPs --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reachable(member_api):
    """A member network routed to the external network, and an instance on it (its port)."""
    net, subnet = make_network(member_api, "fipnet", "10.40.0.0/24")
    router = member_api.post(f"{NET}/routers", json={"router": {
        "name": "fiprouter", "external_gateway_info": {"network_id": public_network(member_api)["id"]}}}).json()
    r = member_api.put(f"{NET}/routers/{router['router']['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    assert r.status_code == 200, r.text
    image = member_api.get("/image/v2/images").json()["images"][0]["id"]
    flavor = member_api.get("/compute/v2.1/flavors").json()["flavors"][0]["id"]
    server = member_api.post("/compute/v2.1/servers", json={"server": {
        "name": "web-" + EVIL, "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net["id"]}]}})
    assert server.status_code == 202, server.text
    server_id = server.json()["server"]["id"]
    deadline = time.monotonic() + 20
    while not (ports := items(member_api, "ports", device_id=server_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ports, "the server got no port"
    return {"net": net, "subnet": subnet, "port": ports[0], "server_id": server_id}


def fips(api: httpx.Client) -> list[dict]:
    return items(api, "floatingips")


def test_allocate_floating_ip(mb, member_api, member):
    before = {f["id"] for f in fips(member_api)}
    page = mb.get(D + "/project/floating-ips")
    public = public_network(member_api)
    assert f'<option value="{public["id"]}">public</option>' in page.text
    message = submit(mb, "/project/floating-ips", "/project/floating-ips", {"network_id": public["id"]})
    [new] = [f for f in fips(member_api) if f["id"] not in before]
    assert message == f"Done: Floating IP {new['floating_ip_address']} allocated."
    assert new["project_id"] == member["project_id"] and new["floating_network_id"] == public["id"]
    assert new["floating_ip_address"] in text(mb.get(D + "/project/floating-ips"))


def test_allocate_refusals(mb, member_api, admin_net):
    before = snapshot(member_api)
    assert submit(mb, "/project/floating-ips", "/project/floating-ips", {}) == "Error: External network is required."
    unknown = str(uuid.uuid4())
    assert submit(mb, "/project/floating-ips", "/project/floating-ips", {"network_id": unknown}, status=404) == \
        f"Error: Network {unknown} could not be found."
    # another project's private network is unknown too (not "no external network")
    assert submit(mb, "/project/floating-ips", "/project/floating-ips", {"network_id": admin_net[0]["id"]},
                  status=404) == f"Error: Network {admin_net[0]['id']} could not be found."
    assert "at most 64" in submit(mb, "/project/floating-ips", "/project/floating-ips", {"network_id": "n" * 65})
    assert snapshot(member_api) == before


def new_fip(api: httpx.Client) -> dict:
    r = api.post(f"{NET}/floatingips", json={"floatingip": {"floating_network_id": public_network(api)["id"]}})
    assert r.status_code == 201, r.text
    return r.json()["floatingip"]


def test_associate_disassociate_release(mb, member_api, reachable):
    fip, port = new_fip(member_api), reachable["port"]
    page = mb.get(D + "/project/floating-ips")
    fixed = port["fixed_ips"][0]["ip_address"]
    assert f"web-{EVIL}: {fixed} (port {port['id']})" in text(page) and "<b>" not in page.text
    message = submit(mb, "/project/floating-ips", "/project/floating-ips/associate",
                     {"floatingip_id": fip["id"], "port_id": port["id"]})
    assert message == f"Done: Floating IP {fip['floating_ip_address']} associated with {fixed}."
    got = member_api.get(f"{NET}/floatingips/{fip['id']}").json()["floatingip"]
    assert (got["port_id"], got["fixed_ip_address"]) == (port["id"], fixed)
    row = text(mb.get(D + "/project/floating-ips")).split(fip["floating_ip_address"], 1)[1]
    assert row.split("Release")[0].count(fixed) == 2  # the fixed address, and the port's label
    message = submit(mb, "/project/floating-ips", f"/project/floating-ips/{fip['id']}/disassociate", {})
    assert message == f"Done: Floating IP {fip['floating_ip_address']} disassociated."
    assert member_api.get(f"{NET}/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None
    page = mb.get(D + "/project/floating-ips")
    assert f'action="/dashboard/project/floating-ips/{fip["id"]}/delete"' in page.text
    assert 'data-confirm="Release floating IP' in page.text
    assert submit(mb, "/project/floating-ips", f"/project/floating-ips/{fip['id']}/delete", {}) == \
        "Done: Floating IP released."
    assert member_api.get(f"{NET}/floatingips/{fip['id']}").status_code == 404


def test_associate_refusals(mb, member_api, admin_api, admin_net, reachable):
    fip = new_fip(member_api)
    assert submit(mb, "/project/floating-ips", "/project/floating-ips/associate", {"floatingip_id": fip["id"]}) == \
        "Error: Port is required."
    assert submit(mb, "/project/floating-ips", "/project/floating-ips/associate", {"port_id": "x"}) == \
        "Error: Floating IP is required."
    unknown = str(uuid.uuid4())
    assert submit(mb, "/project/floating-ips", "/project/floating-ips/associate",
                  {"floatingip_id": fip["id"], "port_id": unknown}, status=404) == \
        f"Error: Port {unknown} could not be found."
    admin_port = admin_api.post(f"{NET}/ports", json={"port": {"network_id": admin_net[0]["id"]}}).json()["port"]
    assert submit(mb, "/project/floating-ips", "/project/floating-ips/associate",
                  {"floatingip_id": fip["id"], "port_id": admin_port["id"]}, status=404) == \
        f"Error: Port {admin_port['id']} could not be found."
    assert member_api.get(f"{NET}/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None
    admin_fip = new_fip(admin_api)
    assert submit(mb, "/project/floating-ips", "/project/floating-ips/associate",
                  {"floatingip_id": admin_fip["id"], "port_id": reachable["port"]["id"]}, status=404) == \
        f"Error: Floating IP {admin_fip['id']} could not be found."
    assert admin_api.get(f"{NET}/floatingips/{admin_fip['id']}").json()["floatingip"]["port_id"] is None


def test_release_and_disassociate_unknown_and_other_projects(mb, member_api, admin_api):
    unknown = str(uuid.uuid4())
    for verb in ("delete", "disassociate"):
        assert submit(mb, "/project/floating-ips", f"/project/floating-ips/{unknown}/{verb}", {}, status=404) == \
            f"Error: Floating IP {unknown} could not be found."
    admin_fip = new_fip(admin_api)
    assert admin_fip["floating_ip_address"] not in mb.get(D + "/project/floating-ips").text
    for verb in ("delete", "disassociate"):
        assert submit(mb, "/project/floating-ips", f"/project/floating-ips/{admin_fip['id']}/{verb}", {},
                      status=404) == \
            f"Error: Floating IP {admin_fip['id']} could not be found."
    assert admin_api.get(f"{NET}/floatingips/{admin_fip['id']}").status_code == 200


def test_admin_browser_sees_its_own_project_lists(ab, admin_net):
    """The admin's pages list the admin project's things (not every project's)."""
    page = ab.get(D + "/project/networks")
    assert admin_net[0]["name"] in text(page) and "guarded" not in text(page)
    assert "guarded" not in text(ab.get(D + "/project/routers"))
    assert "guarded" not in text(ab.get(D + "/project/security-groups"))


def test_an_unknown_page_marker_is_the_api_refusal(mb):
    for page in ("/project/networks", "/project/routers", "/project/security-groups", "/project/floating-ips"):
        r = mb.get(D + page, status=400, marker="no-such-row")
        assert "Marker no-such-row not found." in text(r), page
