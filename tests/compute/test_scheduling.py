"""Scheduling through HTTP on servers with their own fake hosts (CAAS_FAKE_HOSTS): PCI
passthrough (the seed's GPU hosts), server-group policies on 30 hosts, same_host and
different_host hints, availability zones and forced hosts, flavors that fit no host, and the
spread and stack strategies. Placement is read from ``OS-EXT-SRV-ATTR:host`` (admin)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.compute.conftest import C, IMAGE, Member, boot, create, delete_all, error_of, hypervisors, make_flavor, mv, \
    own_server, set_quota, show, uniq, usage_is_zero, wait_for, wait_gone
from tests.conftest import BACKENDS

ROOMY = {"instances": 200, "cores": 5000, "ram": 10**8, "server_groups": 50, "server_group_members": 100}
K20M = '[{"name": "K20m", "vendor_id": "10de", "product_id": "1028"}]'
GPU_HOSTS = [
    {"name": "gpu{n:02d}", "count": 2, "vcpus": 40, "memory_mb": 262144, "local_gb": 2000,
     "pci_devices": [{"vendor_id": "10de", "product_id": "1028", "count": 2}]},
    {"name": "gpu-small", "vcpus": 20, "memory_mb": 131072, "local_gb": 1000,
     "pci_devices": [{"vendor_id": "10de", "product_id": "1028", "count": 2}]},
    {"name": "cpu-big", "vcpus": 96, "memory_mb": 524288, "local_gb": 4000},
]
MANY_HOSTS = [{"name": "h{n:02d}", "count": 30, "vcpus": 8, "memory_mb": 16384, "local_gb": 200}]
ZONED_HOSTS = [
    {"name": "az1-{n}", "count": 2, "vcpus": 8, "memory_mb": 16384, "local_gb": 200, "availability_zone": "az1"},
    {"name": "az2-{n}", "count": 2, "vcpus": 8, "memory_mb": 16384, "local_gb": 200, "availability_zone": "az2"},
]


class Cloud:
    """An own server, its admin, and a member project with room for many servers."""

    def __init__(self, request, tmp_path_factory, env: dict) -> None:
        self.own = own_server(request, tmp_path_factory, env)
        self.admin = self.own.admin
        self.member = Member(self.own.srv, self.admin)
        self.c = self.member.client
        set_quota(self.admin, self.member.project_id, **ROOMY)

    def host_of(self, server_id: str) -> str:
        return show(self.admin, server_id)["OS-EXT-SRV-ATTR:host"]

    def hosts_of(self, ids) -> list[str]:
        return [self.host_of(i) for i in ids]

    def boot_many(self, count: int, status="ACTIVE", **body) -> list[dict]:
        name = uniq("m")
        create(self.c, name=name, min_count=count, max_count=count, **body)
        listed = self.c.get(f"{C}/servers", params={"name": f"^{name}-"}).json()["servers"]
        assert len(listed) == count
        return [wait_for(self.c, s["id"], status) for s in listed]

    def group(self, policy: str) -> dict:
        r = self.c.post(f"{C}/os-server-groups", json={"server_group": {"name": uniq("g"), "policies": [policy]}},
                        headers=mv("2.15"))
        assert r.status_code == 200, r.text
        return r.json()["server_group"]

    def finish(self) -> None:
        delete_all(self.c)
        assert usage_is_zero(self.admin)
        self.member.close()
        self.own.finish()


def fault_of(view: dict) -> str:
    assert view["status"] == "ERROR" and view["fault"]["code"] == 500, json.dumps(view)
    return view["fault"]["message"]


# ---- PCI passthrough (the seed's GPU hosts) -----------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def gpu(request, tmp_path_factory):
    cloud = Cloud(request, tmp_path_factory, {"CAAS_FAKE_HOSTS": json.dumps(GPU_HOSTS), "CAAS_PCI_ALIASES": K20M})
    cloud.flavor = make_flavor(cloud.admin, "g1.2xlarge", vcpus=12, ram=32768, disk=40,
                               extra_specs={"pci_passthrough:alias": "K20m:1"})
    yield cloud
    cloud.finish()


def test_pci_servers_land_on_gpu_hosts_until_the_devices_run_out(gpu):
    hosts = hypervisors(gpu.admin)
    assert set(hosts) == {"gpu01", "gpu02", "gpu-small", "cpu-big"}
    # Six at once: one per device, never on the host without GPUs, never two on one device.
    views = gpu.boot_many(6, flavor=gpu.flavor["id"])
    placed = Counter(gpu.hosts_of(v["id"] for v in views))
    assert placed == {"gpu01": 2, "gpu02": 2, "gpu-small": 2}
    assert all(v["flavor"]["extra_specs"] == {"pci_passthrough:alias": "K20m:1"} for v in views)
    # The seventh finds no free device.
    seventh = boot(gpu.c, wait="ERROR", flavor=gpu.flavor["id"])
    message = fault_of(seventh)
    assert message.startswith("No valid host was found.") and "PciPassthroughFilter" in message
    assert show(gpu.admin, seventh["id"])["OS-EXT-SRV-ATTR:host"] is None
    # A plain server still fits (on any host), and a freed device is used again.
    plain = boot(gpu.c, flavor="1")
    assert gpu.host_of(plain["id"]) in hosts
    freed = next(v for v in views if gpu.host_of(v["id"]) == "gpu-small")
    gpu.c.delete(f"{C}/servers/{freed['id']}")
    wait_gone(gpu.c, freed["id"])
    again = boot(gpu.c, flavor=gpu.flavor["id"])
    assert gpu.host_of(again["id"]) == "gpu-small"
    delete_all(gpu.c)
    assert usage_is_zero(gpu.admin)


def test_undefined_pci_alias_is_refused_at_boot(gpu):
    # As Nova: the flavor API stores an alias that is not configured (other cells may know it);
    # a boot with it is refused before anything is made.
    flavor = make_flavor(gpu.admin, vcpus=1, ram=512, disk=1, extra_specs={"pci_passthrough:alias": "K20m:1, GTX:1"})
    name = uniq("gtx")
    r = create(gpu.c, status=400, flavor=flavor["id"], name=name)
    assert error_of(r, "badRequest") == "PCI alias GTX is not defined"
    assert gpu.c.get(f"{C}/servers", params={"name": name}).json()["servers"] == []


@pytest.mark.parametrize(("attrs", "filter_name"), [
    ({"vcpus": 1000, "ram": 512, "disk": 1}, "VCPUFilter"),
    ({"vcpus": 1, "ram": 10**6, "disk": 1}, "RamFilter"),
    ({"vcpus": 1, "ram": 512, "disk": 10**5}, "DiskFilter"),
])
def test_flavor_larger_than_every_host(gpu, attrs, filter_name):
    flavor = make_flavor(gpu.admin, **attrs)
    view = boot(gpu.c, wait="ERROR", flavor=flavor["id"])
    message = fault_of(view)
    assert message.startswith("No valid host was found.") and f"{filter_name} removed 4 of 4 hosts" in message
    assert "details" in show(gpu.admin, view["id"])["fault"]
    delete_all(gpu.c)
    assert usage_is_zero(gpu.admin)


# ---- server groups and hints on 30 hosts --------------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def many(request, tmp_path_factory):
    cloud = Cloud(request, tmp_path_factory, {"CAAS_FAKE_HOSTS": json.dumps(MANY_HOSTS)})
    yield cloud
    cloud.finish()


def test_anti_affinity_30_hosts(many):
    assert len(hypervisors(many.admin)) == 30
    group = many.group("anti-affinity")
    hint = {"group": group["id"]}
    views = many.boot_many(30, hints=hint)
    hosts = many.hosts_of(v["id"] for v in views)
    assert len(set(hosts)) == 30
    members = many.c.get(f"{C}/os-server-groups/{group['id']}").json()["server_group"]["members"]
    assert sorted(members) == sorted(v["id"] for v in views)
    last = boot(many.c, wait="ERROR", hints=hint)
    message = fault_of(last)
    assert "ServerGroupAntiAffinityFilter removed 30 of 30 hosts" in message, message
    delete_all(many.c)


def test_affinity_one_host(many):
    group = many.group("affinity")
    first = boot(many.c, hints={"group": group["id"]})
    rest = many.boot_many(4, hints={"group": group["id"]})
    assert set(many.hosts_of([first["id"]] + [v["id"] for v in rest])) == {many.host_of(first["id"])}
    delete_all(many.c)


def test_soft_anti_affinity_spreads_and_never_fails(many):
    group = many.group("soft-anti-affinity")
    views = many.boot_many(32, hints={"group": group["id"]})
    placed = Counter(many.hosts_of(v["id"] for v in views))
    assert len(placed) == 30 and max(placed.values()) == 2
    delete_all(many.c)


def test_soft_affinity_packs(many):
    group = many.group("soft-affinity")
    first = boot(many.c, hints={"group": group["id"]})
    rest = many.boot_many(3, hints={"group": group["id"]})
    assert set(many.hosts_of(v["id"] for v in rest)) == {many.host_of(first["id"])}
    delete_all(many.c)


def test_group_member_quota(many):
    set_quota(many.admin, many.member.project_id, server_group_members=2)
    try:
        group = many.group("anti-affinity")
        r = create(many.c, status=403, hints={"group": group["id"]}, max_count=3)
        assert "server_group_members" in error_of(r, "forbidden")
        many.boot_many(2, hints={"group": group["id"]})
        r = create(many.c, status=403, hints={"group": group["id"]})
        assert "server_group_members" in error_of(r, "forbidden")
    finally:
        set_quota(many.admin, many.member.project_id, **ROOMY)
    delete_all(many.c)


def test_unknown_or_foreign_group_is_refused(many):
    other = Member(many.own.srv, many.admin)
    try:
        theirs = other.client.post(f"{C}/os-server-groups", json={"server_group": {
            "name": "theirs", "policies": ["affinity"]}}).json()["server_group"]
        for gid in ("00000000-0000-0000-0000-000000000000", theirs["id"]):
            r = create(many.c, status=400, hints={"group": gid})
            assert gid in error_of(r, "badRequest")
    finally:
        other.close()


def test_same_host_and_different_host(many):
    anchor = boot(many.c)
    home = many.host_of(anchor["id"])
    same = many.boot_many(3, hints={"same_host": anchor["id"]})
    assert set(many.hosts_of(v["id"] for v in same)) == {home}
    apart = many.boot_many(3, hints={"different_host": [anchor["id"]]})
    assert home not in many.hosts_of(v["id"] for v in apart)
    second = boot(many.c, hints={"different_host": anchor["id"]})
    both = boot(many.c, hints={"different_host": [anchor["id"], second["id"]]})
    assert many.host_of(both["id"]) not in {home, many.host_of(second["id"])}
    # Contradicting hints: no host.
    view = boot(many.c, wait="ERROR", hints={"same_host": [anchor["id"]], "different_host": [anchor["id"]]})
    assert "No valid host was found." in fault_of(view)
    delete_all(many.c)


def test_spread_puts_servers_on_the_emptiest_hosts(many):
    views = many.boot_many(6)
    assert len(set(many.hosts_of(v["id"] for v in views))) == 6
    delete_all(many.c)


# ---- availability zones, forced hosts, stacking --------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def zoned(request, tmp_path_factory):
    cloud = Cloud(request, tmp_path_factory, {"CAAS_FAKE_HOSTS": json.dumps(ZONED_HOSTS),
                                              "CAAS_SCHEDULER_STRATEGY": "stack"})
    yield cloud
    cloud.finish()


def test_availability_zones(zoned):
    zones = zoned.c.get(f"{C}/os-availability-zone").json()["availabilityZoneInfo"]
    assert sorted(z["zoneName"] for z in zones) == ["az1", "az2"]
    assert all(z["zoneState"] == {"available": True} and z["hosts"] is None for z in zones)
    r = zoned.c.get(f"{C}/os-availability-zone/detail")
    assert r.status_code == 403 and error_of(r, "forbidden")
    detail = zoned.admin.get(f"{C}/os-availability-zone/detail").json()["availabilityZoneInfo"]
    assert {z["zoneName"]: sorted(z["hosts"]) for z in detail} == {"az1": ["az1-1", "az1-2"],
                                                                   "az2": ["az2-1", "az2-2"]}
    for zone in ("az1", "az2"):
        views = zoned.boot_many(3, availability_zone=zone)
        assert all(v["OS-EXT-AZ:availability_zone"] == zone for v in views)
        assert all(h.startswith(zone + "-") for h in zoned.hosts_of(v["id"] for v in views))
        listed = zoned.c.get(f"{C}/servers", params={"availability_zone": zone}).json()["servers"]
        assert len(listed) == 3
    r = create(zoned.c, status=400, availability_zone="az3")
    assert "availability zone" in error_of(r, "badRequest")
    delete_all(zoned.c)


def test_forced_host_is_for_admins(zoned):
    r = create(zoned.c, status=403, availability_zone="az2:az2-2")
    assert "forced_host" in error_of(r, "forbidden")
    r = create(zoned.c, status=403, availability_zone=":az2-2")
    assert error_of(r, "forbidden")
    sid = create(zoned.admin, availability_zone="az2:az2-2").json()["server"]["id"]
    view = wait_for(zoned.admin, sid, "ACTIVE")
    assert view["OS-EXT-SRV-ATTR:host"] == "az2-2" and view["OS-EXT-AZ:availability_zone"] == "az2"
    r = create(zoned.admin, status=400, availability_zone="az9:az2-2")
    assert "availability zone" in error_of(r, "badRequest")
    delete_all(zoned.admin)


def test_host_status_follows_the_hosts_service(zoned):
    """host_status (2.16, admins): UP, MAINTENANCE while the service is disabled, DOWN while it
    is forced down; none before 2.16 nor for a member; the same in a server list."""
    sid = create(zoned.admin, availability_zone="az2:az2-1").json()["server"]["id"]
    wait_for(zoned.admin, sid, "ACTIVE")
    services = zoned.admin.get(f"{C}/os-services", headers=mv("2.53")).json()["services"]
    svc = next(x for x in services if x["host"] == "az2-1")

    def status(version: str = "2.16") -> str | None:
        return zoned.admin.get(f"{C}/servers/{sid}", headers=mv(version)).json()["server"].get("host_status")

    def listed() -> str:
        servers = zoned.admin.get(f"{C}/servers/detail", headers=mv("2.16")).json()["servers"]
        return next(x["host_status"] for x in servers if x["id"] == sid)

    def service(**body) -> None:
        r = zoned.admin.put(f"{C}/os-services/{svc['id']}", json=body, headers=mv("2.53"))
        assert r.status_code == 200, r.text

    try:
        assert status() == "UP" == listed() and status("2.15") is None
        service(status="disabled", disabled_reason="maintenance")
        assert status() == "MAINTENANCE" == listed()
        service(forced_down=True)
        assert status() == "DOWN" == listed()
    finally:
        service(forced_down=False)
        service(status="enabled")
    assert status() == "UP"
    zoned.admin.delete(f"{C}/servers/{sid}")
    delete_all(zoned.admin)


def test_stack_fills_one_host_first(zoned):
    views = zoned.boot_many(4, availability_zone="az1")
    assert len(set(zoned.hosts_of(v["id"] for v in views))) == 1
    # Full (8 vCPUs x 4.0 = 32; 16384 MiB RAM), the next lands on the other host of the zone.
    big = make_flavor(zoned.admin, vcpus=1, ram=16384 - 4 * 512, disk=1)
    first_host = zoned.host_of(views[0]["id"])
    filler = boot(zoned.c, flavor=big["id"], availability_zone="az1")
    assert zoned.host_of(filler["id"]) == first_host
    overflow = boot(zoned.c, availability_zone="az1")
    assert zoned.host_of(overflow["id"]) not in (first_host,)
    assert zoned.host_of(overflow["id"]).startswith("az1-")
    delete_all(zoned.c)


# ---- claims racing for the last room on a host ----------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def tight(request, tmp_path_factory):
    hosts = [{"name": "only", "vcpus": 4, "memory_mb": 65536, "local_gb": 1000}]
    cloud = Cloud(request, tmp_path_factory, {"CAAS_FAKE_HOSTS": json.dumps(hosts),
                                              "CAAS_CPU_ALLOCATION_RATIO": "1.0", "CAAS_COMPUTE_WORKERS": "8"})
    yield cloud
    cloud.finish()


def test_parallel_builds_never_overcommit_a_host(tight):
    import threading

    from tests.conftest import client_for

    barrier = threading.Barrier(12)
    ids: list = []

    def one() -> None:
        with client_for(tight.own.srv, tight.member.token) as c:
            barrier.wait()
            r = c.post(f"{C}/servers", json={"server": {"name": uniq("t"), "flavorRef": "1", "imageRef": IMAGE,
                                                        "networks": "none"}}, headers=mv("2.60"))
            ids.append(r)
    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [r.status_code for r in ids] == [202] * 12
    views = [wait_for(tight.c, r.json()["server"]["id"], ("ACTIVE", "ERROR")) for r in ids]
    assert sum(v["status"] == "ACTIVE" for v in views) == 4
    for v in views:
        if v["status"] == "ERROR":
            assert "VCPUFilter" in fault_of(v)
    host = hypervisors(tight.admin)["only"]
    assert host["vcpus_used"] == 4 and host["running_vms"] == 4 and host["memory_mb_used"] == 4 * 512
    delete_all(tight.c)
