"""Joining compute hosts (issue 20, first part): a controller (``caas up --driver fake``) and
agents as real ``caas host join`` processes on the fake driver, seen through the real
``openstack`` CLI: the cloud grows by the joined host, the host is ``down`` once its agent is
killed and ``up`` again when it restarts from its data dir (no token, nothing duplicated), and
every bad token, credential or body is refused with a 4xx (never a 500).

The tests run in order and share the module's controller (a host is down after 3 s of
silence here, CAAS_HOST_DOWN_AFTER)."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat

import httpx
import pytest

from caas.hosts import tls, tokens
from tests.conftest import CaasServer
from tests.e2e.osc import osc_json, requires_cli
from tests.compute.conftest import wait_until
from tests.hosts.agents import Agent, add_host, caas

pytestmark = requires_cli


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    base = tmp_path_factory.mktemp("hosts-join")
    srv = CaasServer(base / "controller", env={"CAAS_HOST_DOWN_AFTER": "3"}).start()
    srv.base = base
    srv.agents = []
    yield srv
    for agent in srv.agents:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()
    assert srv.server_errors() == 0
    srv.stop()


def agent_of(controller, name: str, token: str | None = None, **kw) -> Agent:
    agent = Agent(controller.base / f"agent-{name}", token, **kw)
    controller.agents.append(agent)
    return agent.start()


def states(env: dict) -> dict:
    return {s["Host"]: s["State"] for s in osc_json(env, "compute", "service", "list")}


def stats(env: dict) -> dict:
    return osc_json(env, "--os-compute-api-version", "2.60", "hypervisor", "stats", "show")


def agent_client(controller, **kw) -> httpx.Client:
    """An HTTPS client of the controller's agent API, trusting its certificate (as an agent)."""
    url = (controller.data_dir / "agent-url").read_text().strip()
    pem = tls.cert_paths(controller.data_dir)[0].read_text()
    return httpx.Client(base_url=url, verify=tls.client_context(pem), timeout=10, **kw)


def test_a_joined_host_grows_the_cloud(controller):
    env = controller.os_env()
    assert [h["Hypervisor Hostname"] for h in osc_json(env, "hypervisor", "list")] == ["fake-host-1"]
    before = stats(env)
    token = add_host(controller.data_dir, "h2")
    listed = caas("host", "list", "--data-dir", str(controller.data_dir)).stdout
    assert "h2" in listed and "pending" in listed
    agent = agent_of(controller, "h2", token).joined()
    hypervisors = {h["Hypervisor Hostname"]: h for h in osc_json(env, "hypervisor", "list")}
    assert sorted(hypervisors) == ["fake-host-1", "h2"] and hypervisors["h2"]["State"] == "up"
    after = stats(env)
    assert after["count"] == before["count"] + 1
    assert (after["vcpus"], after["memory_mb"], after["local_gb"]) == (
        before["vcpus"] + 8, before["memory_mb"] + 16384, before["local_gb"] + 500)
    assert states(env) == {"fake-host-1": "up", "h2": "up"}
    # The agent keeps its credential 0600; the controller only its hash.
    kept = json.loads((agent.data_dir / "agent.json").read_text())
    assert stat.S_IMODE((agent.data_dir / "agent.json").stat().st_mode) == 0o600
    assert kept["name"] == "h2" and kept["secret"] is None
    with sqlite3.connect(controller.data_dir / "caas.db") as db:
        (stored,) = db.execute("SELECT credential_hash FROM agent_host WHERE name = 'h2'").fetchone()
    assert stored == tokens.digest(kept["credential"]) != kept["credential"]
    listed = caas("host", "list", "--data-dir", str(controller.data_dir)).stdout
    assert [[c.strip() for c in ln.split("|")[1:4]] for ln in listed.splitlines() if "| h2 " in ln] == [
        ["h2", "agent", "up"]]


def test_a_killed_agent_is_down_and_up_again_after_its_restart(controller):
    env = controller.os_env()
    agent = controller.agents[0]
    (before,) = [h for h in osc_json(env, "hypervisor", "list") if h["Hypervisor Hostname"] == "h2"]
    assert agent.kill() != 0
    wait_until(lambda: states(env)["h2"] == "down", what="h2 down")
    assert [h["State"] for h in osc_json(env, "hypervisor", "list") if h["Hypervisor Hostname"] == "h2"] == ["down"]
    again = agent_of(controller, "h2")  # the same data dir, no token
    assert again.data_dir == agent.data_dir
    again.joined()
    wait_until(lambda: states(env)["h2"] == "up", what="h2 up")
    hypervisors = [h for h in osc_json(env, "hypervisor", "list") if h["Hypervisor Hostname"] == "h2"]
    assert [h["ID"] for h in hypervisors] == [before["ID"]]
    assert stats(env)["count"] == 2
    with sqlite3.connect(controller.data_dir / "caas.db") as db:
        assert db.execute("SELECT count(*) FROM agent_host").fetchone() == (1,)


def _tampered(token: str, **changes) -> str:
    body = token[len(tokens.PREFIX):]
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return tokens.JoinToken(**{**data, **changes}).encode()


def test_bad_tokens_are_refused(controller):
    base = controller.base
    token = add_host(controller.data_dir, "h3")
    # A fingerprint that is not the controller's: the agent refuses to talk to it, and the
    # controller never saw the secret (the real token still works afterwards).
    forged = _tampered(token, fingerprint="0" * 64)
    bad = agent_of(controller, "h3-forged", forged)
    assert bad.exited() == 1 and "refusing to talk to it" in bad.output()
    assert not (bad.data_dir / "agent.json").exists()
    wrong = agent_of(controller, "h3-wrong", _tampered(token, secret=tokens.new_secret()))
    assert wrong.exited() == 1 and "not known here" in wrong.output()
    renamed = agent_of(controller, "h3-renamed", _tampered(token, name="h9"))
    assert renamed.exited() == 1 and "not known here" in renamed.output()
    for garbage in ("nonsense", "caas1.!!!", "caas1." + base64.urlsafe_b64encode(b"[1]").decode()):
        proc = caas("host", "join", garbage, "--data-dir", str(base / "garbage"), check=False)
        assert proc.returncode == 1 and "token" in proc.stderr and "Traceback" not in proc.stderr
    proc = caas("host", "join", token, "--name", "h4", "--data-dir", str(base / "garbage"), check=False)
    assert proc.returncode == 1 and "for host h3, not h4" in proc.stderr
    agent_of(controller, "h3", token).joined()
    twice = agent_of(controller, "h3-twice", token)
    assert twice.exited() == 1 and "used already" in twice.output()
    expiring = add_host(controller.data_dir, "h5")
    with sqlite3.connect(controller.data_dir / "caas.db") as db:
        db.execute("UPDATE host_join_token SET expires_at = '2000-01-01 00:00:00' WHERE host_name = 'h5'")
    late = agent_of(controller, "h5", expiring)
    assert late.exited() == 1 and "expired" in late.output()


@pytest.mark.parametrize("name", ["H2", "-a", "a-", "a" * 64, "a_b", "x;rm -rf /", "$(id)", "a.b", ""])
def test_host_add_refuses_names_that_are_no_dns_label(controller, name):
    proc = caas("host", "add", "--data-dir", str(controller.data_dir), "--", name, check=False)
    assert proc.returncode == 1 and "DNS label" in proc.stderr


def test_host_add_and_remove_refusals(controller):
    d = str(controller.data_dir)
    for taken in ("fake-host-1", "h2"):
        proc = caas("host", "add", taken, "--data-dir", d, check=False)
        assert proc.returncode == 1 and "exists already" in proc.stderr
    add_host(controller.data_dir, "h6")
    proc = caas("host", "add", "h6", "--data-dir", d, check=False)
    assert proc.returncode == 1 and "pending" in proc.stderr
    caas("host", "remove", "h6", "--data-dir", d)
    assert "h6" not in caas("host", "list", "--data-dir", d).stdout
    proc = caas("host", "remove", "fake-host-1", "--data-dir", d, check=False)
    assert proc.returncode == 1 and "controller's own" in proc.stderr
    proc = caas("host", "remove", "nope", "--data-dir", d, check=False)
    assert proc.returncode == 1 and "no compute host named nope" in proc.stderr
    proc = caas("host", "add", "h7", "--data-dir", d, "--url", "http://x:1", check=False)
    assert proc.returncode == 1 and "https://HOST:PORT" in proc.stderr


def test_bad_credentials_and_bodies_are_4xx(controller):
    with agent_client(controller) as http:
        assert http.post("/agent/v1/heartbeat").status_code == 401
        for auth in ("Bearer " + tokens.new_secret(), "Bearer x", "Basic abc", "Bearer", "Bearer ;rm -rf /"):
            reply = http.post("/agent/v1/heartbeat", headers={"Authorization": auth})
            assert reply.status_code == 401 and reply.json()["error"]["code"] == 401
        assert http.post("/agent/v1/register", json={"vcpus": 1}).status_code == 401
        for body in ({}, {"name": "h8"}, {"name": 1, "secret": [], "credential": {}},
                     {"name": "h8;ls", "secret": tokens.new_secret(), "credential": tokens.new_secret()},
                     {"name": "h8", "secret": "short", "credential": tokens.new_secret()}):
            assert http.post("/agent/v1/join", json=body).status_code == 400, body
        assert http.post("/agent/v1/join", json={"name": "h8", "secret": tokens.new_secret(),
                                                 "credential": tokens.new_secret()}).status_code == 401
        for raw in (b"{", b"[1, 2]", b'"text"', b"\xff\xfe"):
            reply = http.post("/agent/v1/join", content=raw, headers={"Content-Type": "application/json"})
            assert reply.status_code == 400, raw
        reply = http.post("/agent/v1/join", content=b"{" + b" " * 1100000 + b"}",
                          headers={"Content-Type": "application/json"})
        assert reply.status_code == 413
        assert http.get("/agent/v1/join").status_code == 405
        assert http.get("/identity/v3").status_code == 404  # only the agent routes are here
    assert httpx.post(controller.url + "/agent/v1/heartbeat").status_code == 404  # and never on the main port


def test_malformed_registrations_commands_and_results_are_4xx(controller):
    credential = json.loads((controller.base / "agent-h2" / "agent.json").read_text())["credential"]
    good = {"vcpus": 8, "memory_mb": 16384, "local_gb": 500, "availability_zone": "nova", "hypervisor_type": "fake",
            "hypervisor_version": 1000, "host_ip": "127.0.0.1", "cpu_info": {}, "pci_devices": []}
    bad = [[], "x", {**good, "vcpus": "8"}, {**good, "vcpus": -1}, {**good, "vcpus": True}, {**good, "vcpus": 2**40},
           {**good, "memory_mb": None}, {k: v for k, v in good.items() if k != "local_gb"}, {**good, "extra": 1},
           {**good, "availability_zone": ""}, {**good, "host_ip": "x" * 65}, {**good, "cpu_info": []},
           {**good, "pci_devices": [{"address": 1}]}, {**good, "pci_devices": "x"}]
    with agent_client(controller, headers={"Authorization": f"Bearer {credential}"}) as http:
        for body in bad:
            reply = http.post("/agent/v1/register", json=body)
            assert reply.status_code == 400, (body, reply.text)
        assert http.post("/agent/v1/register", json=good).status_code == 204
        assert http.post("/agent/v1/heartbeat").status_code == 204
        # The commands' long poll and the results (no command exists in this module).
        for wait in ("1", -1, 31, True, None, [1]):
            assert http.post("/agent/v1/commands", json={"wait": wait}).status_code == 400, wait
        assert http.post("/agent/v1/commands", json={"wait": 0}).json() == {"commands": []}
        for body in ({}, {"id": 1, "ok": True}, {"id": "x", "ok": "yes"}, {"id": "x", "ok": False, "error": 5}, []):
            assert http.post("/agent/v1/results", json=body).status_code == 400, body
        assert http.post("/agent/v1/results", json={"id": "nope;ls", "ok": True}).status_code == 404


def test_a_removed_host_stops_its_agent(controller):
    env = controller.os_env()
    running = [a for a in controller.agents if a.data_dir.name == "agent-h3" and a.proc.poll() is None]
    caas("host", "remove", "h3", "--data-dir", str(controller.data_dir))
    assert "h3" not in states(env)
    assert running[0].exited() == 1 and "refused" in running[0].output()
