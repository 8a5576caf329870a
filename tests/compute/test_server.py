"""Nova servers through HTTP: create, the views at each microversion that changes them, the
version headers, addresses and Neutron ports, networks "auto"/"none", multiple create, list
filters and paging, update, metadata, power actions, console output, delete."""

from __future__ import annotations

import datetime as dt
import ipaddress
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.compute.conftest import (C, IMAGE, N, NANO, TINY, Member, boot, create, delete, delete_all, error_of,
                                    hypervisors, make_network, mv, public_network_id, set_quota, show, uniq,
                                    server_body, usage_is_zero, wait_for, wait_gone, wait_until)
from tests.conftest import client_for, issue_token, make_member

pytestmark = pytest.mark.inprocess  # API shapes: the app in process, no caas up

BIG = {"instances": 100, "cores": 200, "ram": 512000}

BASE_KEYS = {"id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created",
             "updated", "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig",
             "OS-EXT-AZ:availability_zone", "config_drive", "key_name", "OS-SRV-USG:launched_at",
             "OS-SRV-USG:terminated_at", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
             "os-extended-volumes:volumes_attached", "progress", "security_groups"}
ADMIN_21 = {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:instance_name"}
ADMIN_23 = {"OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:launch_index", "OS-EXT-SRV-ATTR:hostname",
            "OS-EXT-SRV-ATTR:kernel_id", "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:root_device_name",
            "OS-EXT-SRV-ATTR:user_data"}


@pytest.fixture(scope="module")
def project(server, admin, member):
    """The member's project with room for many servers and one network."""
    set_quota(admin, member.project_id, **BIG)
    net, sub = make_network(member.client, "10.10.0.0/24", "main")
    return {"net": net, "subnet": sub}


@pytest.fixture(scope="module")
def active(member, project):
    """One ACTIVE server of the member, on the project's network."""
    return boot(member.client, name="web", networks=[{"uuid": project["net"]["id"]}],
                metadata={"role": "web"}, description="the web server", tags=["t1"])


def port_of(admin, server_id: str) -> dict:
    ports = admin.get(f"{N}/ports", params={"device_id": server_id}).json()["ports"]
    assert len(ports) == 1, ports
    return ports[0]


# ---- create ------------------------------------------------------------------------------
def test_create_answers_202_with_password_and_location(member, project, server):
    r = create(member.client, name="first", networks=[{"uuid": project["net"]["id"]}])
    body = r.json()["server"]
    assert set(body) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
    assert isinstance(body["adminPass"], str) and len(body["adminPass"]) >= 8
    assert body["security_groups"] == [{"name": "default"}]
    self_link = next(link["href"] for link in body["links"] if link["rel"] == "self")
    assert r.headers["Location"] == self_link == f"{server.url}{C}/servers/{body['id']}"
    first = show(member.client, body["id"])
    assert first["status"] in ("BUILD", "ACTIVE")
    if first["status"] == "BUILD":
        assert first["OS-EXT-STS:vm_state"] == "building" and first["progress"] == 0
    view = wait_for(member.client, body["id"], "ACTIVE")
    assert view["OS-EXT-STS:vm_state"] == "active" and view["OS-EXT-STS:power_state"] == 1
    assert view["progress"] == 100 and view["OS-SRV-USG:launched_at"]
    assert view["OS-EXT-AZ:availability_zone"] == "nova"
    assert view["tenant_id"] == member.project_id and view["user_id"] == member.user_id
    # An adminPass given is the one answered.
    r = create(member.client, adminPass="S3cret-pass", networks="none")
    assert r.json()["server"]["adminPass"] == "S3cret-pass"


def test_created_server_is_listed(member, active):
    listed = member.client.get(f"{C}/servers").json()["servers"]
    entry = next(s for s in listed if s["id"] == active["id"])
    assert set(entry) == {"id", "name", "links"} and entry["name"] == "web"
    assert {link["rel"] for link in entry["links"]} == {"self", "bookmark"}
    detail = member.client.get(f"{C}/servers/detail").json()["servers"]
    assert active["id"] in {s["id"] for s in detail}
    # security_groups comes from the ports: a server without one has none (as in Nova)
    assert all(BASE_KEYS - {"security_groups"} <= set(s) for s in detail)


# ---- views by microversion -------------------------------------------------------------
@pytest.mark.parametrize("version", ["2.1", "2.3", "2.9", "2.16", "2.19", "2.26", "2.47", "2.60"])
def test_view_keys_by_microversion(member, admin, active, version):
    v = tuple(int(x) for x in version.split("."))
    extra = set()
    if v >= (2, 9):
        extra.add("locked")
    if v >= (2, 19):
        extra.add("description")
    if v >= (2, 26):
        extra.add("tags")
    mine = show(member.client, active["id"], version)
    assert set(mine) == BASE_KEYS | extra, set(mine) ^ (BASE_KEYS | extra)
    admin_extra = ADMIN_21 | (ADMIN_23 if v >= (2, 3) else set()) | ({"host_status"} if v >= (2, 16) else set())
    theirs = show(admin, active["id"], version)
    assert set(theirs) == BASE_KEYS | extra | admin_extra, set(theirs) ^ (BASE_KEYS | extra | admin_extra)
    if v >= (2, 47):
        assert mine["flavor"] == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                                  "original_name": "m1.tiny", "extra_specs": mine["flavor"]["extra_specs"]}
        assert isinstance(mine["flavor"]["extra_specs"], dict)
    else:
        assert set(mine["flavor"]) == {"id", "links"} and mine["flavor"]["id"] == TINY
        assert mine["flavor"]["links"][0]["rel"] == "bookmark"
    assert mine["image"]["id"] == IMAGE and mine["image"]["links"][0]["rel"] == "bookmark"
    if v >= (2, 9):
        assert mine["locked"] is False
    if v >= (2, 19):
        assert mine["description"] == "the web server"
    if v >= (2, 26):
        assert mine["tags"] == ["t1"]
    if v >= (2, 3):
        assert theirs["OS-EXT-SRV-ATTR:launch_index"] == 0
        assert theirs["OS-EXT-SRV-ATTR:hostname"] == "web"
        assert theirs["OS-EXT-SRV-ATTR:reservation_id"].startswith("r-")
    assert theirs["OS-EXT-SRV-ATTR:host"] == theirs["OS-EXT-SRV-ATTR:hypervisor_hostname"] == "fake-host-1"
    assert theirs["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    assert mine["metadata"] == {"role": "web"}
    assert mine["status"] == "ACTIVE" and mine["security_groups"] == [{"name": "default"}]
    for when in ("created", "updated"):
        dt.datetime.strptime(mine[when], "%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("header", ["OpenStack-API-Version", "X-OpenStack-Nova-API-Version"])
def test_version_headers_are_echoed(member, active, header):
    value = "compute 2.19" if header == "OpenStack-API-Version" else "2.19"
    r = member.client.get(f"{C}/servers/{active['id']}", headers={header: value})
    assert r.status_code == 200
    assert r.headers["OpenStack-API-Version"] == "compute 2.19"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.19"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    assert "description" in r.json()["server"]
    # No header: the minimum, 2.1.
    r = member.client.get(f"{C}/servers/{active['id']}")
    assert r.headers["OpenStack-API-Version"] == "compute 2.1" and "description" not in r.json()["server"]


def test_latest_is_2_60(member, active):
    r = member.client.get(f"{C}/servers/{active['id']}", headers=mv("latest"))
    assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "compute 2.60"
    r = member.client.get(f"{C}/servers/{active['id']}", headers={"X-OpenStack-Nova-API-Version": "latest"})
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.60"


@pytest.mark.parametrize("version", ["2.61", "3.0", "1.1", "2.0"])
def test_unsupported_version_is_406(member, active, version):
    r = member.client.get(f"{C}/servers/{active['id']}", headers=mv(version))
    assert r.status_code == 406
    message = error_of(r, "computeFault")
    assert version in message and "2.60" in message


@pytest.mark.parametrize("version", ["garbage", "2", "2.x", "two.one", "2.1.1"])
def test_malformed_version_is_400(member, active, version):
    r = member.client.get(f"{C}/servers/{active['id']}", headers=mv(version))
    assert r.status_code == 400
    assert "invalid format" in error_of(r, "badRequest")


def test_version_discovery(member, server):
    versions = member.client.get("/compute/").json()["versions"]
    current = next(v for v in versions if v["id"] == "v2.1")
    assert current["status"] == "CURRENT" and current["version"] == "2.60" and current["min_version"] == "2.1"
    # Nova's list gives each version with its self link only, and the v2.0 listed is served
    legacy = next(v for v in versions if v["id"] == "v2.0")
    assert legacy == {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
                      "updated": "2025-07-04T12:00:00Z", "links": [{"rel": "self", "href": f"{server.url}/compute/v2/"}]}
    assert current["links"] == [{"rel": "self", "href": f"{server.url}/compute/v2.1/"}]
    for path in ("/compute/v2", "/compute/v2/"):
        with client_for(server) as anonymous:  # no token needed, as Nova
            r = anonymous.get(path)
        assert r.status_code == 200, r.text
        doc = r.json()["version"]
        assert (doc["id"], doc["status"], doc["version"], doc["min_version"]) == ("v2.0", "DEPRECATED", "", "")
        assert doc["links"][0] == {"rel": "self", "href": f"{server.url}/compute/v2/"}
        assert doc["media-types"] == [{"base": "application/json",
                                       "type": "application/vnd.openstack.compute+json;version=2"}]
        assert "OpenStack-API-Version" not in r.headers


@pytest.mark.parametrize("header", [{}, {"OpenStack-API-Version": "compute 2.60"},
                                    {"OpenStack-API-Version": "compute 9.9"},
                                    {"X-OpenStack-Nova-API-Version": "garbage"}])
def test_legacy_v2_is_the_2_1_api_without_microversions(member, active, server, header):
    # Nova's /v2: the v2.1 code with the version headers ignored (never 400 or 406) and left
    # out of the answer, the 2.1 views, and links under /v2.
    c = member.client
    r = c.get(f"/compute/v2/servers/{active['id']}", headers=header)
    assert r.status_code == 200, r.text
    assert "OpenStack-API-Version" not in r.headers and "X-OpenStack-Nova-API-Version" not in r.headers
    assert "OpenStack-API-Version" not in r.headers.get("Vary", "")
    view = r.json()["server"]
    assert set(view) - {"OS-EXT-SRV-ATTR:host"} == BASE_KEYS  # 2.1's keys: no description, tags, locked
    assert view["links"][0] == {"rel": "self", "href": f"{server.url}/compute/v2/servers/{active['id']}"}
    listed = c.get("/compute/v2/servers", headers=header).json()["servers"]
    assert active["id"] in {s["id"] for s in listed}
    flavor = c.get("/compute/v2/flavors/1", headers=header).json()["flavor"]
    assert flavor["links"][0] == {"rel": "self", "href": f"{server.url}/compute/v2/flavors/1"}
    missing = c.get("/compute/v2/servers/nope", headers=header)
    assert missing.status_code == 404 and "OpenStack-API-Version" not in missing.headers
    assert "could not be found" in error_of(missing, "itemNotFound")
    unknown = c.get("/compute/v2/no-such-thing", headers=header)
    assert unknown.status_code == 404 and "OpenStack-API-Version" not in unknown.headers


def test_legacy_v2_creates_and_deletes(member, project, server):
    c = member.client
    r = c.post("/compute/v2/servers", json={"server": server_body()}, headers=mv("2.37"))
    # 2.1's rules whatever the header: "networks": "none" is a 2.37 value
    assert r.status_code == 400 and "OpenStack-API-Version" not in r.headers, r.text
    r = c.post("/compute/v2/servers", json={"server": server_body(networks=[{"uuid": project["net"]["id"]}])})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert r.headers["Location"] == f"{server.url}/compute/v2/servers/{sid}"
    wait_for(c, sid, "ACTIVE")
    assert c.delete(f"/compute/v2/servers/{sid}").status_code == 204
    wait_gone(c, sid)


def test_access_ips_are_answered_in_canonical_form(member, project):
    # Tempest's accessIPv6; Nova stores and answers RFC 5952 text (IPv4-mapped in dotted form)
    c = member.client
    sid = create(c, networks=[{"uuid": project["net"]["id"]}], accessIPv4="192.0.2.10",
                 accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2").json()["server"]["id"]
    view = show(c, sid)
    assert (view["accessIPv4"], view["accessIPv6"]) == ("192.0.2.10", "::babe:dc0c:1602")
    detail = c.get(f"{C}/servers/detail", params={"name": view["name"]}).json()["servers"]
    assert [s["accessIPv6"] for s in detail] == ["::babe:dc0c:1602"]
    for given, answered in (("2001:0DB8:0000::0001", "2001:db8::1"), ("::FFFF:1.2.3.4", "::ffff:1.2.3.4"),
                            ("", "")):
        r = c.put(f"{C}/servers/{sid}", json={"server": {"accessIPv6": given}})
        assert r.status_code == 200, r.text
        assert r.json()["server"]["accessIPv6"] == answered == show(c, sid)["accessIPv6"]
    delete(c, sid)


# ---- addresses and ports -----------------------------------------------------------------
def test_fixed_address_mac_and_port_binding(member, admin, project, active):
    (entry,) = active["addresses"]["main"]
    assert entry["version"] == 4 and entry["OS-EXT-IPS:type"] == "fixed"
    assert ipaddress.ip_address(entry["addr"]) in ipaddress.ip_network(project["subnet"]["cidr"])
    port = port_of(admin, active["id"])
    assert port["mac_address"] == entry["OS-EXT-IPS-MAC:mac_addr"]
    assert port["fixed_ips"][0]["ip_address"] == entry["addr"]
    assert port["device_id"] == active["id"] and port["device_owner"] == "compute:nova"
    assert port["binding:host_id"] == show(admin, active["id"])["OS-EXT-SRV-ATTR:host"]
    assert port["status"] == "ACTIVE" and port["project_id"] == member.project_id
    default = member.client.get(f"{N}/security-groups", params={"name": "default"}).json()["security_groups"][0]
    assert port["security_groups"] == [default["id"]]
    # The member sees its own port too.
    mine = member.client.get(f"{N}/ports", params={"device_id": active["id"]}).json()["ports"]
    assert [p["id"] for p in mine] == [port["id"]]


def test_floating_ip_shows_in_addresses(member, admin, project, active):
    c = member.client
    router = c.post(f"{N}/routers", json={"router": {"name": uniq("r"), "external_gateway_info": {
        "network_id": public_network_id(c)}}})
    assert router.status_code == 201, router.text
    router = router.json()["router"]
    r = c.put(f"{N}/routers/{router['id']}/add_router_interface", json={"subnet_id": project["subnet"]["id"]})
    assert r.status_code == 200, r.text
    port = port_of(admin, active["id"])
    r = c.post(f"{N}/floatingips", json={"floatingip": {"floating_network_id": public_network_id(c),
                                                         "port_id": port["id"]}})
    assert r.status_code == 201, r.text
    fip = r.json()["floatingip"]
    entries = show(c, active["id"])["addresses"]["main"]
    assert [(e["addr"], e["OS-EXT-IPS:type"]) for e in entries] == [
        (port["fixed_ips"][0]["ip_address"], "fixed"), (fip["floating_ip_address"], "floating")]
    assert entries[1]["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]
    # Disassociated, it is gone from the server again.
    assert c.put(f"{N}/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}}).status_code == 200
    assert [e["OS-EXT-IPS:type"] for e in show(c, active["id"])["addresses"]["main"]] == ["fixed"]
    assert c.delete(f"{N}/floatingips/{fip['id']}").status_code == 204


def test_ports_are_deleted_with_the_server(member, admin, project):
    view = boot(member.client, networks=[{"uuid": project["net"]["id"]}, {"uuid": project["net"]["id"]}])
    ports = admin.get(f"{N}/ports", params={"device_id": view["id"]}).json()["ports"]
    assert len(ports) == 2 and len(view["addresses"]["main"]) == 2
    assert all(p["status"] == "ACTIVE" and p["device_owner"] == "compute:nova" for p in ports)
    delete(member.client, view["id"])
    assert admin.get(f"{N}/ports", params={"device_id": view["id"]}).json()["ports"] == []
    for p in ports:
        assert admin.get(f"{N}/ports/{p['id']}").status_code == 404


def test_user_port_is_unbound_not_deleted(member, admin, project):
    c = member.client
    port = c.post(f"{N}/ports", json={"port": {"network_id": project["net"]["id"], "name": "mine",
                                               "fixed_ips": [{"ip_address": "10.10.0.200"}]}}).json()["port"]
    view = boot(c, networks=[{"port": port["id"]}])
    assert [e["addr"] for e in view["addresses"]["main"]] == ["10.10.0.200"]
    bound = admin.get(f"{N}/ports/{port['id']}").json()["port"]
    assert bound["device_id"] == view["id"] and bound["device_owner"] == "compute:nova"
    assert bound["binding:host_id"] == "fake-host-1" and bound["status"] == "ACTIVE"
    # In use by one server, the port cannot be given to another.
    r = create(c, status=409, networks=[{"port": port["id"]}])
    assert "in use" in error_of(r, "conflictingRequest")
    delete(c, view["id"])
    after = admin.get(f"{N}/ports/{port['id']}")
    assert after.status_code == 200
    after = after.json()["port"]
    assert after["device_id"] == "" and after["device_owner"] == "" and after["binding:host_id"] == ""
    assert after["fixed_ips"] == bound["fixed_ips"] and after["name"] == "mine"
    # ...and it may be used again.
    again = boot(c, networks=[{"port": port["id"]}])
    assert [e["addr"] for e in again["addresses"]["main"]] == ["10.10.0.200"]
    delete(c, again["id"])


def test_fixed_ip_requested(member, project):
    view = boot(member.client, networks=[{"uuid": project["net"]["id"], "fixed_ip": "10.10.0.77"}])
    assert [e["addr"] for e in view["addresses"]["main"]] == ["10.10.0.77"]
    delete(member.client, view["id"])


# ---- networks "auto", "none", required -----------------------------------------------------
@pytest.fixture
def fresh(server, admin):
    m = Member(server, admin)
    yield m
    delete_all(m.client)
    m.close()


def test_networks_auto_none_and_required(fresh):
    c = fresh.client
    # No network at all: auto gives a server without NICs.
    none = boot(c, networks="auto")
    assert none["addresses"] == {}
    net, sub = make_network(c, "10.44.0.0/24", "only")
    auto = boot(c, networks="auto")
    assert list(auto["addresses"]) == ["only"]
    assert ipaddress.ip_address(auto["addresses"]["only"][0]["addr"]) in ipaddress.ip_network("10.44.0.0/24")
    nothing = boot(c, networks="none")
    assert nothing["addresses"] == {}
    # From 2.37 the list is required; before it, a missing list means auto.
    r = create(c, status=400, networks=None, version="2.37")
    assert "networks" in error_of(r, "badRequest")
    old = create(c, networks=None, version="2.36").json()["server"]["id"]
    assert list(wait_for(c, old, "ACTIVE")["addresses"]) == ["only"]
    # Two networks of its own: auto is ambiguous (409, as Nova's NetworkAmbiguous).
    make_network(c, "10.45.0.0/24", "second")
    r = create(c, status=409, networks="auto")
    assert "Multiple possible networks" in error_of(r, "conflictingRequest")


# ---- multiple create ---------------------------------------------------------------------
def test_min_max_count_names_and_reservation(member, admin, project):
    c = member.client
    name = uniq("multi")
    r = create(c, name=name, min_count=2, max_count=3)
    first = r.json()["server"]["id"]
    reservation = show(admin, first)["OS-EXT-SRV-ATTR:reservation_id"]
    listed = c.get(f"{C}/servers/detail", params={"reservation_id": reservation}).json()["servers"]
    assert sorted(s["name"] for s in listed) == [f"{name}-1", f"{name}-2", f"{name}-3"]
    assert first in {s["id"] for s in listed}
    for s in listed:
        view = wait_for(admin, s["id"], "ACTIVE")
        assert view["OS-EXT-SRV-ATTR:launch_index"] == int(s["name"].rsplit("-", 1)[1]) - 1
        assert view["OS-EXT-SRV-ATTR:hostname"] == f"{name}-{view['OS-EXT-SRV-ATTR:launch_index'] + 1}"
    # return_reservation_id: only the reservation id is answered.
    r = create(c, name=name + "r", min_count=2, return_reservation_id=True)
    assert set(r.json()) == {"reservation_id"}
    rid = r.json()["reservation_id"]
    again = c.get(f"{C}/servers", params={"reservation_id": rid}).json()["servers"]
    assert sorted(s["name"] for s in again) == [f"{name}r-1", f"{name}r-2"]
    # A single server keeps its name.
    single = create(c, name=name + "s", max_count=1).json()["server"]["id"]
    assert show(c, single)["name"] == name + "s"
    for s in listed + again:
        delete(c, s["id"])
    delete(c, single)


# ---- list filters --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fleet(server, admin):
    """A project with four servers: names, flavors, tags, addresses and states that differ."""
    m = Member(server, admin)
    c = m.client
    net, _ = make_network(c, "10.11.0.0/24", "fleet")
    alpha = boot(c, name="alpha-1", networks=[{"uuid": net["id"], "fixed_ip": "10.11.0.5"}], tags=["a", "b"])
    beta = boot(c, name="alpha-2", flavor=NANO, networks=[{"uuid": net["id"], "fixed_ip": "10.11.0.6"}],
                tags=["b"])
    gamma = boot(c, name="gamma", networks="none", tags=["c"])
    delta = boot(c, name="delta", flavor=NANO, networks="none")
    assert c.post(f"{C}/servers/{delta['id']}/action", json={"os-stop": None}).status_code == 202
    delta = wait_for(c, delta["id"], "SHUTOFF")
    yield {"member": m, "net": net, "servers": {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}}
    delete_all(c)
    m.close()


def names(c, version="2.60", **params) -> list[str]:
    r = c.get(f"{C}/servers/detail", params=params, headers=mv(version))
    assert r.status_code == 200, r.text
    return sorted(s["name"] for s in r.json()["servers"])


def test_filter_name_regex(fleet):
    c = fleet["member"].client
    assert names(c, name="alpha") == ["alpha-1", "alpha-2"]
    assert names(c, name="^alpha-2$") == ["alpha-2"]
    assert names(c, name="a$") == ["delta", "gamma"]
    assert names(c, name="nomatch") == []
    r = c.get(f"{C}/servers", params={"name": "(unclosed"})
    assert r.status_code == 400 and error_of(r, "badRequest")


def test_filter_status(fleet):
    c = fleet["member"].client
    assert names(c, status="SHUTOFF") == ["delta"]
    assert names(c, status="active") == ["alpha-1", "alpha-2", "gamma"]
    assert names(c, status="ERROR") == []
    r = c.get(f"{C}/servers", params={"status": "BOGUS"}, headers=mv("2.38"))
    assert r.status_code == 400 and "Invalid status value" in error_of(r, "badRequest")
    assert names(c, version="2.37", status="BOGUS") == []


def test_filter_image_flavor(fleet):
    c = fleet["member"].client
    assert names(c, flavor=NANO) == ["alpha-2", "delta"]
    assert names(c, flavor=TINY) == ["alpha-1", "gamma"]
    assert len(names(c, image=IMAGE)) == 4
    assert names(c, image="00000000-0000-0000-0000-000000000000") == []


def test_filter_ip(fleet):
    c = fleet["member"].client
    assert names(c, ip="10.11.0.5") == ["alpha-1"]
    assert names(c, ip=r"^10\.11\.0\.") == ["alpha-1", "alpha-2"]
    assert names(c, ip="192.168.") == []


def test_filter_changes_since(fleet):
    c = fleet["member"].client
    gamma = fleet["servers"]["gamma"]["id"]
    r = c.put(f"{C}/servers/{gamma}", json={"server": {"name": "gamma"}})
    assert r.status_code == 200
    since = r.json()["server"]["updated"]
    found = c.get(f"{C}/servers/detail", params={"changes-since": since}).json()["servers"]
    assert gamma in {s["id"] for s in found}
    assert all(s["updated"] >= since for s in found)
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert names(c, **{"changes-since": future}) == []
    assert len(names(c, **{"changes-since": "2000-01-01T00:00:00Z"})) == 4
    r = c.get(f"{C}/servers", params={"changes-since": "yesterday"})
    assert r.status_code == 400 and error_of(r, "badRequest")


def test_filter_tags(fleet):
    c = fleet["member"].client
    assert names(c, tags="a,b") == ["alpha-1"]
    assert names(c, tags="b") == ["alpha-1", "alpha-2"]
    assert names(c, **{"tags-any": "a,c"}) == ["alpha-1", "gamma"]
    assert names(c, **{"not-tags": "a,b"}) == ["alpha-2", "delta", "gamma"]
    assert names(c, **{"not-tags-any": "a,c"}) == ["alpha-2", "delta"]
    assert names(c, tags="b", **{"not-tags": "a"}) == ["alpha-2"]


def test_all_tenants_is_for_admins(fleet, member, admin, active):
    c = fleet["member"].client
    r = c.get(f"{C}/servers", params={"all_tenants": "1"})
    assert r.status_code == 403 and "get_all_tenants" in error_of(r, "forbidden")
    # Without all_tenants each project sees its own; the admin its own project's.
    assert active["id"] not in {s["id"] for s in c.get(f"{C}/servers").json()["servers"]}
    assert active["id"] not in {s["id"] for s in admin.get(f"{C}/servers").json()["servers"]}
    everything = {s["id"] for s in admin.get(f"{C}/servers", params={"all_tenants": "True"}).json()["servers"]}
    assert active["id"] in everything
    assert {s["id"] for s in fleet["servers"].values()} <= everything
    theirs = admin.get(f"{C}/servers", params={"all_tenants": "1", "project_id": fleet["member"].project_id})
    assert sorted(s["name"] for s in theirs.json()["servers"]) == ["alpha-1", "alpha-2", "delta", "gamma"]


def test_sort(fleet):
    c = fleet["member"].client
    got = [s["name"] for s in c.get(f"{C}/servers", params={"sort_key": "display_name", "sort_dir": "asc"})
           .json()["servers"]]
    assert got == ["alpha-1", "alpha-2", "delta", "gamma"]
    got = [s["name"] for s in c.get(f"{C}/servers", params={"sort_key": "display_name", "sort_dir": "desc"})
           .json()["servers"]]
    assert got == ["gamma", "delta", "alpha-2", "alpha-1"]
    # Default: newest first.
    got = [s["name"] for s in c.get(f"{C}/servers").json()["servers"]]
    assert got == ["delta", "gamma", "alpha-2", "alpha-1"]
    for params in ({"sort_key": "bogus"}, {"sort_key": "display_name", "sort_dir": "sideways"}):
        r = c.get(f"{C}/servers", params=params)
        assert r.status_code == 400 and error_of(r, "badRequest")


def test_paging(fleet, server):
    c = fleet["member"].client
    seen, pages = [], 0
    params = {"limit": "3", "sort_key": "display_name", "sort_dir": "asc"}
    r = c.get(f"{C}/servers", params=params).json()
    while True:
        pages += 1
        seen += [s["name"] for s in r["servers"]]
        links = r.get("servers_links")
        if not links:
            break
        (link,) = links
        assert link["rel"] == "next" and link["href"].startswith(f"{server.url}{C}/servers?")
        query = parse_qs(urlparse(link["href"]).query)
        assert query["limit"] == ["3"] and query["marker"] == [r["servers"][-1]["id"]]
        r = c.get(link["href"]).json()
    assert seen == ["alpha-1", "alpha-2", "delta", "gamma"] and pages == 2
    detail = c.get(f"{C}/servers/detail", params={"limit": "1"}).json()
    assert len(detail["servers"]) == 1 and "/servers/detail?" in detail["servers_links"][0]["href"]
    assert "servers_links" not in c.get(f"{C}/servers", params={"limit": "4"}).json()
    assert c.get(f"{C}/servers", params={"limit": "0"}).json()["servers"] == []
    r = c.get(f"{C}/servers", params={"marker": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 400 and "marker" in error_of(r, "badRequest")
    r = c.get(f"{C}/servers", params={"limit": "-1"})
    assert r.status_code == 400 and error_of(r, "badRequest")


# ---- update --------------------------------------------------------------------------------
def test_update_name_and_description(member, project):
    c = member.client
    view = boot(c, name="before", description="old")
    r = c.put(f"{C}/servers/{view['id']}", json={"server": {"name": "after", "description": "new"}},
              headers=mv("2.19"))
    assert r.status_code == 200, r.text
    updated = r.json()["server"]
    assert updated["name"] == "after" and updated["description"] == "new" and updated["id"] == view["id"]
    assert show(c, view["id"])["name"] == "after"
    r = c.put(f"{C}/servers/{view['id']}", json={"server": {"description": None}}, headers=mv("2.19"))
    assert r.status_code == 200 and r.json()["server"]["description"] is None
    # description before 2.19 is not a known attribute
    r = c.put(f"{C}/servers/{view['id']}", json={"server": {"description": "x"}}, headers=mv("2.18"))
    assert r.status_code == 400 and error_of(r, "badRequest")
    r = c.put(f"{C}/servers/{view['id']}", json={"server": {"name": ""}})
    assert r.status_code == 400 and error_of(r, "badRequest")
    r = c.put(f"{C}/servers/{view['id']}", json={"server": {"flavorRef": "2"}})
    assert r.status_code == 400 and error_of(r, "badRequest")
    delete(c, view["id"])


# ---- metadata ------------------------------------------------------------------------------
def test_metadata(member, admin, project):
    c = member.client
    view = boot(c, metadata={"a": "1", "b": "2"})
    base = f"{C}/servers/{view['id']}/metadata"
    assert c.get(base).json() == {"metadata": {"a": "1", "b": "2"}}
    r = c.post(base, json={"metadata": {"b": "3", "c": "4"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"a": "1", "b": "3", "c": "4"}}
    r = c.put(base, json={"metadata": {"x": "y"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"x": "y"}}
    assert c.get(f"{base}/x").json() == {"meta": {"x": "y"}}
    r = c.get(f"{base}/nope")
    assert r.status_code == 404 and error_of(r, "itemNotFound")
    r = c.put(f"{base}/k", json={"meta": {"k": "v"}})
    assert r.status_code == 200 and r.json() == {"meta": {"k": "v"}}
    r = c.put(f"{base}/k", json={"meta": {"other": "v"}})
    assert r.status_code == 400 and "mismatch" in error_of(r, "badRequest")
    r = c.put(f"{base}/k", json={"meta": {"k": "v", "j": "w"}})
    assert r.status_code == 400 and error_of(r, "badRequest")
    assert c.delete(f"{base}/x").status_code == 204
    r = c.delete(f"{base}/x")
    assert r.status_code == 404 and error_of(r, "itemNotFound")
    assert show(c, view["id"])["metadata"] == {"k": "v"}
    for bad in ({"metadata": {"k": 1}}, {"metadata": {"": "v"}}, {"metadata": {"k" * 256: "v"}},
                {"metadata": {"k": "v" * 256}}, {"metadata": ["k"]}, {"meta": {"k": "v"}}):
        r = c.post(base, json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert error_of(r, "badRequest")
    # The metadata_items quota.
    set_quota(admin, member.project_id, metadata_items=3)
    try:
        r = c.post(base, json={"metadata": {"1": "1", "2": "2", "3": "3"}})
        assert r.status_code == 403 and "metadata_items" in error_of(r, "forbidden")
        assert c.get(base).json() == {"metadata": {"k": "v"}}
        assert c.post(base, json={"metadata": {"1": "1", "2": "2"}}).status_code == 200
        r = c.put(f"{base}/4", json={"meta": {"4": "4"}})
        assert r.status_code == 403 and "metadata_items" in error_of(r, "forbidden")
        r = create(c, status=403, metadata={str(i): "v" for i in range(4)})
        assert "metadata_items" in error_of(r, "forbidden")
    finally:
        set_quota(admin, member.project_id, metadata_items=128)
    delete(c, view["id"])


# ---- actions -------------------------------------------------------------------------------
def action(c, sid, body, status=202):
    r = c.post(f"{C}/servers/{sid}/action", json=body)
    assert r.status_code == status, r.text
    return r


def test_stop_start_reboot(member, project):
    c = member.client
    sid = boot(c)["id"]
    action(c, sid, {"os-stop": None})
    view = wait_for(c, sid, "SHUTOFF")
    assert view["OS-EXT-STS:power_state"] == 4 and view["OS-EXT-STS:vm_state"] == "stopped"
    assert "progress" not in view
    r = action(c, sid, {"os-stop": None}, status=409)
    assert "stop" in error_of(r, "conflictingRequest")
    r = action(c, sid, {"reboot": {"type": "SOFT"}}, status=409)
    assert error_of(r, "conflictingRequest")
    action(c, sid, {"os-start": None})
    view = wait_for(c, sid, "ACTIVE")
    assert view["OS-EXT-STS:power_state"] == 1
    r = action(c, sid, {"os-start": None}, status=409)
    assert "start" in error_of(r, "conflictingRequest")
    for kind in ("SOFT", "HARD", "soft"):
        action(c, sid, {"reboot": {"type": kind}})
        assert show(c, sid)["status"] in ("REBOOT", "HARD_REBOOT", "ACTIVE")
        view = wait_for(c, sid, "ACTIVE")
        assert view["OS-EXT-STS:power_state"] == 1
    for bad in ({"reboot": {"type": "MEDIUM"}}, {"reboot": {}}, {"reboot": None}):
        r = action(c, sid, bad, status=400)
        assert error_of(r, "badRequest")
    # A HARD reboot of a stopped server starts it, as in Nova.
    action(c, sid, {"os-stop": None})
    wait_for(c, sid, "SHUTOFF")
    action(c, sid, {"reboot": {"type": "HARD"}})
    assert wait_for(c, sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    delete(c, sid)


def test_console_output(member, project):
    c = member.client
    sid = boot(c, name="consoled", networks=[{"uuid": project["net"]["id"]}])["id"]
    out = action(c, sid, {"os-getConsoleOutput": {}}, status=200).json()["output"]
    lines = out.splitlines()
    assert len(lines) >= 2 and "consoled login:" in out
    two = action(c, sid, {"os-getConsoleOutput": {"length": 2}}, status=200).json()["output"]
    assert two.splitlines() == lines[-2:]
    assert action(c, sid, {"os-getConsoleOutput": {"length": "1"}}, status=200).json()["output"].splitlines() == \
        lines[-1:]
    assert action(c, sid, {"os-getConsoleOutput": {"length": -1}}, status=200).json()["output"] == out
    assert action(c, sid, {"os-getConsoleOutput": None}, status=200).json()["output"] == out
    for bad in ({"length": "x"}, {"length": -2}, {"length": True}):
        r = action(c, sid, {"os-getConsoleOutput": bad}, status=400)
        assert error_of(r, "badRequest")
    delete(c, sid)


def test_unknown_and_malformed_actions(member, active):
    c = member.client
    r = action(c, active["id"], {"os-fly": None}, status=400)
    assert "os-fly" in error_of(r, "badRequest")
    for body in ({}, {"os-stop": None, "os-start": None}, ["os-stop"]):
        r = action(c, active["id"], body, status=400)
        assert error_of(r, "badRequest")
    r = action(c, "00000000-0000-0000-0000-000000000000", {"os-fly": None}, status=404)
    assert error_of(r, "itemNotFound")
    r = action(c, "00000000-0000-0000-0000-000000000000", {"os-stop": None}, status=404)
    assert error_of(r, "itemNotFound")


def test_reset_state_is_admin_only(member, admin, project):
    c = member.client
    sid = boot(c)["id"]
    r = action(c, sid, {"os-resetState": {"state": "error"}}, status=403)
    assert error_of(r, "forbidden")
    action(admin, sid, {"os-resetState": {"state": "error"}})
    assert show(c, sid)["status"] == "ERROR"
    action(admin, sid, {"os-resetState": {"state": "active"}})
    assert show(c, sid)["status"] == "ACTIVE"
    r = action(admin, sid, {"os-resetState": {"state": "bogus"}}, status=400)
    assert error_of(r, "badRequest")
    delete(c, sid)


# ---- key pairs ---------------------------------------------------------------------------
def test_key_name(member, other, admin):
    r = member.client.post(f"{C}/os-keypairs", json={"keypair": {"name": "mykey"}})
    assert r.status_code in (200, 201), r.text
    view = boot(member.client, key_name="mykey")
    assert view["key_name"] == "mykey"
    assert show(admin, view["id"], "2.1")["key_name"] == "mykey"
    # Another user's key pair is not one this user may name.
    r = create(other.client, status=400, key_name="mykey")
    assert error_of(r, "badRequest") == "Invalid key_name provided."
    # Deleting the key pair leaves the server's record of it.
    assert member.client.delete(f"{C}/os-keypairs/mykey").status_code in (202, 204)
    assert show(member.client, view["id"])["key_name"] == "mykey"
    delete(member.client, view["id"])


def test_error_responses_carry_the_version(member):
    r = member.client.get(f"{C}/servers/00000000-0000-0000-0000-000000000000", headers=mv("2.50"))
    assert r.status_code == 404 and r.headers["OpenStack-API-Version"] == "compute 2.50"
    assert r.headers["X-OpenStack-Request-Id"].startswith("req-")


# ---- hostId and delete ---------------------------------------------------------------------
def test_host_id_differs_between_projects(member, other, active):
    mine = boot(member.client)
    theirs = boot(other.client)
    assert mine["hostId"] == active["hostId"] and len(mine["hostId"]) == 56
    assert theirs["hostId"] and theirs["hostId"] != mine["hostId"]
    delete(member.client, mine["id"])
    delete(other.client, theirs["id"])


def test_delete_frees_the_host(member, admin, project):
    before = hypervisors(admin)["fake-host-1"]
    view = boot(member.client, flavor="3", networks=[{"uuid": project["net"]["id"]}])  # m1.medium
    during = hypervisors(admin)["fake-host-1"]
    assert during["vcpus_used"] == before["vcpus_used"] + 2
    assert during["memory_mb_used"] == before["memory_mb_used"] + 4096
    assert during["local_gb_used"] == before["local_gb_used"] + 40
    assert during["running_vms"] == before["running_vms"] + 1
    r = member.client.delete(f"{C}/servers/{view['id']}")
    assert r.status_code == 204 and r.content == b""
    wait_gone(member.client, view["id"])
    r = member.client.get(f"{C}/servers/{view['id']}")
    assert r.status_code == 404 and view["id"] in error_of(r, "itemNotFound")
    assert hypervisors(admin)["fake-host-1"] == before
    assert view["id"] not in {s["id"] for s in member.client.get(f"{C}/servers").json()["servers"]}
    r = member.client.delete(f"{C}/servers/{view['id']}")
    assert r.status_code == 404 and error_of(r, "itemNotFound")


def test_deleting_everything_leaves_no_usage(admin, server):
    delete_all(admin, all_tenants="1")
    assert usage_is_zero(admin)
    assert admin.get(f"{C}/servers", params={"all_tenants": "1"}).json()["servers"] == []
    stats = admin.get(f"{C}/os-hypervisors/statistics").json()["hypervisor_statistics"]
    assert stats["vcpus_used"] == stats["memory_mb_used"] == stats["running_vms"] == 0


def test_max_limit_pages_long_lists(server, admin):
    """As Nova's max_limit: a list answers at most 1,000 servers, with a next link for the
    rest, whether or not the client asked for more."""
    m = Member(server, admin)
    try:
        set_quota(admin, m.project_id, instances=-1, cores=-1, ram=-1)
        c = m.client
        r = create(c, name="many", networks="none", min_count=1001, max_count=1001, flavor=NANO)
        assert r.status_code == 202
        wait_until(lambda: not c.get(f"{C}/servers", params={"status": "BUILD", "limit": "1"}).json()["servers"],
                   timeout=120, what="1,001 servers built")
        for params in ({}, {"limit": "5000"}):
            first = c.get(f"{C}/servers", params=params).json()
            assert len(first["servers"]) == 1000
            (link,) = first["servers_links"]
            rest = c.get(link["href"]).json()
            assert len(rest["servers"]) == 1 and "servers_links" not in rest
            ids = {s["id"] for s in first["servers"]} | {s["id"] for s in rest["servers"]}
            assert len(ids) == 1001
        for sid in ids:
            assert c.delete(f"{C}/servers/{sid}").status_code == 204
        wait_until(lambda: not c.get(f"{C}/servers", params={"limit": "1"}).json()["servers"], timeout=120,
                   what="1,001 servers deleted")
    finally:
        m.close()


def test_roles_reader_reads_and_custom_roles_write(server, admin):
    """A project's reader only reads; any other role on the project (the seed's custom
    ``fabric`` role) manages its servers, server groups and volumes, as Nova's and Cinder's
    admin-or-owner rule."""
    custom = uniq("role")
    assert admin.post("/identity/v3/roles", json={"role": {"name": custom}}).status_code == 201
    owner = make_member(server, admin, role=custom)
    with client_for(server, owner["token"]) as c:
        sid = boot(c, name="by-custom-role")["id"]
        r = c.post(f"{C}/os-server-groups", json={"server_group": {"name": "g", "policies": ["affinity"]}})
        assert r.status_code == 200, r.text
        r = c.post(f"/volume/v3/{owner['project_id']}/volumes", json={"volume": {"size": 1}})
        assert r.status_code == 202, r.text
    reader = make_member(server, admin, role="reader")
    reader_role = reader["role_id"]
    r = admin.put(f"/identity/v3/projects/{owner['project_id']}/users/{reader['user_id']}/roles/{reader_role}")
    assert r.status_code == 204
    token = issue_token(server, reader["name"], reader["password"], owner["name"])
    with client_for(server, token) as rc:
        assert rc.get(f"{C}/servers/{sid}").status_code == 200
        assert [s["id"] for s in rc.get(f"{C}/servers").json()["servers"]] == [sid]
        for r in (rc.post(f"{C}/servers", json={"server": server_body()}),
                  rc.post(f"{C}/servers/{sid}/action", json={"os-stop": None}),
                  rc.put(f"{C}/servers/{sid}", json={"server": {"name": "x"}}),
                  rc.post(f"{C}/servers/{sid}/metadata", json={"metadata": {"a": "b"}}),
                  rc.delete(f"{C}/servers/{sid}"),
                  rc.post(f"{C}/os-server-groups", json={"server_group": {"name": "g", "policies": ["affinity"]}}),
                  rc.post(f"/volume/v3/{owner['project_id']}/volumes", json={"volume": {"size": 1}})):
            assert r.status_code == 403, r.text
        assert "forbidden" in rc.post(f"{C}/servers", json={"server": server_body()}).json()
    with client_for(server, owner["token"]) as c:
        delete(c, sid)
