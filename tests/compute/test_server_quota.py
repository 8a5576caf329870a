"""Compute quotas through HTTP: os-quota-sets (show, detail, defaults, update, delete) and
limits at the microversions that change them, policy, enforcement on server create (instances,
cores, ram; min/max count fitting partially) and concurrent creates against a limit."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.compute.conftest import C, IMAGE, N, TINY, Member, create, delete_all, error_of, make_network, mv, \
    set_quota, uniq, wait_for
from tests.conftest import client_for

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # quotas, and concurrent creates against them

ALL_21 = {"instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups", "server_group_members",
          "injected_files", "injected_file_content_bytes", "injected_file_path_bytes", "floating_ips", "fixed_ips",
          "security_groups", "security_group_rules"}
NETWORK_PROXIES = {"floating_ips", "fixed_ips", "security_groups", "security_group_rules"}
INJECTED = {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}
DEFAULTS = {"instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
            "server_groups": 10, "server_group_members": 10}

LIMITS_21 = {"maxImageMeta", "maxPersonality", "maxPersonalitySize", "maxSecurityGroupRules", "maxSecurityGroups",
             "maxServerGroupMembers", "maxServerGroups", "maxServerMeta", "maxTotalCores", "maxTotalFloatingIps",
             "maxTotalInstances", "maxTotalKeypairs", "maxTotalRAMSize", "totalCoresUsed", "totalFloatingIpsUsed",
             "totalInstancesUsed", "totalRAMUsed", "totalSecurityGroupsUsed", "totalServerGroupsUsed"}
GONE_236 = {"maxSecurityGroupRules", "maxSecurityGroups", "maxTotalFloatingIps", "totalFloatingIpsUsed",
            "totalSecurityGroupsUsed"}


def resources(version: str) -> set[str]:
    v = tuple(int(x) for x in version.split("."))
    out = set(ALL_21)
    if v >= (2, 36):
        out -= NETWORK_PROXIES
    if v >= (2, 57):
        out -= INJECTED
    return out


@pytest.fixture
def fresh(server, admin):
    m = Member(server, admin)
    yield m
    delete_all(m.client)
    m.close()


# ---- os-quota-sets shapes ------------------------------------------------------------------
@pytest.mark.parametrize("version", ["2.1", "2.35", "2.36", "2.56", "2.57", "2.60"])
def test_quota_set_shapes(admin, member, version):
    h = mv(version)
    expected = resources(version)
    q = admin.get(f"{C}/os-quota-sets/{member.project_id}", headers=h).json()["quota_set"]
    assert set(q) == expected | {"id"} and q["id"] == member.project_id
    assert {k: q[k] for k in DEFAULTS} == DEFAULTS
    assert all(isinstance(q[k], int) for k in expected)
    d = admin.get(f"{C}/os-quota-sets/{member.project_id}/detail", headers=h).json()["quota_set"]
    assert set(d) == expected | {"id"}
    for k in expected:
        assert set(d[k]) == {"limit", "in_use", "reserved"} and d[k]["limit"] == q[k] and d[k]["reserved"] == 0
    defaults = admin.get(f"{C}/os-quota-sets/{member.project_id}/defaults", headers=h).json()["quota_set"]
    assert set(defaults) == expected | {"id"} and {k: defaults[k] for k in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize("version", ["2.1", "2.35", "2.36", "2.38", "2.39", "2.56", "2.57", "2.60"])
def test_limits_shapes(member, version):
    v = tuple(int(x) for x in version.split("."))
    expected = set(LIMITS_21)
    if v >= (2, 36):
        expected -= GONE_236
    if v >= (2, 39):
        expected.discard("maxImageMeta")
    if v >= (2, 57):
        expected -= {"maxPersonality", "maxPersonalitySize"}
    body = member.client.get(f"{C}/limits", headers=mv(version)).json()
    assert set(body) == {"limits"} and body["limits"]["rate"] == []
    absolute = body["limits"]["absolute"]
    assert set(absolute) == expected, set(absolute) ^ expected
    assert absolute["maxTotalInstances"] == 10 and absolute["maxTotalCores"] == 20
    assert absolute["maxTotalRAMSize"] == 51200 and absolute["maxServerMeta"] == 128
    assert absolute["maxTotalKeypairs"] == 100 and absolute["maxServerGroups"] == 10


def test_limits_follow_usage(fresh, admin):
    c = fresh.client
    set_quota(admin, fresh.project_id, instances=7, cores=9, ram=4096)
    sid = create(c, flavor="3").json()["server"]["id"]  # m1.medium: 2 vCPUs, 4096 MiB
    absolute = c.get(f"{C}/limits").json()["limits"]["absolute"]
    assert (absolute["maxTotalInstances"], absolute["maxTotalCores"], absolute["maxTotalRAMSize"]) == (7, 9, 4096)
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (1, 2, 4096)
    d = c.get(f"{C}/os-quota-sets/{fresh.project_id}/detail").json()["quota_set"]
    assert (d["instances"]["in_use"], d["cores"]["in_use"], d["ram"]["in_use"]) == (1, 2, 4096)
    wait_for(c, sid, "ACTIVE")
    delete_all(c)
    absolute = c.get(f"{C}/limits").json()["limits"]["absolute"]
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (0, 0, 0)


# ---- policy --------------------------------------------------------------------------------
def test_quota_policy(admin, member, other):
    c = member.client
    mine = c.get(f"{C}/os-quota-sets/{member.project_id}")
    assert mine.status_code == 200
    assert c.get(f"{C}/os-quota-sets/{member.project_id}/detail").status_code == 200
    assert c.get(f"{C}/os-quota-sets/{member.project_id}/defaults").status_code == 200
    for path in (f"{C}/os-quota-sets/{other.project_id}", f"{C}/os-quota-sets/{other.project_id}/detail"):
        r = c.get(path)
        assert r.status_code == 403 and error_of(r, "forbidden")
    r = c.put(f"{C}/os-quota-sets/{member.project_id}", json={"quota_set": {"instances": 1000}})
    assert r.status_code == 403 and error_of(r, "forbidden")
    r = c.delete(f"{C}/os-quota-sets/{member.project_id}")
    assert r.status_code == 403 and error_of(r, "forbidden")
    r = c.get(f"{C}/limits", params={"tenant_id": other.project_id})
    assert r.status_code == 403 and error_of(r, "forbidden")
    assert c.get(f"{C}/os-quota-sets/{member.project_id}").json()["quota_set"]["instances"] == 10
    # The admin reads anybody's limits.
    absolute = admin.get(f"{C}/limits", params={"tenant_id": other.project_id}).json()["limits"]["absolute"]
    assert absolute["maxTotalInstances"] == 10


# ---- update and delete ---------------------------------------------------------------------
def test_update_and_reset(admin, fresh):
    p = fresh.project_id
    r = admin.put(f"{C}/os-quota-sets/{p}", json={"quota_set": {"instances": 3, "cores": "7", "ram": -1}})
    assert r.status_code == 200, r.text
    q = r.json()["quota_set"]
    assert "id" not in q and set(q) == resources("2.1")
    assert (q["instances"], q["cores"], q["ram"]) == (3, 7, -1)
    assert admin.get(f"{C}/os-quota-sets/{p}").json()["quota_set"]["instances"] == 3
    assert fresh.client.get(f"{C}/limits").json()["limits"]["absolute"]["maxTotalRAMSize"] == -1
    # At 2.36 the network proxies are unknown, at 2.57 the injected files too.
    r = admin.put(f"{C}/os-quota-sets/{p}", json={"quota_set": {"floating_ips": 5}}, headers=mv("2.36"))
    assert r.status_code == 400 and "floating_ips" in error_of(r, "badRequest")
    r = admin.put(f"{C}/os-quota-sets/{p}", json={"quota_set": {"injected_files": 5}}, headers=mv("2.57"))
    assert r.status_code == 400 and "injected_files" in error_of(r, "badRequest")
    r = admin.put(f"{C}/os-quota-sets/{p}", json={"quota_set": {"instances": 4}}, headers=mv("2.57"))
    assert r.status_code == 200 and set(r.json()["quota_set"]) == resources("2.57")
    for bad in ({"quota_set": {"instances": -2}}, {"quota_set": {"instances": "x"}}, {"quota_set": {"cores": 1.5}},
                {"quota_set": {"bogus": 1}}, {"quota_set": {"instances": True}}, {"quota_set": []}, {"quota": {}},
                {"quota_set": {"instances": 2**31}}, {"quota_set": {"force": "maybe"}}):
        r = admin.put(f"{C}/os-quota-sets/{p}", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert error_of(r, "badRequest")
    # Below current usage: refused unless forced.
    create(fresh.client, max_count=2)
    r = admin.put(f"{C}/os-quota-sets/{p}", json={"quota_set": {"instances": 1}})
    assert r.status_code == 400 and "instances" in error_of(r, "badRequest")
    r = admin.put(f"{C}/os-quota-sets/{p}", json={"quota_set": {"instances": 1, "force": True}})
    assert r.status_code == 200 and r.json()["quota_set"]["instances"] == 1
    r = create(fresh.client, status=403)
    assert "Quota exceeded for instances" in error_of(r, "forbidden")
    r = admin.delete(f"{C}/os-quota-sets/{p}")
    assert r.status_code == 202 and r.content == b""
    q = admin.get(f"{C}/os-quota-sets/{p}").json()["quota_set"]
    assert {k: q[k] for k in DEFAULTS} == DEFAULTS


# ---- enforcement ---------------------------------------------------------------------------
def count_servers(c) -> int:
    return len(c.get(f"{C}/servers").json()["servers"])


def test_instances_cores_ram_enforced(admin, fresh):
    c = fresh.client
    net, _ = make_network(c, "10.60.0.0/24")
    p = fresh.project_id
    set_quota(admin, p, instances=2, cores=20, ram=51200)
    create(c, max_count=2, networks=[{"uuid": net["id"]}])
    ports_before = len(c.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"])
    r = create(c, status=403, networks=[{"uuid": net["id"]}])
    assert error_of(r, "forbidden") == "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
    assert count_servers(c) == 2
    delete_all(c)
    set_quota(admin, p, instances=10, cores=3, ram=51200)
    create(c, flavor="3")  # 2 cores
    r = create(c, status=403, flavor="3")
    assert error_of(r, "forbidden") == "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores"
    delete_all(c)
    set_quota(admin, p, instances=10, cores=20, ram=6000)
    create(c, flavor="3")  # 4096 MiB
    r = create(c, status=403, flavor="3")
    assert error_of(r, "forbidden") == "Quota exceeded for ram: Requested 4096, but already used 4096 of 6000 ram"
    # Several over at once: all named.
    set_quota(admin, p, instances=1, cores=1, ram=6000, force=True)
    r = create(c, status=403, flavor="3")
    assert error_of(r, "forbidden").startswith("Quota exceeded for instances, cores, ram:")
    assert count_servers(c) == 1
    assert len(c.get(f"{N}/ports", params={"network_id": net["id"]}).json()["ports"]) <= ports_before
    # -1 is unlimited.
    set_quota(admin, p, instances=-1, cores=-1, ram=-1)
    create(c, flavor="3", max_count=3)
    assert count_servers(c) == 4


def test_min_max_count_fit_partially(admin, fresh):
    c = fresh.client
    set_quota(admin, fresh.project_id, instances=5)
    create(c, max_count=3)
    name = uniq("part")
    create(c, name=name, min_count=1, max_count=4)
    got = sorted(s["name"] for s in c.get(f"{C}/servers", params={"name": name}).json()["servers"])
    assert got == [f"{name}-1", f"{name}-2"]
    delete_all(c, name=name)
    r = create(c, status=403, min_count=3, max_count=4)
    assert "Quota exceeded for instances: Requested 3, but already used 3 of 5 instances" == error_of(r, "forbidden")
    assert count_servers(c) == 3
    # cores decide too: three m1.medium (2 vCPUs each) in 5 cores is two.
    set_quota(admin, fresh.project_id, instances=10, cores=7)
    create(c, flavor="3", min_count=1, max_count=3, name=name)
    assert len(c.get(f"{C}/servers", params={"name": name}).json()["servers"]) == 2


def test_huge_max_count_takes_what_fits(admin, fresh):
    set_quota(admin, fresh.project_id, instances=3)
    name = uniq("huge")
    create(fresh.client, name=name, min_count=1, max_count=10000)
    got = sorted(s["name"] for s in fresh.client.get(f"{C}/servers", params={"name": name}).json()["servers"])
    assert got == [f"{name}-1", f"{name}-2", f"{name}-3"]
    r = create(fresh.client, status=403, min_count=10000, max_count=10000)
    assert error_of(r, "forbidden") == "Quota exceeded for instances, cores, ram: Requested 10000, but already " \
                                      "used 3 of 3 instances"


# ---- concurrency ---------------------------------------------------------------------------
def parallel_creates(srv, token: str, n: int, body: dict) -> list[httpx.Response]:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        with client_for(srv, token) as c:
            barrier.wait()
            try:
                results[i] = c.post(f"{C}/servers", json={"server": {**body, "name": f"{body['name']}-{i}"}},
                                    headers=mv("2.60"))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a create never answered"
    assert all(isinstance(r, httpx.Response) for r in results), results
    return results


def test_parallel_creates_never_exceed_the_instance_quota(server, admin, fresh):
    set_quota(admin, fresh.project_id, instances=10, cores=100, ram=100000)
    body = {"name": "race", "flavorRef": TINY, "imageRef": IMAGE, "networks": "none"}
    results = parallel_creates(server, fresh.token, 40, body)
    codes = sorted(r.status_code for r in results)
    assert codes.count(202) == 10 and codes.count(403) == 30, codes
    for r in results:
        if r.status_code == 403:
            assert error_of(r, "forbidden").startswith("Quota exceeded for instances")
    listed = fresh.client.get(f"{C}/servers").json()["servers"]
    assert len(listed) == 10
    assert {s["id"] for s in listed} == {r.json()["server"]["id"] for r in results if r.status_code == 202}
    for s in listed:
        wait_for(fresh.client, s["id"], "ACTIVE")
    d = fresh.client.get(f"{C}/os-quota-sets/{fresh.project_id}/detail").json()["quota_set"]
    assert d["instances"]["in_use"] == 10


def test_parallel_multi_creates_fit_the_quota_exactly(server, admin, fresh):
    set_quota(admin, fresh.project_id, instances=10, cores=100, ram=100000)
    body = {"name": "multi", "flavorRef": TINY, "imageRef": IMAGE, "networks": "none",
            "min_count": 1, "max_count": 3}
    results = parallel_creates(server, fresh.token, 12, body)
    assert all(r.status_code in (202, 403) for r in results), [r.text for r in results]
    assert len(fresh.client.get(f"{C}/servers").json()["servers"]) == 10
