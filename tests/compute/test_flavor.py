"""Flavors over HTTP on both backends: DevStack's defaults on a first start (and never again),
Nova's shapes at several microversions, filters, sorting and paging, private flavors and
flavor access, extra specs (with PCI alias checks), policy, and bad input answered in Nova's
error format. The server fixture fails the module on any 5xx."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.compute.conftest import C, create, error_of, mv, uniq
from tests.conftest import CaasServer, client_for, fresh_database, issue_token

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent creates of one name: a unique index decides

DEFAULTS = {  # DevStack: id -> (name, ram, disk, vcpus)
    "1": ("m1.tiny", 512, 1, 1), "2": ("m1.small", 2048, 20, 1), "3": ("m1.medium", 4096, 40, 2),
    "4": ("m1.large", 8192, 80, 4), "5": ("m1.xlarge", 16384, 160, 8), "42": ("m1.nano", 128, 1, 1),
    "84": ("m1.micro", 192, 1, 1), "c1": ("cirros256", 256, 1, 1), "d1": ("ds512M", 512, 5, 1),
    "d2": ("ds1G", 1024, 10, 1), "d3": ("ds2G", 2048, 10, 2), "d4": ("ds4G", 4096, 20, 4),
}
DETAIL_KEYS = {"id", "name", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral", "OS-FLV-DISABLED:disabled",
               "vcpus", "os-flavor-access:is_public", "rxtx_factor", "links"}


def new_flavor(admin: httpx.Client, version: str = "2.1", status: int = 200, **attrs) -> dict:
    body = {"name": uniq("fl"), "ram": 256, "vcpus": 1, "disk": 1, **attrs}
    r = admin.post(f"{C}/flavors", json={"flavor": body}, headers=mv(version))
    assert r.status_code == status, r.text
    return r.json()["flavor"] if status == 200 else r.json()


# ---- defaults and shapes -------------------------------------------------------------------
def test_default_flavors_are_devstacks(admin):
    r = admin.get(f"{C}/flavors/detail")
    assert r.status_code == 200, r.text
    flavors = {f["id"]: f for f in r.json()["flavors"]}
    for fid, (name, ram, disk, vcpus) in DEFAULTS.items():
        f = flavors[fid]
        assert set(f) == DETAIL_KEYS, f  # 2.1: no description, never extra_specs inline
        assert (f["name"], f["ram"], f["disk"], f["vcpus"]) == (name, ram, disk, vcpus)
        assert f["swap"] == "" and f["OS-FLV-EXT-DATA:ephemeral"] == 0 and f["rxtx_factor"] == 1.0
        assert f["os-flavor-access:is_public"] is True and f["OS-FLV-DISABLED:disabled"] is False
        assert [link["rel"] for link in f["links"]] == ["self", "bookmark"]
        assert f["links"][0]["href"].endswith(f"/compute/v2.1/flavors/{fid}")
        assert f["links"][1]["href"].endswith(f"/compute/flavors/{fid}")
    # Nova's default order: flavor id ascending, as strings.
    ids = [f["id"] for f in r.json()["flavors"] if f["id"] in DEFAULTS]
    assert ids == sorted(DEFAULTS)
    specs = admin.get(f"{C}/flavors/c1/os-extra_specs").json()
    assert specs == {"extra_specs": {"hw_rng:allowed": "True"}}
    brief = admin.get(f"{C}/flavors").json()["flavors"]
    tiny = next(f for f in brief if f["id"] == "1")
    assert set(tiny) == {"id", "name", "links"} and tiny["name"] == "m1.tiny"


def test_description_from_2_55(admin):
    r = admin.post(f"{C}/flavors", json={"flavor": {"name": uniq(), "ram": 64, "vcpus": 1, "disk": 0,
                                                   "description": "nope"}}, headers=mv("2.54"))
    assert r.status_code == 400 and "description" in error_of(r, "badRequest")
    f = new_flavor(admin, "2.55", description="for the tests", swap=512)
    assert f["description"] == "for the tests" and f["swap"] == 512
    for version, has in (("2.1", False), ("2.54", False), ("2.55", True), ("2.60", True)):
        shown = admin.get(f"{C}/flavors/{f['id']}", headers=mv(version))
        assert shown.headers["OpenStack-API-Version"] == f"compute {version}"
        body = shown.json()["flavor"]
        assert ("description" in body) is has and "extra_specs" not in body
        brief = next(x for x in admin.get(f"{C}/flavors", headers=mv(version)).json()["flavors"]
                     if x["id"] == f["id"])
        assert ("description" in brief) is has
    # PUT exists from 2.55, for the description only.
    assert admin.put(f"{C}/flavors/{f['id']}", json={"flavor": {"description": "x"}},
                     headers=mv("2.54")).status_code == 404
    r = admin.put(f"{C}/flavors/{f['id']}", json={"flavor": {"description": "changed"}}, headers=mv("2.55"))
    assert r.status_code == 200 and r.json()["flavor"]["description"] == "changed"
    r = admin.put(f"{C}/flavors/{f['id']}", json={"flavor": {"description": None}}, headers=mv("2.60"))
    assert r.status_code == 200 and r.json()["flavor"]["description"] is None
    r = admin.put(f"{C}/flavors/{f['id']}", json={"flavor": {"ram": 1}}, headers=mv("2.60"))
    assert r.status_code == 400, r.text
    r = admin.put(f"{C}/flavors/{uniq()}", json={"flavor": {"description": "x"}}, headers=mv("2.60"))
    assert r.status_code == 404 and "could not be found" in error_of(r, "itemNotFound")


def test_create_ids_and_types(admin):
    f = new_flavor(admin, id="my.flavor_1-x")
    assert f["id"] == "my.flavor_1-x"
    assert admin.get(f"{C}/flavors/my.flavor_1-x").json()["flavor"]["name"] == f["name"]
    number = new_flavor(admin, id=7777)
    assert number["id"] == "7777"
    for auto in (None, "auto"):
        f = new_flavor(admin, id=auto)
        assert len(f["id"]) == 36 and f["id"].count("-") == 4
    # Nova's schema accepts integers as strings, and its booleans as words.
    f = new_flavor(admin, ram="1024", vcpus="2", disk="0", swap="0", rxtx_factor="1.5",
                   **{"os-flavor-access:is_public": "false", "OS-FLV-EXT-DATA:ephemeral": "3"})
    assert (f["ram"], f["vcpus"], f["disk"], f["swap"], f["rxtx_factor"]) == (1024, 2, 0, "", 1.5)
    assert f["os-flavor-access:is_public"] is False and f["OS-FLV-EXT-DATA:ephemeral"] == 3


def test_duplicates_are_409_with_novas_messages(admin):
    f = new_flavor(admin)
    r = admin.post(f"{C}/flavors", json={"flavor": {"name": f["name"], "ram": 1, "vcpus": 1, "disk": 1}})
    assert r.status_code == 409
    assert error_of(r, "conflictingRequest") == f"Flavor with name {f['name']} already exists."
    r = admin.post(f"{C}/flavors", json={"flavor": {"name": uniq(), "ram": 1, "vcpus": 1, "disk": 1,
                                                   "id": f["id"]}})
    assert r.status_code == 409
    assert error_of(r, "conflictingRequest") == f"Flavor with ID {f['id']} already exists."


def test_names_are_verbatim(admin):
    name = "m1;$(rm -rf /)|`id`&<x> 'q' \"dq\" ünï"
    f = new_flavor(admin, name=name)
    assert f["name"] == name
    assert admin.get(f"{C}/flavors/{f['id']}").json()["flavor"]["name"] == name
    assert name in {x["name"] for x in admin.get(f"{C}/flavors/detail", params={"is_public": "none"})
                    .json()["flavors"]}


def test_delete_is_202_then_404(admin):
    f = new_flavor(admin)
    r = admin.delete(f"{C}/flavors/{f['id']}")
    assert r.status_code == 202 and r.content == b""
    r = admin.get(f"{C}/flavors/{f['id']}")
    assert r.status_code == 404 and error_of(r, "itemNotFound") == f"Flavor {f['id']} could not be found."
    assert admin.delete(f"{C}/flavors/{f['id']}").status_code == 404


# ---- lists ----------------------------------------------------------------------------------
def test_filters_sorting_and_paging(admin):
    big = new_flavor(admin, ram=2_000_000, disk=3000)
    rows = admin.get(f"{C}/flavors/detail", params={"minRam": 1_999_999}).json()["flavors"]
    assert [f["id"] for f in rows] == [big["id"]]
    rows = admin.get(f"{C}/flavors/detail", params={"minDisk": 2999}).json()["flavors"]
    assert [f["id"] for f in rows] == [big["id"]]
    rows = admin.get(f"{C}/flavors/detail", params={"sort_key": "memory_mb", "sort_dir": "desc"}).json()["flavors"]
    assert rows[0]["id"] == big["id"]
    assert [f["ram"] for f in rows] == sorted((f["ram"] for f in rows), reverse=True)
    names = [f["name"] for f in admin.get(f"{C}/flavors", params={"sort_key": "name"}).json()["flavors"]]
    assert names == sorted(names)

    everything = [f["id"] for f in admin.get(f"{C}/flavors").json()["flavors"]]
    r = admin.get(f"{C}/flavors", params={"limit": 3})
    page = r.json()
    assert [f["id"] for f in page["flavors"]] == everything[:3]
    (link,) = page["flavors_links"]
    assert link["rel"] == "next" and "/compute/v2.1/flavors?" in link["href"]
    assert f"marker={everything[2]}" in link["href"] and "limit=3" in link["href"]
    page2 = admin.get(link["href"]).json()
    assert [f["id"] for f in page2["flavors"]] == everything[3:6]
    detail = admin.get(f"{C}/flavors/detail", params={"limit": 2, "marker": everything[0]}).json()
    assert [f["id"] for f in detail["flavors"]] == everything[1:3]
    assert "/compute/v2.1/flavors/detail?" in detail["flavors_links"][0]["href"]
    assert "flavors_links" not in admin.get(f"{C}/flavors", params={"limit": 1000}).json()
    assert admin.get(f"{C}/flavors", params={"limit": 0}).json() == {"flavors": []}
    r = admin.get(f"{C}/flavors", params={"marker": "no-such-flavor"})
    assert r.status_code == 400 and error_of(r, "badRequest") == "marker [no-such-flavor] not found"
    # A marker the filters leave out still marks its place in the order.
    full = admin.get(f"{C}/flavors/detail").json()["flavors"]
    low = next(i for i, f in enumerate(full) if f["ram"] < 1024)
    rows = admin.get(f"{C}/flavors", params={"minRam": 1024, "marker": full[low]["id"]}).json()["flavors"]
    assert [f["id"] for f in rows] == [f["id"] for f in full[low + 1:] if f["ram"] >= 1024]


@pytest.mark.parametrize("params", [{"is_public": "maybe"}, {"minRam": "lots"}, {"minDisk": "1.5"},
                                    {"sort_key": "colour"}, {"sort_dir": "up"}, {"limit": "-1"},
                                    {"limit": "ten"}])
def test_bad_list_parameters(admin, params):
    r = admin.get(f"{C}/flavors/detail", params=params)
    assert r.status_code == 400, r.text
    error_of(r, "badRequest")


# ---- private flavors and access ---------------------------------------------------------------
def test_private_flavor_access(server, admin, member, other):
    private = new_flavor(admin, **{"os-flavor-access:is_public": False})
    fid = private["id"]

    def listed(client, **params):
        return {f["id"] for f in client.get(f"{C}/flavors/detail", params=params).json()["flavors"]}

    # Nobody but admins sees it; admins by default see public flavors and their project's only.
    assert fid not in listed(member.client) and fid not in listed(member.client, is_public="none")
    r = member.client.get(f"{C}/flavors/{fid}")
    assert r.status_code == 404 and error_of(r, "itemNotFound") == f"Flavor {fid} could not be found."
    assert member.client.get(f"{C}/flavors/{fid}/os-extra_specs").status_code == 404
    assert fid not in listed(admin)
    assert fid in listed(admin, is_public="false") and "1" not in listed(admin, is_public="false")
    assert {fid, "1"} <= listed(admin, is_public="None")
    assert admin.get(f"{C}/flavors/{fid}").status_code == 200

    def action(client, name, tenant, version="2.60"):
        return client.post(f"{C}/flavors/{fid}/action", json={name: {"tenant": tenant}}, headers=mv(version))

    assert admin.get(f"{C}/flavors/{fid}/os-flavor-access").json() == {"flavor_access": []}
    r = action(admin, "addTenantAccess", member.project_id)
    assert r.status_code == 200, r.text
    assert r.json() == {"flavor_access": [{"flavor_id": fid, "tenant_id": member.project_id}]}
    assert fid in listed(member.client) and fid not in listed(other.client)
    assert member.client.get(f"{C}/flavors/{fid}").status_code == 200
    assert other.client.get(f"{C}/flavors/{fid}").status_code == 404
    r = action(admin, "addTenantAccess", member.project_id)
    assert r.status_code == 409 and "already exists" in error_of(r, "conflictingRequest")
    r = action(admin, "addTenantAccess", "0" * 32)
    assert r.status_code == 400 and "is not a valid project" in error_of(r, "badRequest")
    # Only admins manage (or even list) access.
    r = action(member.client, "addTenantAccess", member.project_id)
    assert r.status_code == 403 and "add_tenant_access" in error_of(r, "forbidden")
    assert member.client.get(f"{C}/flavors/{fid}/os-flavor-access").status_code == 403

    r = action(admin, "removeTenantAccess", member.project_id)
    assert r.status_code == 200 and r.json() == {"flavor_access": []}
    assert fid not in listed(member.client)
    r = action(admin, "removeTenantAccess", member.project_id)
    assert r.status_code == 404 and "Flavor access not found" in error_of(r, "itemNotFound")

    # Public flavors have no access list; from 2.7 access cannot be added to them.
    r = admin.get(f"{C}/flavors/1/os-flavor-access")
    assert r.status_code == 404 and error_of(r, "itemNotFound") == "Access list not available for public flavors."
    r = admin.post(f"{C}/flavors/1/action", json={"addTenantAccess": {"tenant": member.project_id}},
                   headers=mv("2.7"))
    assert r.status_code == 409 and error_of(r, "conflictingRequest") == "Can not add access to a public flavor."


@pytest.mark.parametrize("body,status", [
    ({"addTenantAccess": {"tenant": "x"}, "removeTenantAccess": {"tenant": "x"}}, 400),
    ({}, 400), ([], 400), ({"resize": {}}, 404), ({"addTenantAccess": {}}, 400),
    ({"addTenantAccess": {"tenant": ""}}, 400), ({"addTenantAccess": {"tenant": 5}}, 400),
    ({"addTenantAccess": {"tenant": "x", "more": 1}}, 400), ({"addTenantAccess": "x"}, 400),
    ({"addTenantAccess": {"tenant": "x" * 256}}, 400)])
def test_bad_actions(admin, body, status):
    r = admin.post(f"{C}/flavors/1/action", json=body)
    assert r.status_code == status, r.text
    error_of(r, "badRequest" if status == 400 else "itemNotFound")


def test_action_on_unknown_flavor(admin, member):
    r = admin.post(f"{C}/flavors/{uniq()}/action", json={"removeTenantAccess": {"tenant": member.project_id}})
    assert r.status_code == 404, r.text


# ---- extra specs ----------------------------------------------------------------------------
def test_extra_specs(admin, member):
    fid = new_flavor(admin)["id"]
    base = f"{C}/flavors/{fid}/os-extra_specs"
    assert admin.get(base).json() == {"extra_specs": {}}
    r = admin.post(base, json={"extra_specs": {"hw:cpu_policy": "dedicated", "quota:vif 1.x": 12}})
    assert r.status_code == 200 and r.json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:vif 1.x": 12}}
    assert admin.get(base).json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:vif 1.x": "12"}}
    r = admin.get(f"{base}/hw:cpu_policy")
    assert r.status_code == 200 and r.json() == {"hw:cpu_policy": "dedicated"}
    r = admin.get(f"{base}/nope")
    assert r.status_code == 404
    assert error_of(r, "itemNotFound") == f"Flavor {fid} has no extra specs with key nope."
    r = admin.put(f"{base}/hw:cpu_policy", json={"hw:cpu_policy": "shared"})
    assert r.status_code == 200 and r.json() == {"hw:cpu_policy": "shared"}
    r = admin.put(f"{base}/hw:cpu_policy", json={"other": "x"})
    assert r.status_code == 400 and error_of(r, "badRequest") == "Request body and URI mismatch"
    r = admin.put(f"{base}/a", json={"a": "1", "b": "2"})
    assert r.status_code == 400 and "too many" in error_of(r, "badRequest")
    assert admin.put(f"{base}/a", json={}).status_code == 400
    # Readers read, only admins write.
    assert member.client.get(base).json()["extra_specs"]["hw:cpu_policy"] == "shared"
    r = member.client.post(base, json={"extra_specs": {"x": "y"}})
    assert r.status_code == 403 and "os-flavor-extra-specs:create" in error_of(r, "forbidden")
    assert member.client.put(f"{base}/x", json={"x": "y"}).status_code == 403
    assert member.client.delete(f"{base}/hw:cpu_policy").status_code == 403
    r = admin.delete(f"{base}/hw:cpu_policy")
    assert r.status_code == 200 and r.content == b""
    assert admin.delete(f"{base}/hw:cpu_policy").status_code == 404
    assert admin.get(base).json() == {"extra_specs": {"quota:vif 1.x": "12"}}
    assert admin.get(f"{C}/flavors/{uniq()}/os-extra_specs").status_code == 404
    assert admin.post(f"{C}/flavors/{uniq()}/os-extra_specs", json={"extra_specs": {"a": "b"}}).status_code == 404


@pytest.mark.parametrize("specs", [{"bad/key": "x"}, {"bad$key": "x"}, {"": "x"}, {"k" * 256: "x"},
                                   {"k": "v" * 256}, {"k": True}, {"k": None}, {"k": ["a"]}, {"k": {"a": 1}},
                                   "notadict", ["k"]])
def test_bad_extra_specs(admin, specs):
    r = admin.post(f"{C}/flavors/1/os-extra_specs", json={"extra_specs": specs})
    assert r.status_code == 400, r.text
    error_of(r, "badRequest")


def test_extra_specs_body_shape(admin):
    for body in ({}, {"extra_specs": {}, "more": 1}, [1], "x"):
        r = admin.post(f"{C}/flavors/1/os-extra_specs", json=body)
        assert r.status_code == 400, (body, r.text)


def test_pci_alias_is_stored_well_formed_and_refused_at_boot(admin):
    # This server has no PCI aliases (tests/e2e/test_flavor_cli.py runs one that has). As Nova:
    # any well-formed alias is stored; a boot with it is refused in Nova's words.
    fid = new_flavor(admin)["id"]
    for value in ("K20m", "K20m:0", "K20m:x", "K20m:1,"):
        r = admin.post(f"{C}/flavors/{fid}/os-extra_specs", json={"extra_specs": {"pci_passthrough:alias": value}})
        assert r.status_code == 400, r.text
        assert "Invalid PCI alias" in error_of(r, "badRequest")
        r = admin.put(f"{C}/flavors/{fid}/os-extra_specs/pci_passthrough:alias", json={"pci_passthrough:alias": value})
        assert r.status_code == 400, r.text
    assert admin.get(f"{C}/flavors/{fid}/os-extra_specs").json() == {"extra_specs": {}}
    r = admin.post(f"{C}/flavors/{fid}/os-extra_specs", json={"extra_specs": {"pci_passthrough:alias": "K20m:1"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"extra_specs": {"pci_passthrough:alias": "K20m:1"}}
    r = admin.put(f"{C}/flavors/{fid}/os-extra_specs/pci_passthrough:alias",
                  json={"pci_passthrough:alias": "K20m:2, T4:1"})
    assert r.status_code == 200, r.text
    name = uniq("pci")
    r = create(admin, status=400, flavor=fid, name=name)
    assert error_of(r, "badRequest") == "PCI alias K20m is not defined"
    assert admin.get(f"{C}/servers", params={"name": name}).json()["servers"] == []


# ---- policy ---------------------------------------------------------------------------------
def test_members_read_but_do_not_manage(admin, member):
    assert member.client.get(f"{C}/flavors/1").status_code == 200
    assert {"1", "c1"} <= {f["id"] for f in member.client.get(f"{C}/flavors").json()["flavors"]}
    r = member.client.post(f"{C}/flavors", json={"flavor": {"name": uniq(), "ram": 1, "vcpus": 1, "disk": 1}})
    assert r.status_code == 403
    assert error_of(r, "forbidden") == "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
    assert member.client.delete(f"{C}/flavors/1").status_code == 403
    assert member.client.put(f"{C}/flavors/1", json={"flavor": {"description": "x"}},
                             headers=mv("2.55")).status_code == 403
    assert admin.get(f"{C}/flavors/1").status_code == 200


def test_needs_a_token(server):
    with client_for(server) as anon:
        r = anon.get(f"{C}/flavors")
        assert r.status_code == 401
        error_of(r, "unauthorized")


# ---- bad input ------------------------------------------------------------------------------
GOOD = {"name": "ok", "ram": 512, "vcpus": 1, "disk": 1}
BAD_FLAVORS = [
    {k: v for k, v in GOOD.items() if k != "name"}, {k: v for k, v in GOOD.items() if k != "ram"},
    {k: v for k, v in GOOD.items() if k != "vcpus"}, {k: v for k, v in GOOD.items() if k != "disk"},
    {**GOOD, "ram": 0}, {**GOOD, "ram": -1}, {**GOOD, "ram": "abc"}, {**GOOD, "ram": 1.5}, {**GOOD, "ram": True},
    {**GOOD, "ram": None}, {**GOOD, "ram": "12 "}, {**GOOD, "ram": "-5"}, {**GOOD, "ram": "²"},
    {**GOOD, "ram": 2**31}, {**GOOD, "ram": 10**40}, {**GOOD, "vcpus": 0}, {**GOOD, "disk": -1},
    {**GOOD, "swap": -1}, {**GOOD, "OS-FLV-EXT-DATA:ephemeral": "x"},
    {**GOOD, "name": ""}, {**GOOD, "name": " lead"}, {**GOOD, "name": "trail "}, {**GOOD, "name": "a\tb"},
    {**GOOD, "name": "a\nb"}, {**GOOD, "name": "x" * 256}, {**GOOD, "name": 123}, {**GOOD, "name": None},
    {**GOOD, "name": "emoji \U0001F600"}, {**GOOD, "name": "\u200bzero"},
    {**GOOD, "id": "has/slash"}, {**GOOD, "id": " lead"}, {**GOOD, "id": "semi;colon"}, {**GOOD, "id": True},
    {**GOOD, "id": ""}, {**GOOD, "id": "x" * 256}, {**GOOD, "id": ["1"]}, {**GOOD, "id": 10**300},
    {**GOOD, "rxtx_factor": 0}, {**GOOD, "rxtx_factor": -1}, {**GOOD, "rxtx_factor": "abc"},
    {**GOOD, "rxtx_factor": True}, {**GOOD, "rxtx_factor": 1e39},
    {**GOOD, "os-flavor-access:is_public": "maybe"}, {**GOOD, "os-flavor-access:is_public": 1},
    {**GOOD, "colour": "blue"}, {**GOOD, "description": "only from 2.55"}, {**GOOD, "extra_specs": {}},
]


@pytest.mark.parametrize("flavor", BAD_FLAVORS, ids=[json.dumps(b)[:60] for b in BAD_FLAVORS])
def test_bad_flavor_bodies(admin, flavor):
    r = admin.post(f"{C}/flavors", json={"flavor": flavor})
    assert r.status_code == 400, r.text
    error_of(r, "badRequest")


@pytest.mark.parametrize("body", [None, [], "flavor", {}, {"flavor": None}, {"flavor": []},
                                  {"flavor": GOOD, "extra": 1}, {"flavors": GOOD}])
def test_bad_flavor_envelopes(admin, body):
    r = admin.post(f"{C}/flavors", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    error_of(r, "badRequest")


def test_bad_description_at_2_55(admin):
    for description in (5, "tab\there", "x" * 65536, ["x"]):
        r = admin.post(f"{C}/flavors", json={"flavor": {**GOOD, "name": uniq(), "description": description}},
                       headers=mv("2.55"))
        assert r.status_code == 400, r.text


def test_malformed_json_lone_surrogates_and_huge_bodies(admin):
    r = admin.post(f"{C}/flavors", content=b'{"flavor": {"name": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r, "badRequest")
    raw = b'{"flavor": {"name": "x\\ud800", "ram": 1, "vcpus": 1, "disk": 1}}'
    r = admin.post(f"{C}/flavors", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    raw = b'{"extra_specs": {"k": "v\\udfff"}}'
    r = admin.post(f"{C}/flavors/1/os-extra_specs", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    raw = b'{"addTenantAccess": {"tenant": "\\ud800"}}'
    r = admin.post(f"{C}/flavors/1/action", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    big = {"flavor": {**GOOD, "name": uniq(), "description": "x" * (1024 * 1024 + 10)}}
    r = admin.post(f"{C}/flavors", json=big, headers=mv("2.55"))
    assert r.status_code == 413 and error_of(r, "overLimit")


def test_unknown_and_odd_ids(admin):
    for fid in ("nope", "%20", "a" * 300, "1;drop table flavor", "%E2%98%83"):
        r = admin.get(f"{C}/flavors/{fid}")
        assert r.status_code == 404, (fid, r.text)
        error_of(r, "itemNotFound")
    assert admin.get(f"{C}/flavors/%00").status_code == 400


def test_microversion_negotiation(admin):
    assert admin.get(f"{C}/flavors", headers=mv("2.61")).status_code == 406
    assert admin.get(f"{C}/flavors", headers=mv("two")).status_code == 400
    r = admin.get(f"{C}/flavors", headers=mv("latest"))
    assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "compute 2.60"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.60"


# ---- first start only ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_defaults_only_on_the_first_start(request, tmp_path, backend):
    db_url = fresh_database(request.getfixturevalue("postgres_server_url")) if backend == "postgresql" else None
    data = tmp_path / "data"
    srv = CaasServer(data, db_url).start()
    try:
        with client_for(srv, issue_token(srv)) as admin:
            ids = [f["id"] for f in admin.get(f"{C}/flavors", params={"is_public": "none"}).json()["flavors"]]
            assert sorted(ids) == sorted(DEFAULTS)
            for fid in ids:
                assert admin.delete(f"{C}/flavors/{fid}").status_code == 202
        assert srv.server_errors() == 0
    finally:
        assert srv.stop() == 0
    again = CaasServer(data, db_url).start()
    try:
        with client_for(again, issue_token(again)) as admin:
            assert admin.get(f"{C}/flavors", params={"is_public": "none"}).json() == {"flavors": []}
        assert again.server_errors() == 0
    finally:
        assert again.stop() == 0


def test_concurrent_creates_of_one_name(server, admin):
    from concurrent.futures import ThreadPoolExecutor

    name = uniq("race")
    token = admin.headers["X-Auth-Token"]

    def attempt(_):
        with client_for(server, token) as c:
            return c.post(f"{C}/flavors", json={"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 0}})

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert sorted(r.status_code for r in results) == [200] + [409] * 5
    assert all(error_of(r, "conflictingRequest") == f"Flavor with name {name} already exists."
               for r in results if r.status_code == 409)
