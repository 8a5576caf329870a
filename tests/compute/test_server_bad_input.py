"""Bad input to the servers API: every refusal is a 4xx in Nova's format (the error key and
a message that says what is wrong), nothing is created by a refused request, and nothing
gives a 5xx (the ``server`` fixture fails the module on any)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.compute.conftest import C, IMAGE, N, TINY, boot, delete, error_of, make_network, mv, public_network_id, \
    server_body, show, uniq
from tests.conftest import NOT_NUMBERS

pytestmark = pytest.mark.inprocess  # bad input: the app in process, no caas up

ZERO = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def net(member):
    return make_network(member.client, "10.50.0.0/24", "bad-input")[0]


@pytest.fixture(scope="module")
def foreign(other):
    """A network and a port of another project."""
    net, _ = make_network(other.client, "10.51.0.0/24", "theirs")
    port = other.client.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    return {"net": net, "port": port}


def post(c, payload, version="2.60", **kw):
    return c.post(f"{C}/servers", headers={**mv(version), **kw.pop("headers", {})}, **({"json": payload} | kw))


def refused(r, status: int, key: str, *words: str) -> str:
    assert r.status_code == status, r.text
    message = error_of(r, key)
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


def test_malformed_json(member):
    for raw in (b"{", b"{'server': {}}", b"\xff\xfe", b"[1, 2", b'{"server": {"name": "a",}}'):
        r = member.client.post(f"{C}/servers", content=raw, headers={"Content-Type": "application/json"})
        refused(r, 400, "badRequest")


def test_content_types_as_nova(member):
    """Nova reads JSON sent as text/plain (eventlet's default type) or with no Content-Type,
    and under its own two JSON types; any other type is 415. A UTF-8 byte order mark is
    malformed JSON (oslo's jsonutils decodes plain UTF-8): 400."""
    c = member.client
    for ctype in ("text/plain", None, "application/vnd.openstack.compute+json", "application/json; charset=utf-8"):
        raw = json.dumps({"server": server_body(networks="none")})
        r = c.post(f"{C}/servers", content=raw, headers={**mv("2.60"), **({"Content-Type": ctype} if ctype else {})})
        assert r.status_code == 202, (ctype, r.text)
        delete(c, r.json()["server"]["id"])
    for ctype in ("application/xml", "text/html", "application/vnd.other+json", "application/x-www-form-urlencoded"):
        r = c.post(f"{C}/servers", content=json.dumps({"server": server_body(networks="none")}),
                   headers={**mv("2.60"), "Content-Type": ctype})
        refused(r, 415, "badMediaType")
    raw = b"\xef\xbb\xbf" + json.dumps({"server": server_body(networks="none")}).encode()
    refused(c.post(f"{C}/servers", content=raw, headers={**mv("2.60"), "Content-Type": "application/json"}), 400,
            "badRequest")
    assert c.get(f"{C}/servers").json()["servers"] == []


def test_body_shape(member):
    for payload in (None, [], "server", {"server": None}, {"server": []}, {"server": "x"}, {"servers": {}}, {}):
        r = post(member.client, payload) if payload is not None else member.client.post(f"{C}/servers")
        refused(r, 400, "badRequest")


@pytest.mark.parametrize(("field", "value"), [
    ("name", 5), ("name", None), ("name", ""), ("name", "   "), ("name", "x" * 256), ("name", ["a"]),
    ("min_count", "x"), ("min_count", 0), ("min_count", -1), ("min_count", 1.5), ("min_count", True),
    ("max_count", "x"), ("max_count", 0), ("max_count", {}),
    ("networks", "some"), ("networks", 5), ("networks", {"uuid": ZERO}), ("networks", [5]),
    ("networks", [{"uuid": 5}]), ("networks", [{"port": []}]), ("networks", [{"bogus": ZERO}]),
    ("networks", [{}]), ("networks", [{"fixed_ip": "10.0.0.1"}]),
    ("metadata", []), ("metadata", "k=v"), ("metadata", {"k": 1}), ("metadata", {"k": None}),
    ("metadata", {"": "v"}), ("metadata", {"k" * 256: "v"}), ("metadata", {"k": "v" * 256}),
    ("security_groups", "default"), ("security_groups", ["default"]), ("security_groups", [{"name": 5}]),
    ("security_groups", {"name": "default"}),
    ("flavorRef", {}), ("flavorRef", None), ("flavorRef", ""), ("flavorRef", True), ("flavorRef", [TINY]),
    ("imageRef", 5), ("imageRef", None), ("imageRef", ""), ("imageRef", {"id": IMAGE}),
    ("availability_zone", 5), ("availability_zone", ["nova"]),
    ("user_data", 5), ("user_data", {"a": 1}),
    ("key_name", 5), ("key_name", ["k"]),
    ("config_drive", 5), ("config_drive", ["true"]),
    ("accessIPv4", 5), ("accessIPv4", "not-an-ip"), ("accessIPv4", "::1"), ("accessIPv6", "10.0.0.1"),
    ("accessIPv6", ["::1"]), ("description", 5), ("description", "d" * 256),
    ("tags", "a,b"), ("tags", [1]), ("tags", ["a/b"]), ("tags", ["a,b"]), ("tags", ["x" * 61]),
    ("tags", [str(i) for i in range(51)]),
    ("bogus_field", "x"),
    ("block_device_mapping_v2", [{"boot_index": 0, "uuid": IMAGE, "source_type": "image"}]),
])
def test_wrong_types_and_values(member, net, field, value):
    body = server_body(networks="none")
    body[field] = value
    r = post(member.client, {"server": body})
    message = refused(r, 400, "badRequest")
    if field not in ("bogus_field", "block_device_mapping_v2"):
        assert field.split("_")[0].lower() in message.lower() or "invalid" in message.lower(), message


@pytest.mark.parametrize("field", ["name", "flavorRef", "imageRef"])
def test_missing_fields(member, field):
    body = server_body(networks="none")
    del body[field]
    r = post(member.client, {"server": body})
    refused(r, 400, "badRequest", field)


def test_min_count_over_max_and_huge(member):
    r = post(member.client, {"server": server_body(networks="none", min_count=3, max_count=2)})
    refused(r, 400, "badRequest", "min_count")
    for huge in (10**9, 2**63, "99999999999999999999"):
        r = post(member.client, {"server": server_body(networks="none", min_count=huge)})
        refused(r, 400, "badRequest", "min_count")
        r = post(member.client, {"server": server_body(networks="none", max_count=huge)})
        refused(r, 400, "badRequest", "max_count")


def test_body_over_one_mebibyte(member, server):
    body = {"server": server_body(networks="none", user_data="A" * (1024 * 1024 + 16))}
    r = post(member.client, body)
    refused(r, 413, "overLimit", "too large")
    # Without Content-Length (chunked), the same answer.
    raw = json.dumps(body).encode()

    def chunks():
        for i in range(0, len(raw), 65536):
            yield raw[i:i + 65536]
    r = member.client.post(f"{C}/servers", content=chunks(), headers={"Content-Type": "application/json"})
    refused(r, 413, "overLimit")


def test_user_data(member):
    r = post(member.client, {"server": server_body(networks="none", user_data="not base64!!")})
    refused(r, 400, "badRequest", "base 64")
    r = post(member.client, {"server": server_body(networks="none", user_data="YWJ")})
    refused(r, 400, "badRequest", "base 64")
    big = base64.b64encode(b"x" * 65536).decode()
    r = post(member.client, {"server": server_body(networks="none", user_data=big)})
    refused(r, 400, "badRequest", "user_data")


def test_unknown_references(member, net):
    c = member.client
    r = post(c, {"server": server_body(networks="none", flavor="no-such-flavor")})
    refused(r, 400, "badRequest", "Flavor no-such-flavor could not be found.")
    r = post(c, {"server": server_body(networks="none", flavor="x" * 300)})
    refused(r, 400, "badRequest", "could not be found")
    r = post(c, {"server": server_body(networks="none", image=ZERO)})
    refused(r, 400, "badRequest", f"Image {ZERO} could not be found.")
    r = post(c, {"server": server_body(networks="none", image="x" * 300)})
    refused(r, 400, "badRequest")
    r = post(c, {"server": server_body(networks=[{"uuid": ZERO}])})
    refused(r, 400, "badRequest", f"Network {ZERO} could not be found.")
    r = post(c, {"server": server_body(networks=[{"uuid": "not-a-uuid"}])})
    refused(r, 400, "badRequest", "not-a-uuid")
    r = post(c, {"server": server_body(networks=[{"port": ZERO}])})
    refused(r, 400, "badRequest", f"Port {ZERO} could not be found.")
    r = post(c, {"server": server_body(networks=[{"uuid": net["id"], "fixed_ip": "999.1.1.1"}])})
    refused(r, 400, "badRequest", "999.1.1.1")
    r = post(c, {"server": server_body(networks="none", key_name="no-such-key")})
    refused(r, 400, "badRequest", "Invalid key_name provided.")
    r = post(c, {"server": server_body(networks=[{"uuid": net["id"]}], security_groups=[{"name": "nope"}])})
    refused(r, 400, "badRequest", "nope")
    r = post(c, {"server": server_body(networks="none", availability_zone="no-such-zone")})
    refused(r, 400, "badRequest", "availability zone")


def test_flavor_by_url_is_accepted(member, server):
    view = boot(member.client, flavor=f"{server.url}{C}/flavors/{TINY}")
    assert view["flavor"]["original_name"] == "m1.tiny"
    delete(member.client, view["id"])


def test_other_projects_network_and_port_are_not_revealed(member, foreign):
    c = member.client
    r = post(c, {"server": server_body(networks=[{"uuid": foreign["net"]["id"]}])})
    refused(r, 400, "badRequest", f"Network {foreign['net']['id']} could not be found.")
    r = post(c, {"server": server_body(networks=[{"port": foreign["port"]["id"]}])})
    refused(r, 400, "badRequest", f"Port {foreign['port']['id']} could not be found.")


def test_external_network_is_refused(member):
    r = post(member.client, {"server": server_body(networks=[{"uuid": public_network_id(member.client)}])})
    refused(r, 403, "forbidden", "external network")


def test_one_port_for_many_servers(member, net):
    port = member.client.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    r = post(member.client, {"server": server_body(networks=[{"port": port["id"]}], max_count=2)})
    refused(r, 400, "badRequest", "port")
    assert member.client.delete(f"{N}/ports/{port['id']}").status_code == 204


def test_microversion_gated_fields(member):
    r = post(member.client, {"server": server_body(networks="none", tags=["a"])}, version="2.51")
    refused(r, 400, "badRequest", "tags")
    r = post(member.client, {"server": server_body(networks="none", description="d")}, version="2.18")
    refused(r, 400, "badRequest", "description")
    r = post(member.client, {"server": server_body(networks="none", personality=[])}, version="2.57")
    refused(r, 400, "badRequest", "personality")
    r = post(member.client, {"server": server_body(networks=None)}, version="2.37")
    refused(r, 400, "badRequest", "networks")


def test_nul_characters(member, net):
    c = member.client
    for body in (server_body(name="a\x00b", networks="none"), server_body(networks="none", metadata={"k": "v\x00"}),
                 server_body(networks=[{"uuid": net["id"] + "\x00"}])):
        refused(post(c, {"server": body}), 400, "badRequest", "NUL")
    r = c.get(f"{C}/servers", params={"name": "a\x00"})
    refused(r, 400, "badRequest", "NUL")


def test_shell_metacharacters_are_stored_verbatim(member, admin):
    name = "$(rm -rf /); echo ';|&' `id` > /tmp/x"
    view = boot(member.client, name=name, metadata={"cmd": "$(reboot)"}, networks="none")
    assert view["name"] == name and view["metadata"] == {"cmd": "$(reboot)"}
    hostname = show(admin, view["id"])["OS-EXT-SRV-ATTR:hostname"]
    assert hostname and all(ch.isalnum() and ch.isascii() or ch == "-" for ch in hostname), hostname
    assert hostname == hostname.lower() and not hostname.startswith("-") and len(hostname) <= 63
    assert "rm" in hostname and "echo" in hostname
    listed = member.client.get(f"{C}/servers", params={"name": r"^\$\(rm"}).json()["servers"]
    assert [s["name"] for s in listed] == [name]
    bangs = boot(member.client, name="!!!", networks="none")["id"]
    assert show(admin, bangs)["OS-EXT-SRV-ATTR:hostname"]
    delete(member.client, view["id"])
    delete(member.client, bangs)


def test_bad_paths_and_ids(member):
    c = member.client
    for sid in ("not-a-uuid", ZERO, "x" * 300, "%20"):
        for method, suffix, body in (("GET", "", None), ("PUT", "", {"server": {"name": "x"}}),
                                     ("DELETE", "", None), ("POST", "/action", {"os-stop": None}),
                                     ("GET", "/metadata", None), ("POST", "/metadata", {"metadata": {"a": "b"}}),
                                     ("GET", "/metadata/k", None), ("DELETE", "/metadata/k", None)):
            r = c.request(method, f"{C}/servers/{sid}{suffix}", json=body)
            refused(r, 404, "itemNotFound")
    refused(c.get(f"{C}/no-such-thing"), 404, "itemNotFound")
    r = c.request("PATCH", f"{C}/servers")
    refused(r, 405, "badMethod")
    r = c.post(f"{C}/servers", content=b"<server/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and error_of(r, "badMediaType")


def test_bad_update_and_metadata_bodies(member):
    c = member.client
    sid = boot(c, networks="none")["id"]
    for body in (None, [], {"server": None}, {"server": {"name": 5}}, {"server": {"name": "x" * 256}},
                 {"server": {"accessIPv4": 5}}, {"server": {"accessIPv4": "1.2.3"}},
                 {"server": {"accessIPv6": "1.2.3.4"}}, {"server": {"bogus": 1}}):
        r = c.put(f"{C}/servers/{sid}", json=body) if body is not None else c.put(f"{C}/servers/{sid}")
        refused(r, 400, "badRequest")
    for body in (None, {"metadata": None}, {"metadata": {"a": 5}}, {"meta": {}}, []):
        r = c.post(f"{C}/servers/{sid}/metadata", json=body) if body is not None else \
            c.post(f"{C}/servers/{sid}/metadata")
        refused(r, 400, "badRequest")
    r = c.put(f"{C}/servers/{sid}/metadata/a", json={"meta": {"a": 5}})
    refused(r, 400, "badRequest")
    assert show(c, sid)["metadata"] == {}
    r = c.put(f"{C}/servers/{sid}", json={"server": {"accessIPv4": "192.0.2.1", "accessIPv6": "2001:db8::1"}})
    assert r.status_code == 200 and (r.json()["server"]["accessIPv4"], r.json()["server"]["accessIPv6"]) == (
        "192.0.2.1", "2001:db8::1")
    delete(c, sid)


def test_bad_list_queries(member):
    c = member.client
    for params in ({"limit": "x"}, {"limit": "-3"}, {"marker": "nope"}, {"changes-since": "soon"},
                   {"sort_key": "password"}, {"sort_dir": "up"}, {"name": "[unclosed"}, {"ip": "(("}):
        refused(c.get(f"{C}/servers/detail", params=params), 400, "badRequest")
    refused(c.get(f"{C}/servers", params={"status": "nonsense"}, headers=mv("2.38")), 400, "badRequest")


def test_numbers_in_plain_decimal_only(member, admin):
    """Wherever the compute API reads a number from a string (query, path or body), only plain
    ASCII decimals within the field's range pass: "١٢" was taken as 12, " 1" and "+1" as 1, and
    a hypervisor page of 10**30 was a 500 (the database's integer overflowed)."""
    c = member.client
    sid = boot(c, networks="none")["id"]
    flavor = admin.post(f"{C}/flavors", json={"flavor": {"name": uniq("f"), "ram": 64, "vcpus": 1, "disk": 1}})
    fid = flavor.json()["flavor"]["id"]
    for text in NOT_NUMBERS:
        for r, words in (
                (c.get(f"{C}/servers/detail", params={"limit": text}), ["limit"]),
                (post(c, {"server": server_body(networks="none", min_count=text)}), ["min_count"]),
                (post(c, {"server": server_body(networks="none", max_count=text)}), ["max_count"]),
                (c.post(f"{C}/servers/{sid}/action", json={"os-getConsoleOutput": {"length": text}}), ["length"]),
                (c.get(f"{C}/flavors/detail", params={"limit": text}), ["limit"]),
                (c.get(f"{C}/flavors/detail", params={"minRam": text}), ["minRam"]),
                (c.get(f"{C}/flavors", params={"minDisk": text}), ["minDisk"]),
                (c.get(f"{C}/os-keypairs", params={"limit": text}, headers=mv("2.35")), ["limit"]),
                (c.get(f"{C}/os-server-groups", params={"limit": text}), ["limit"]),
                (c.get(f"{C}/os-server-groups", params={"offset": text}), ["offset"]),
                (admin.put(f"{C}/os-quota-sets/{member.project_id}", json={"quota_set": {"instances": text}}),
                 ["instances"]),
                (admin.get(f"{C}/os-hypervisors", params={"limit": text}, headers=mv("2.33")), ["limit"]),
                (admin.get(f"{C}/os-hypervisors", params={"marker": text}, headers=mv("2.33")), ["marker"]),
                (admin.post(f"{C}/flavors", json={"flavor": {"name": uniq("f"), "ram": text, "vcpus": 1, "disk": 1}}),
                 ["ram"]),
                (admin.post(f"{C}/flavors/{fid}/os-extra_specs",
                            json={"extra_specs": {"pci_passthrough:alias": f"a:{text}"}}), ["pci"])):
            refused(r, 400, "badRequest", *words)
        refused(admin.get(f"{C}/os-hypervisors/{text}", headers=mv("2.52")), 404, "itemNotFound")
    assert c.get(f"{C}/servers/{sid}").json()["server"]["metadata"] == {}
    assert admin.get(f"{C}/flavors/{fid}/os-extra_specs").json() == {"extra_specs": {}}
    assert admin.get(f"{C}/os-quota-sets/{member.project_id}").json()["quota_set"]["instances"] == 10
    delete(c, sid)
    assert admin.delete(f"{C}/flavors/{fid}").status_code == 202


def test_a_zero_disk_flavor_is_for_admins(member, admin):
    """Nova's zero_disk_flavor rule (admin only): a flavor with no disk sizes the root disk by
    the image, which the scheduler cannot weigh, so only volume-backed servers (none in caas)
    may use it; a member gets 403 and nothing is made, an admin boots it."""
    fid = admin.post(f"{C}/flavors", json={"flavor": {"name": uniq("zero"), "ram": 64, "vcpus": 1, "disk": 0}})
    fid = fid.json()["flavor"]["id"]
    r = post(member.client, {"server": server_body(networks="none", flavor=fid)})
    refused(r, 403, "forbidden", "Only volume-backed servers are allowed for flavors with zero disk.")
    assert member.client.get(f"{C}/servers").json()["servers"] == []
    view = boot(admin, flavor=fid, networks="none")
    assert view["status"] == "ACTIVE"
    delete(admin, view["id"])
    assert admin.delete(f"{C}/flavors/{fid}").status_code == 202


def test_services_are_admin_only(member, admin):
    """Forcing a compute service down or disabling it is for admins (403, nothing changes),
    through the 2.53 form (by uuid) and the older actions alike; an admin does it and undoes it."""
    (svc,) = admin.get(f"{C}/os-services", headers=mv("2.53")).json()["services"]
    url = f"{C}/os-services/{svc['id']}"
    for body in ({"forced_down": True}, {"status": "disabled", "disabled_reason": "x"}):
        refused(member.client.put(url, json=body, headers=mv("2.53")), 403, "forbidden")
    for action, body in (("force-down", {"forced_down": True}), ("disable", {})):
        r = member.client.put(f"{C}/os-services/{action}", json={"host": svc["host"], "binary": "nova-compute", **body},
                              headers=mv("2.11"))
        refused(r, 403, "forbidden")
    refused(member.client.get(f"{C}/os-services"), 403, "forbidden")
    assert admin.get(f"{C}/os-services", headers=mv("2.53")).json()["services"] == [svc]
    try:
        r = admin.put(url, json={"forced_down": True, "status": "disabled"}, headers=mv("2.53"))
        assert r.status_code == 200 and r.json()["service"]["forced_down"] is True, r.text
    finally:
        r = admin.put(url, json={"forced_down": False, "status": "enabled"}, headers=mv("2.53"))
        assert r.status_code == 200 and r.json()["service"]["state"] == "up", r.text


def test_nothing_was_created(member, admin):
    assert member.client.get(f"{C}/servers").json()["servers"] == []
    q = member.client.get(f"{C}/os-quota-sets/{member.project_id}/detail").json()["quota_set"]
    assert q["instances"]["in_use"] == q["cores"]["in_use"] == q["ram"]["in_use"] == 0
    ports = admin.get(f"{N}/ports", params={"project_id": member.project_id}).json()["ports"]
    assert [p["device_owner"] for p in ports if p["device_owner"].startswith("compute:")] == []
