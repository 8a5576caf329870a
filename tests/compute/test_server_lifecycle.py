"""Server lifecycle robustness: a driver that fails every boot (ERROR with a fault, ports and
host claims freed, deletable), a slow driver with restarts in the middle of builds and deletes
(SIGTERM and SIGKILL: never stuck in BUILD, nothing leaked), deletes during BUILD and twice,
and another project's servers, which are 404 on every call."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.compute.conftest import (C, N, Member, create, delete, delete_all, error_of, hypervisors, make_network,
                                    show, usage_is_zero, wait_for, wait_gone, wait_until)
from tests.conftest import BACKENDS, client_for

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent metadata updates and actions: the database decides


def server_ports(admin, server_id: str) -> list[dict]:
    return admin.get(f"{N}/ports", params={"device_id": server_id}).json()["ports"]


def compute_ports(admin, network_id: str) -> list[dict]:
    return [p for p in admin.get(f"{N}/ports", params={"network_id": network_id}).json()["ports"]
            if p["device_owner"].startswith("compute:")]


# ---- a driver that always fails ------------------------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def failing(request, tmp_path_factory):
    from tests.compute.conftest import own_server

    own = own_server(request, tmp_path_factory, {"CAAS_FAKE_FAILURE_RATE": "1"})
    yield own
    own.finish()


def test_failed_boot_is_error_with_fault_and_frees_everything(failing):
    admin = failing.admin
    m = Member(failing.srv, admin)
    try:
        c = m.client
        net, _ = make_network(c, "10.70.0.0/24")
        user_port = c.post(f"{N}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
        sid = create(c, networks=[{"uuid": net["id"]}, {"port": user_port["id"]}], flavor="3").json()["server"]["id"]
        view = wait_for(c, sid, "ERROR")
        assert view["OS-EXT-STS:vm_state"] == "error" and view["OS-EXT-STS:power_state"] == 0
        fault = view["fault"]
        assert fault["code"] == 500 and "fake driver failed" in fault["message"]
        assert "details" not in fault  # a 500's details are for admins
        assert set(fault) == {"code", "created", "message"}
        theirs = show(admin, sid)["fault"]
        assert "fake driver failed" in theirs["details"] and theirs["message"] == fault["message"]
        # Nothing is held any more: no ports, no host claim, the user's port unbound and kept.
        assert server_ports(admin, sid) == []
        assert compute_ports(admin, net["id"]) == []
        port = admin.get(f"{N}/ports/{user_port['id']}").json()["port"]
        assert port["device_id"] == "" and port["binding:host_id"] == ""
        assert usage_is_zero(admin)
        assert show(admin, sid)["OS-EXT-SRV-ATTR:host"] is None
        # An ERROR server still counts against the quota until deleted (as in Nova).
        used = c.get(f"{C}/os-quota-sets/{m.project_id}/detail").json()["quota_set"]["instances"]["in_use"]
        assert used == 1
        # Actions other than delete are refused.
        r = c.post(f"{C}/servers/{sid}/action", json={"os-stop": None})
        assert r.status_code == 409 and error_of(r, "conflictingRequest")
        r = c.post(f"{C}/servers/{sid}/action", json={"os-getConsoleOutput": {}})
        assert r.status_code == 409 and error_of(r, "conflictingRequest")
        delete(c, sid)
        assert c.get(f"{C}/os-quota-sets/{m.project_id}/detail").json()["quota_set"]["instances"]["in_use"] == 0
        # Many at once: all ERROR, all freed.
        create(c, networks=[{"uuid": net["id"]}], max_count=4)
        for s in c.get(f"{C}/servers").json()["servers"]:
            assert "fake driver failed" in wait_for(c, s["id"], "ERROR")["fault"]["message"]
        assert compute_ports(admin, net["id"]) == [] and usage_is_zero(admin)
        delete_all(c)
        assert c.delete(f"{N}/ports/{user_port['id']}").status_code == 204
    finally:
        m.close()


# ---- a slow driver, restarted --------------------------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def slow(request, tmp_path_factory):
    from tests.compute.conftest import own_server

    own = own_server(request, tmp_path_factory, {"CAAS_FAKE_BOOT_DELAY": "2", "CAAS_COMPUTE_WORKERS": "2"})
    yield own
    own.finish()


@pytest.fixture
def slow_member(slow):
    m = Member(slow.srv, slow.admin)
    yield m
    delete_all(m.client)
    m.close()


def test_build_is_observable(slow, slow_member):
    c = slow_member.client
    sid = create(c).json()["server"]["id"]
    first = show(c, sid)
    assert first["status"] == "BUILD" and first["OS-EXT-STS:vm_state"] == "building"
    assert first["OS-EXT-STS:task_state"] in ("scheduling", "networking", "spawning")
    assert first["progress"] == 0 and first["OS-SRV-USG:launched_at"] is None
    r = c.post(f"{C}/servers/{sid}/action", json={"os-stop": None})
    assert r.status_code == 409 and "building" in error_of(r, "conflictingRequest")
    r = c.post(f"{C}/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": sid}})
    assert r.status_code == 409 and error_of(r, "conflictingRequest")
    r = c.post(f"{C}/servers/{sid}/action", json={"os-getConsoleOutput": {}})
    assert r.status_code == 409 and error_of(r, "conflictingRequest")
    # Metadata and the name may change while it builds.
    assert c.put(f"{C}/servers/{sid}", json={"server": {"name": "renamed"}}).status_code == 200
    assert c.post(f"{C}/servers/{sid}/metadata", json={"metadata": {"k": "v"}}).status_code == 200
    view = wait_for(c, sid, "ACTIVE")
    assert view["name"] == "renamed" and view["metadata"] == {"k": "v"}
    assert view["OS-SRV-USG:launched_at"]


def test_delete_during_build(slow, slow_member):
    c, admin = slow_member.client, slow.admin
    net, _ = make_network(c, "10.71.0.0/24")
    sid = create(c, networks=[{"uuid": net["id"]}]).json()["server"]["id"]
    wait_until(lambda: show(c, sid)["OS-EXT-STS:task_state"] == "spawning", what="spawning")
    assert show(c, sid)["status"] == "BUILD"
    r = c.delete(f"{C}/servers/{sid}")
    assert r.status_code == 204
    again = c.delete(f"{C}/servers/{sid}")  # deleting twice is fine
    assert again.status_code in (204, 404)
    if again.status_code == 404:
        assert error_of(again, "itemNotFound")
    wait_gone(c, sid)
    assert c.delete(f"{C}/servers/{sid}").status_code == 404
    assert server_ports(admin, sid) == [] and compute_ports(admin, net["id"]) == []
    wait_until(lambda: usage_is_zero(admin), what="host usage back to zero")


def _restart(slow, kill: bool = False) -> None:
    # /metrics starts from zero with each process: check this one's answers before it goes.
    assert slow.srv.server_errors() == 0, f"5xx answered; see {slow.srv.log_path}"
    if kill:
        slow.srv.proc.kill()
        slow.srv.proc.wait(timeout=20)
        slow.srv.log.close()
    else:
        assert slow.srv.stop() == 0
    slow.srv.start()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_restart_in_the_middle_of_builds(slow, slow_member, kill):
    c, admin = slow_member.client, slow.admin
    net, _ = make_network(c, "10.72.0.0/24")
    # Five builds on two workers: two in the driver, three queued when the signal comes.
    create(c, networks=[{"uuid": net["id"]}], max_count=5)
    sids = [s["id"] for s in c.get(f"{C}/servers").json()["servers"]]
    assert len(sids) == 5
    wait_until(lambda: any(show(c, s)["OS-EXT-STS:task_state"] == "spawning" for s in sids), what="a spawn")
    _restart(slow, kill)
    views = [wait_for(c, s, ("ACTIVE", "ERROR"), timeout=60) for s in sids]
    for v in views:
        assert v["status"] == "ACTIVE" or v["fault"]["message"], v
    active = [v for v in views if v["status"] == "ACTIVE"]
    assert active, "no build survived the restart"
    for v in active:
        assert len(v["addresses"][net["name"]]) == 1  # one port each, never two
    assert len(compute_ports(admin, net["id"])) == len(active)
    used = sum(h["running_vms"] for h in hypervisors(admin).values())
    assert used == len(active)
    delete_all(c)
    assert compute_ports(admin, net["id"]) == []
    assert usage_is_zero(admin)


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_restart_in_the_middle_of_a_delete(slow, slow_member, kill):
    c, admin = slow_member.client, slow.admin
    net, _ = make_network(c, "10.73.0.0/24")
    sid = create(c, networks=[{"uuid": net["id"]}]).json()["server"]["id"]
    wait_until(lambda: show(c, sid)["OS-EXT-STS:task_state"] == "spawning", what="spawning")
    assert c.delete(f"{C}/servers/{sid}").status_code == 204
    _restart(slow, kill)
    wait_gone(c, sid, timeout=60)
    assert server_ports(admin, sid) == [] and compute_ports(admin, net["id"]) == []
    wait_until(lambda: usage_is_zero(admin), what="host usage back to zero")


# ---- another project's servers -------------------------------------------------------------
def test_other_projects_server_is_not_found(server, member, other):
    from tests.compute.conftest import boot

    sid = boot(member.client, metadata={"k": "v"})["id"]
    c = other.client
    calls = [("GET", "", None), ("PUT", "", {"server": {"name": "stolen"}}), ("DELETE", "", None),
             ("POST", "/action", {"os-stop": None}), ("POST", "/action", {"reboot": {"type": "HARD"}}),
             ("POST", "/action", {"os-getConsoleOutput": {}}), ("POST", "/action", {"os-fly": None}),
             ("GET", "/metadata", None), ("POST", "/metadata", {"metadata": {"a": "b"}}),
             ("PUT", "/metadata", {"metadata": {}}), ("GET", "/metadata/k", None),
             ("PUT", "/metadata/k", {"meta": {"k": "x"}}), ("DELETE", "/metadata/k", None),
             ("GET", "/os-volume_attachments", None)]
    for method, suffix, body in calls:
        r = c.request(method, f"{C}/servers/{sid}{suffix}", json=body)
        assert r.status_code == 404, (method, suffix, r.text)
        assert error_of(r, "itemNotFound") == f"Instance {sid} could not be found."
    assert sid not in {s["id"] for s in c.get(f"{C}/servers/detail").json()["servers"]}
    # Unchanged and still the member's.
    view = show(member.client, sid)
    assert view["name"] != "stolen" and view["metadata"] == {"k": "v"} and view["status"] == "ACTIVE"
    delete(member.client, sid)


# ---- concurrent calls on one server ----------------------------------------------------------
def at_once(srv, token: str, n: int, call) -> list[httpx.Response]:
    """``call(client, i)`` from n threads at once, each with its own client."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i: int) -> None:
        with client_for(srv, token) as c:
            barrier.wait()
            try:
                out[i] = call(c, i)
            except Exception as exc:  # noqa: BLE001 - reported below
                out[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, httpx.Response) for r in out), out
    return out


def test_concurrent_metadata_updates_lose_nothing(server, member):
    from tests.compute.conftest import boot

    sid = boot(member.client)["id"]
    results = at_once(server, member.token, 20, lambda c, i: c.post(
        f"{C}/servers/{sid}/metadata", json={"metadata": {f"k{i}": str(i)}}))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert show(member.client, sid)["metadata"] == {f"k{i}": str(i) for i in range(20)}
    results = at_once(server, member.token, 20, lambda c, i: c.delete(f"{C}/servers/{sid}/metadata/k{i}"))
    assert all(r.status_code == 204 for r in results)
    assert show(member.client, sid)["metadata"] == {}
    delete(member.client, sid)


def test_concurrent_actions_one_wins(server, member):
    from tests.compute.conftest import boot

    sid = boot(member.client)["id"]
    results = at_once(server, member.token, 10, lambda c, i: c.post(f"{C}/servers/{sid}/action",
                                                                    json={"os-stop": None}))
    codes = sorted(r.status_code for r in results)
    assert codes == [202] + [409] * 9, codes
    assert wait_for(member.client, sid, "SHUTOFF")["OS-EXT-STS:power_state"] == 4
    results = at_once(server, member.token, 10, lambda c, i: c.post(f"{C}/servers/{sid}/action",
                                                                    json={"os-start": None}))
    assert sorted(r.status_code for r in results) == [202] + [409] * 9
    wait_for(member.client, sid, "ACTIVE")
    # Many deletes at once: all accepted or already gone, and it is gone.
    results = at_once(server, member.token, 10, lambda c, i: c.delete(f"{C}/servers/{sid}"))
    assert all(r.status_code in (204, 404) for r in results) and any(r.status_code == 204 for r in results)
    wait_gone(member.client, sid)
