"""The cluster commands without a server: argument parsing (typer's CliRunner), the request
bodies that ``caas cluster``/``caas node`` and ``os_cluster``/``os_node`` send, the ssh argument
lists, regular expressions, output formats, waiting, and the files kept under CAAS_CONFIG_DIR.

Where a command must talk to the API, it gets ``RecordingClient`` through the client seam
(``caas.cli.clusters.make_client``): it stands for the server at the client's interface and
records the request bodies; nothing here mocks HTTP. The commands against a real server are
tested end to end elsewhere (CAAS_URL and OS_* in the environment).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat

import pytest
import yaml
from typer.testing import CliRunner

from caas.cli import clusters as c
from caas.cli.client import ClientError, ClusterAPIError, ClusterClient, api_base, api_error
from caas.cli.main import app as caas_app
from caas.cli.os_commands import os_cluster_app, os_cluster_request, os_node_app
from caas.errors import BadRequest

CID = "0123456789abcdef0123456789abcdef"
NOW = dt.datetime(2026, 1, 2, 12, 0, 0, tzinfo=dt.timezone.utc)


def node(name, role="compute", status="ACTIVE", ip=None, flavor="m1.xsmall"):
    return {"name": name, "role": role, "status": status, "server_id": "s-" + name, "fixed_ip": ip,
            "flavor": flavor, "created_at": "2026-01-02T11:00:00Z"}


def cluster(**kw):
    base = {"id": CID, "name": "demo", "project_id": "p1", "user_id": "u1", "status": "ACTIVE",
            "status_reason": "", "step": None, "image": "host", "image_id": "i1", "profile": "base",
            "profile_version": "1", "head_flavor": "m1.xsmall", "node_flavor": "m1.xsmall", "key_name": None,
            "keypair_generated": True, "node_count": 2, "nodes_ready": 2, "head_name": "demo-head",
            "floating_ip": "172.24.4.3", "network_id": "n1", "keep_on_failure": False,
            "created_at": "2026-01-02T11:58:00Z", "updated_at": "2026-01-02T11:59:00Z",
            "nodes": [node("demo-head", "head", ip="10.200.0.10"), node("node001", ip="10.200.1.1"),
                      node("node002", ip="10.200.1.2")]}
    base.update(kw)
    return base


class RecordingClient:
    """The server at the client's interface: canned answers, every call recorded."""

    def __init__(self, answers=None, polls=None):
        self.calls: list[tuple] = []
        self.answers = answers or {}
        self.polls = list(polls or [])

    def _answer(self, name, *args):
        self.calls.append((name, *args))
        value = self.answers.get(name)
        if isinstance(value, Exception):
            raise value
        return value

    def create_cluster(self, body):
        return self._answer("create_cluster", body)

    def list_clusters(self, name=None, status=None, all_projects=False):
        return self._answer("list_clusters", all_projects)

    def get_cluster(self, ref):
        self.calls.append(("get_cluster", ref))
        if self.polls:
            value = self.polls.pop(0)
            if isinstance(value, BaseException):  # KeyboardInterrupt too: a user's Ctrl-C
                raise value
            return value
        return self.answers.get("get_cluster", cluster())

    def delete_cluster(self, ref):
        return self._answer("delete_cluster", ref)

    def list_nodes(self, ref):
        return self._answer("list_nodes", ref)

    def list_events(self, ref, since=None):
        return self._answer("list_events", ref) or []

    def add_nodes(self, ref, body):
        return self._answer("add_nodes", ref, body)

    def remove_nodes(self, ref, names):
        return self._answer("remove_nodes", ref, names)


@pytest.fixture
def no_server(monkeypatch):
    """Any attempt to reach the API fails the test: the command must stop before."""
    def refuse():
        raise AssertionError("the command reached for the API")
    monkeypatch.setattr(c, "make_client", refuse)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A RecordingClient behind the seam, a private CAAS_CONFIG_DIR and no sleeping."""
    fake = RecordingClient()
    monkeypatch.setattr(c, "make_client", lambda: fake)
    monkeypatch.setenv("CAAS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setattr(c.time, "sleep", lambda s: None)
    return fake


runner = CliRunner()


def run(app, *args, prog="caas"):
    return runner.invoke(app, list(args), prog_name=prog)


# ---- help and usage errors: exit 2 before any call -----------------------------------------
def test_help_lists_the_commands():
    for args, words in ((["cluster", "--help"], ["create", "list", "show", "events", "delete", "ssh"]),
                        (["node", "--help"], ["add", "remove", "list"])):
        result = run(caas_app, *args)
        assert result.exit_code == 0, result.output
        for word in words:
            assert word in result.output
    assert all(w in run(os_cluster_app, "--help").output for w in ("create", "list", "show", "delete"))
    assert all(w in run(os_node_app, "--help").output for w in ("create", "delete", "list"))


@pytest.mark.parametrize("args, message", [
    (["cluster", "create"], None),
    (["cluster", "create", "demo", "-n", "-1"], None),
    (["cluster", "create", "demo", "-f", "xml"], None),
    (["cluster", "list", "-e", "te[st"], "invalid regular expression"),
    (["cluster", "list", "-e", "(unclosed"], "invalid regular expression"),
    (["cluster", "events", "demo", "--follow", "-f", "json"], "--follow"),
    (["node", "add", "demo"], "either a node count"),
    (["node", "add", "demo", "-n", "2", "-r", "node001"], "either a node count"),
    (["node", "add", "demo", "-n", "0"], None),
    (["node", "add", "demo", "-r", "node[5-1]"], "ends before it starts"),
    (["node", "add", "demo", "-r", "a;rm -rf /"], "DNS label"),
    (["node", "add", "demo", "-r", "$(reboot)"], None),
    (["node", "remove", "demo"], None),
    (["node", "remove", "demo", "node001", "../etc"], None),
    (["node", "remove", "demo", "node001;reboot"], "DNS label"),
    (["cluster", "ssh"], None),
    (["cluster", "ssh", "demo", "node001", "hostname"], None),  # a command goes after --
    (["cluster", "create", "demo", "--ready", "ping"], "ping"),
])
def test_usage_errors_exit_2_without_a_call(no_server, args, message):
    result = run(caas_app, *args)
    assert result.exit_code == 2, result.output
    if message:
        assert message in result.output


@pytest.mark.parametrize("app, args", [
    (os_cluster_app, ["create", "demo", "host"]),
    (os_cluster_app, ["create", "demo", "host", "base:"]),
    (os_cluster_app, ["create", "demo", "host", ":1"]),
    (os_cluster_app, ["list", "-e", "*test"]),
    (os_node_app, ["create", "demo"]),
    (os_node_app, ["create", "demo", "-r", "node0[01-10"]),
    (os_node_app, ["create", "demo", "-r", "NODE001"]),
    (os_node_app, ["delete", "demo"]),
    (os_node_app, ["delete", "demo", "-r", "node003..node001"]),
    (os_cluster_app, ["create", "demo", "host", "base", "--ready", "ping"]),
])
def test_os_commands_usage_errors(no_server, app, args):
    result = run(app, *args, prog="os_x")
    assert result.exit_code == 2, result.output


# ---- request bodies ------------------------------------------------------------------------
def test_cluster_request_sends_every_member():
    assert c.cluster_request("demo") == {
        "cluster": {"name": "demo", "image": None, "profile": "base", "profile_version": None, "node_count": 0,
                    "node_flavor": None, "head_flavor": None, "key_name": None, "keep_on_failure": False},
        "dry_run": False}
    body = c.cluster_request("demo", image="host", profile="base", profile_version="1", node_count=3,
                             node_flavor="m1.small", head_flavor="m1.large", key_name="mine",
                             keep_on_failure=True, dry_run=True)
    assert body == {"cluster": {"name": "demo", "image": "host", "profile": "base", "profile_version": "1",
                                "node_count": 3, "node_flavor": "m1.small", "head_flavor": "m1.large",
                                "key_name": "mine", "keep_on_failure": True}, "dry_run": True}
    with pytest.raises(BadRequest):
        c.cluster_request("demo", node_count=-1)


def test_ready_is_sent_when_not_the_default():
    assert "ready" not in c.cluster_request("demo", ready="ssh")["cluster"]
    assert c.cluster_request("demo", ready="servers")["cluster"]["ready"] == "servers"
    assert os_cluster_request("demo", "host", "base", ready="servers")["cluster"]["ready"] == "servers"


def test_network_options_are_sent_when_given(server):
    assert not {"network", "external_network"} & set(c.cluster_request("demo")["cluster"])
    server.answers["create_cluster"] = {"cluster": cluster(status="CREATING")}
    assert run(caas_app, "cluster", "create", "demo", "--network", "campus", "--external-network", "ext2",
               "--no-wait").exit_code == 0
    assert run(os_cluster_app, "create", "demo", "none", "base", "--network", "campus", "--external-network",
               "ext2", "--no-wait").exit_code == 0
    bodies = [call[1]["cluster"] for call in server.calls if call[0] == "create_cluster"]
    assert [(b["network"], b["external_network"]) for b in bodies] == [("campus", "ext2")] * 2


@pytest.mark.parametrize("distro, version, image, profile, profile_version", [
    ("host", "base", "host", "base", None),                 # os_cluster create demo host base -n 3
    ("none", "none", None, "none", None),                   # os_cluster create x none none
    ("NONE", "None", None, "none", None),
    ("CENTOS7u1", "7.1-stable", "CENTOS7u1", "7.1-stable", None),  # the seed's line, as the server sees it
    ("host", "base:1", "host", "base", "1"),
    ("none", "none:1", None, "none", "1"),
])
def test_os_cluster_create_mapping(distro, version, image, profile, profile_version):
    body = os_cluster_request("demo", distro, version, node_count=3)
    assert body == c.cluster_request("demo", image=image, profile=profile, profile_version=profile_version,
                                     node_count=3)


@pytest.mark.parametrize("version", ["base:", ":1", "", " "])
def test_os_cluster_bad_version(version):
    with pytest.raises(BadRequest):
        os_cluster_request("demo", "host", version)


def test_nodes_request():
    assert c.nodes_request(count=2) == {"nodes": {"count": 2}}
    assert c.nodes_request(names=" node0[01-10] ", flavor="m1.small") == {
        "nodes": {"names": "node0[01-10]", "flavor": "m1.small"}}
    assert c.nodes_request(names="node001..node003") == {"nodes": {"names": "node001..node003"}}
    for kwargs in ({}, {"count": 1, "names": "node001"}, {"count": 0}, {"count": 10_001}, {"names": "node[1-"}):
        with pytest.raises(BadRequest):
            c.nodes_request(**kwargs)


def test_removal_expression():
    assert c.removal_expression(["node002", "node0[04-05]", " node007..node008 "]) == \
        "node002,node0[04-05],node007..node008"
    for items in ([], [" "], ["node001", "x/y"]):
        with pytest.raises(BadRequest):
            c.removal_expression(items)


def test_the_commands_send_the_same_bodies(server):
    """caas cluster create and os_cluster create, caas node and os_node: one body each way."""
    server.answers["create_cluster"] = {"cluster": cluster(status="CREATING")}
    assert run(caas_app, "cluster", "create", "demo", "--image", "host", "--profile", "base", "-n", "3",
               "--flavor", "m1.small", "--head-flavor", "m1.large", "--key-name", "k", "--no-wait").exit_code == 0
    assert run(os_cluster_app, "create", "demo", "host", "base", "-n", "3", "--flavor", "m1.small",
               "--head-flavor", "m1.large", "--key-name", "k", "--no-wait").exit_code == 0
    assert run(os_cluster_app, "create", "x", "none", "none", "--no-wait").exit_code == 0
    bodies = [call[1] for call in server.calls if call[0] == "create_cluster"]
    assert bodies[0] == bodies[1] == c.cluster_request("demo", image="host", node_count=3, node_flavor="m1.small",
                                                       head_flavor="m1.large", key_name="k")
    assert bodies[2]["cluster"]["image"] is None and bodies[2]["cluster"]["profile"] == "none"

    server.answers["add_nodes"] = {"cluster": cluster(status="UPDATING"), "nodes": ["node003", "node004"]}
    server.answers["remove_nodes"] = {"cluster": cluster(status="UPDATING"), "nodes": ["node001"]}
    for app, args in ((caas_app, ["node", "add", "demo", "-n", "2", "--no-wait"]),
                      (os_node_app, ["create", "demo", "-n", "2", "--no-wait"]),
                      (caas_app, ["node", "add", "demo", "-r", "node0[01-10]", "--no-wait"]),
                      (os_node_app, ["create", "demo", "-r", "node0[01-10]", "--no-wait"]),
                      (os_node_app, ["create", "demo", "-r", "node001..node003", "--flavor", "f", "--no-wait"]),
                      (caas_app, ["node", "remove", "demo", "node001", "node0[04-05]", "--no-wait"]),
                      (os_node_app, ["delete", "demo", "-r", "node0[04-05]", "node001", "--no-wait"]),
                      (os_node_app, ["delete", "demo", "node001", "--no-wait"])):
        result = run(app, *args)
        assert result.exit_code == 0, result.output
    node_calls = [call for call in server.calls if call[0] in ("add_nodes", "remove_nodes")]
    assert node_calls == [
        ("add_nodes", "demo", {"nodes": {"count": 2}}), ("add_nodes", "demo", {"nodes": {"count": 2}}),
        ("add_nodes", "demo", {"nodes": {"names": "node0[01-10]"}}),
        ("add_nodes", "demo", {"nodes": {"names": "node0[01-10]"}}),
        ("add_nodes", "demo", {"nodes": {"names": "node001..node003", "flavor": "f"}}),
        ("remove_nodes", "demo", "node001,node0[04-05]"), ("remove_nodes", "demo", "node0[04-05],node001"),
        ("remove_nodes", "demo", "node001")]


# ---- create: keys, dry runs, quota refusals ------------------------------------------------
def test_generated_private_key_is_saved_private(server, tmp_path):
    server.answers["create_cluster"] = {"cluster": cluster(status="CREATING"), "private_key": "-----KEY-----"}
    result = run(caas_app, "cluster", "create", "demo", "--no-wait")
    assert result.exit_code == 0, result.output
    key = tmp_path / "cfg" / "keys" / CID
    assert key.read_text() == "-----KEY-----\n"
    assert str(key) in result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cfg").stat().st_mode) == 0o700


def test_a_strange_cluster_id_writes_no_file(server, tmp_path):
    server.answers["create_cluster"] = {"cluster": cluster(id="../../x"), "private_key": "K"}
    result = run(caas_app, "cluster", "create", "demo", "--no-wait")
    assert result.exit_code == 1
    assert "unexpected cluster id" in result.output
    assert not (tmp_path / "cfg").exists() and not (tmp_path / "x").exists()


PLAN = {"cluster": "demo", "nodes": ["node001", "node002", "node003"],
        "resources": [{"kind": "network", "name": "demo-net"}, {"kind": "server", "name": "demo-head"}],
        "quota": [{"resource": "instances", "needed": 4, "in_use": 1, "limit": 10},
                  {"resource": "cores", "needed": 4, "in_use": 0, "limit": -1}],
        "shortfalls": []}


def test_dry_run_prints_the_plan(server):
    server.answers["create_cluster"] = {"plan": PLAN}
    result = run(caas_app, "cluster", "create", "demo", "-n", "3", "--dry-run")
    assert result.exit_code == 0, result.output
    assert server.calls[0][1]["dry_run"] is True
    for text in ("demo-net", "instances", "unlimited", "node[001-003]", "No quota shortfalls"):
        assert text in result.output
    result = run(caas_app, "cluster", "create", "demo", "-n", "3", "--dry-run", "-f", "json")
    assert json.loads(result.output) == PLAN


def test_dry_run_with_shortfalls_exits_1(server):
    short = {"resource": "instances", "needed": 4, "available": 2, "message": "instances: needs 4, 2 left"}
    server.answers["create_cluster"] = {"plan": {**PLAN, "shortfalls": [short]}}
    result = run(caas_app, "cluster", "create", "demo", "-n", "3", "--dry-run")
    assert result.exit_code == 1
    assert "instances: needs 4, 2 left" in result.output


def test_quota_refusal_prints_every_shortfall(server):
    body = {"error": {"code": 403, "title": "Forbidden", "message": "The cluster does not fit.",
                      "shortfalls": [{"resource": "instances", "needed": 4, "available": 2},
                                     {"resource": "ram", "needed": 4096, "available": 1024, "message": "ram: short"}]}}
    server.answers["create_cluster"] = api_error(403, body, "")
    result = run(os_cluster_app, "create", "demo", "host", "base", "-n", "3", prog="os_cluster")
    assert result.exit_code == 1
    assert "os_cluster: error: The cluster does not fit." in result.output
    assert "instances: needed 4, available 2" in result.output and "ram: short" in result.output


# ---- waiting -------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_until_active_shows_progress_lines():
    clock, out = Clock(), io.StringIO()
    polls = [cluster(status="CREATING", step="network", nodes_ready=0),
             cluster(status="CREATING", step="network", nodes_ready=0),
             cluster(status="CREATING", step="nodes", nodes_ready=1), cluster(status="ACTIVE")]
    client = RecordingClient(polls=polls)
    final = c.wait_for(client, cluster(status="CREATING", step="queued", nodes_ready=0), stream=out,
                       clock=clock, sleep=clock.sleep)
    assert final["status"] == "ACTIVE"
    assert clock.now == 2.0  # four polls, 0.5 s apart
    assert all(call == ("get_cluster", CID) for call in client.calls)
    lines = out.getvalue().splitlines()
    assert lines == ["cluster demo: CREATING, step queued, nodes ready 0/2, 0s",
                     "cluster demo: CREATING, step network, nodes ready 0/2, 0s",
                     "cluster demo: CREATING, step nodes, nodes ready 1/2, 2s",
                     "cluster demo: ACTIVE, nodes ready 2/2, 2s"]


def test_wait_fails_on_error_and_on_timeout():
    clock = Clock()
    client = RecordingClient(polls=[cluster(status="ERROR", status_reason="head: no valid host")])
    with pytest.raises(c.WaitFailed, match="no valid host"):
        c.wait_for(client, cluster(status="CREATING"), stream=io.StringIO(), clock=clock, sleep=clock.sleep)
    # a node down once the work is over: settled, not ACTIVE (no wait until the timeout)
    client = RecordingClient(polls=[cluster(status="DEGRADED", status_reason="node002: its server is SHUTOFF")])
    with pytest.raises(c.WaitFailed, match="is DEGRADED: node002: its server is SHUTOFF"):
        c.wait_for(client, cluster(status="UPDATING"), stream=io.StringIO(), clock=clock, sleep=clock.sleep)
    client = RecordingClient(answers={"get_cluster": cluster(status="CREATING")})
    with pytest.raises(c.WaitFailed, match="timed out after 3s"):
        c.wait_for(client, cluster(status="CREATING"), timeout=3, stream=io.StringIO(), clock=clock,
                   sleep=clock.sleep)


def test_wait_for_gone():
    clock = Clock()
    gone = ClusterAPIError(404, "No cluster 'demo'.")
    client = RecordingClient(polls=[cluster(status="DELETING"), gone])
    assert c.wait_for(client, cluster(status="DELETING"), gone=True, stream=io.StringIO(), clock=clock,
                      sleep=clock.sleep) is None
    client = RecordingClient(polls=[gone])
    with pytest.raises(c.WaitFailed, match="gone"):
        c.wait_for(client, cluster(status="CREATING"), stream=io.StringIO(), clock=clock, sleep=clock.sleep)


def test_failed_create_prints_reason_and_error_events(server):
    server.answers["create_cluster"] = {"cluster": cluster(status="CREATING")}
    server.polls = [cluster(status="ERROR", status_reason="head: the server went to ERROR")]
    server.answers["list_events"] = [
        {"seq": 1, "time": "2026-01-02T11:58:00Z", "step": "plan", "level": "info", "message": "ok", "duration": None},
        {"seq": 2, "time": "2026-01-02T11:58:01Z", "step": "head", "level": "error", "message": "boot failed",
         "duration": 0.5}]
    result = run(caas_app, "cluster", "create", "demo")
    assert result.exit_code == 1
    assert "head: the server went to ERROR" in result.output
    assert "ERROR: boot failed" in result.output and "ok" not in result.output.split("ERROR")[-1]


ROLLED_BACK = {"status": "ERROR", "status_reason": "ready: injected failure; rolled back, nothing is left",
               "floating_ip": None, "network_id": None, "nodes_ready": 0}


def created_with_a_key(server, tmp_path, *args, polls=()) -> tuple:
    """``caas cluster create demo ARGS`` answered with a generated key, then ``polls``: the
    result, and the path of the key file."""
    server.answers["create_cluster"] = {"cluster": cluster(status="CREATING", floating_ip=None),
                                        "private_key": "-----KEY-----"}
    server.polls = list(polls)
    result = run(caas_app, "cluster", "create", "demo", *args)
    return result, tmp_path / "cfg" / "keys" / CID


@pytest.mark.parametrize("failed", [cluster(**ROLLED_BACK), ClusterAPIError(404, "No cluster 'demo'.")],
                         ids=["rolled-back", "gone"])
def test_a_failed_create_removes_its_key_when_nothing_is_left(server, tmp_path, failed):
    base = tmp_path / "cfg"
    c.write_private(base / "known_hosts" / CID, "x")
    result, key = created_with_a_key(server, tmp_path, polls=[cluster(status="CREATING"), failed])
    assert result.exit_code == 1
    assert not key.exists() and not (base / "known_hosts" / CID).exists()
    assert f"Generated a key pair: private key saved to {key}" in result.output
    assert f"removed its generated private key {key}: nothing of the cluster is left to log in to" in result.output


@pytest.mark.parametrize("last", [
    cluster(status="ERROR", status_reason="ready: failed (resources kept: --keep-on-failure)", keep_on_failure=True),
    cluster(status="ERROR", status_reason="ready: failed; the rollback failed too (boom): delete the cluster to retry"),
    KeyboardInterrupt()], ids=["kept-on-failure", "rollback-failed", "interrupted"])
def test_a_failed_create_keeps_its_key_while_there_is_something_to_log_in_to(server, tmp_path, last):
    result, key = created_with_a_key(server, tmp_path, polls=[last])
    assert result.exit_code == (130 if isinstance(last, KeyboardInterrupt) else 1)
    assert key.read_text() == "-----KEY-----\n"
    if not isinstance(last, KeyboardInterrupt):
        assert f"its generated private key stays in {key} (caas cluster ssh demo)" in result.output


def test_a_timed_out_create_keeps_its_key(server, tmp_path):
    server.answers["get_cluster"] = cluster(status="CREATING", step="nodes")
    result, key = created_with_a_key(server, tmp_path, "--timeout", "1")
    assert result.exit_code == 1 and "timed out" in result.output
    assert key.is_file()


def test_a_create_without_wait_leaves_its_key_to_show_and_list(server, tmp_path):
    """--no-wait: the CLI is gone before the create fails; the next show or list that sees it
    rolled back removes the key (and only that one)."""
    result, key = created_with_a_key(server, tmp_path, "--no-wait")
    assert result.exit_code == 0 and key.is_file()
    other = "fedcba9876543210fedcba9876543210"
    c.save_private_key(tmp_path / "cfg", other, "K")
    server.answers["get_cluster"] = cluster(status="CREATING", floating_ip=None, network_id=None)
    assert run(caas_app, "cluster", "show", "demo").exit_code == 0 and key.is_file()
    server.answers["get_cluster"] = cluster(**ROLLED_BACK)
    result = run(caas_app, "cluster", "show", "demo", "-f", "json")
    assert result.exit_code == 0 and key.is_file() is False
    assert json.loads(result.stdout)["status"] == "ERROR"
    assert f"removed its generated private key {key}" in result.stderr

    c.save_private_key(tmp_path / "cfg", CID, "K")
    server.answers["list_clusters"] = [cluster(**ROLLED_BACK), cluster(id=other, name="fine")]
    result = run(os_cluster_app, "list", prog="os_cluster")
    assert result.exit_code == 0 and not key.exists() and (tmp_path / "cfg" / "keys" / other).is_file()
    assert "cluster demo: removed its generated private key" in result.output


def test_delete_waits_until_gone_and_forgets_the_cluster(server, tmp_path):
    base = tmp_path / "cfg"
    c.save_private_key(base, CID, "K")
    c.write_private(base / "ssh" / f"{CID}.conf", "x")
    server.answers["delete_cluster"] = cluster(status="DELETING")
    server.polls = [cluster(status="DELETING"), ClusterAPIError(404, "gone")]
    result = run(os_cluster_app, "delete", "demo")
    assert result.exit_code == 0, result.output
    assert "cluster demo deleted" in result.output
    assert not (base / "keys" / CID).exists() and not (base / "ssh" / f"{CID}.conf").exists()


# ---- ssh -----------------------------------------------------------------------------------
def test_ssh_to_the_head(tmp_path):
    key = tmp_path / "keys" / CID
    cmd = c.ssh_command(cluster(), cluster()["nodes"], None, ["uname", "-a"], tmp_path, key)
    assert cmd.argv == ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=accept-new",
                        "-o", f"UserKnownHostsFile={tmp_path}/known_hosts/{CID}", "--", "root@172.24.4.3",
                        "uname", "-a"]
    assert cmd.config_path is None
    # Without a saved key: the user's own keys and agent; the head's name is the head too.
    cmd = c.ssh_command(cluster(), cluster()["nodes"], "demo-head", [], tmp_path, None)
    assert cmd.argv == ["ssh", "-o", "StrictHostKeyChecking=accept-new",
                        "-o", f"UserKnownHostsFile={tmp_path}/known_hosts/{CID}", "--", "root@172.24.4.3"]


def test_ssh_to_a_compute_node_through_the_head(tmp_path):
    key = tmp_path / "keys" / CID
    nodes = cluster()["nodes"] + [node("node003")]  # no address yet: the head resolves it
    cmd = c.ssh_command(cluster(), nodes, "node002", ["-v", "hostname"], tmp_path, key)
    conf = tmp_path / "ssh" / f"{CID}.conf"
    assert cmd.argv == ["ssh", "-F", str(conf), "-J", "caas-head-01234567", "--", "root@node002", "-v", "hostname"]
    assert cmd.config_path == conf
    text = cmd.config_text
    assert "Host caas-head-01234567\n    HostName 172.24.4.3\n    User root\n" in text
    assert "Host node001\n    HostName 10.200.1.1\n" in text and "Host node002\n    HostName 10.200.1.2\n" in text
    assert "node003" not in text and "demo-head" not in text
    assert text.endswith(f"Host *\n    IdentityFile {key}\n    StrictHostKeyChecking accept-new\n"
                         f"    UserKnownHostsFile {tmp_path}/known_hosts/{CID}\n")
    assert "IdentityFile" not in c.ssh_command(cluster(), nodes, "node002", [], tmp_path, None).config_text


def test_ssh_refusals(tmp_path):
    nodes = cluster()["nodes"]
    with pytest.raises(c.CLIError) as exc:
        c.ssh_command(cluster(), nodes, "node009", [], tmp_path, None)
    assert exc.value.code == 2 and "node[001-002]" in exc.value.message
    with pytest.raises(c.CLIError, match="no floating IP"):
        c.ssh_command(cluster(floating_ip=None), nodes, None, [], tmp_path, None)
    with pytest.raises(c.CLIError, match="floating IP"):
        c.ssh_command(cluster(floating_ip="1.2.3.4\nProxyCommand evil"), nodes, None, [], tmp_path, None)
    with pytest.raises(c.CLIError, match="node address"):
        c.ssh_command(cluster(), [node("node001", ip="10.0.0.1 evil")], "node001", [], tmp_path, None)
    with pytest.raises(c.CLIError, match="CAAS_CONFIG_DIR"):
        c.ssh_command(cluster(), nodes, None, [], tmp_path / "my dir", None)
    with pytest.raises(c.CLIError, match="CAAS_CONFIG_DIR"):
        c.ssh_command(cluster(), nodes, "node001", [], tmp_path / "a;b", None)
    with pytest.raises(c.CLIError, match="unexpected cluster id"):
        c.ssh_command(cluster(id="../x"), nodes, None, [], tmp_path, None)


def test_ssh_command_line_keeps_the_remote_command_apart(server, tmp_path, monkeypatch):
    server.answers["list_nodes"] = cluster()["nodes"]
    execs = []
    monkeypatch.setattr(c.os, "execvp", lambda prog, argv: execs.append(argv))
    assert run(caas_app, "cluster", "ssh", "demo", "--", "ls", "-l").exit_code == 0
    assert execs[-1][-3:] == ["root@172.24.4.3", "ls", "-l"]
    assert run(caas_app, "cluster", "ssh", "demo", "node001", "--", "hostname").exit_code == 0
    assert execs[-1][-2:] == ["root@node001", "hostname"]
    conf = tmp_path / "cfg" / "ssh" / f"{CID}.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert (tmp_path / "cfg" / "known_hosts").is_dir()
    result = run(caas_app, "cluster", "ssh", "demo", "ls")
    assert result.exit_code == 2 and "no node 'ls'" in result.output and len(execs) == 2


# ---- listing, regular expressions, output formats ------------------------------------------
CLUSTERS = [cluster(name="test1"), cluster(name="prod", status="CREATING", node_count=3, nodes=None,
                                           floating_ip=None, created_at="2026-01-02T09:00:00")]


def test_filter_clusters():
    assert [x["name"] for x in c.filter_clusters(CLUSTERS, "test*")] == ["test1"]
    # A regular expression searched for, not a glob: "test*" is "tes" and any number of "t".
    assert c.filter_clusters([{"name": "my-tesla"}], "test*") == [{"name": "my-tesla"}]
    assert [x["name"] for x in c.filter_clusters(CLUSTERS, "^test")] == ["test1"]
    assert [x["name"] for x in c.filter_clusters(CLUSTERS, "od$")] == ["prod"]
    assert c.filter_clusters(CLUSTERS, None) == CLUSTERS
    with pytest.raises(BadRequest, match="invalid regular expression"):
        c.filter_clusters(CLUSTERS, "[")


def test_cluster_rows():
    assert c.cluster_rows(CLUSTERS, NOW) == [
        ["test1", "ACTIVE", "1+2", "172.24.4.3", "host", "base:1", "2m"],
        ["prod", "CREATING", "1+3", None, "host", "base:1", "3h"]]
    assert c.cluster_rows(CLUSTERS[:1], NOW, all_projects=True)[0][-1] == "p1"
    assert c.cluster_columns(True)[-1] == "Project"


def test_list_command_filters_client_side(server):
    server.answers["list_clusters"] = CLUSTERS
    result = run(os_cluster_app, "list", "-e", "^te", "-f", "value")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [" ".join(["test1", "ACTIVE", "1+2", "172.24.4.3", "host", "base:1"])
                                          + " " + c.age(CLUSTERS[0]["created_at"], c._now())]
    result = run(caas_app, "cluster", "list", "--all-projects", "-f", "json")
    assert server.calls[-1] == ("list_clusters", True)
    assert [x["name"] for x in json.loads(result.output)] == ["test1", "prod"]


@pytest.mark.parametrize("created, expected", [
    ("2026-01-02T11:59:18Z", "42s"), ("2026-01-02T11:55:00", "5m"), ("2026-01-02T09:00:00+00:00", "3h"),
    ("2025-12-31T12:00:00Z", "2d"), ("2026-01-02T12:00:05Z", "0s"), (None, ""), ("yesterday", ""),
])
def test_age(created, expected):
    assert c.age(created, NOW) == expected


def test_render_formats():
    columns, rows, data = ("Name", "Nodes"), [["demo", "node[001-003]"], ["x", None]], [{"name": "demo"}]
    table = c.render(c.Format.table, columns, rows, data)
    assert table.splitlines() == ["+------+---------------+", "| Name | Nodes         |",
                                  "+------+---------------+", "| demo | node[001-003] |",
                                  "| x    |               |", "+------+---------------+"]
    assert c.render(c.Format.value, columns, rows, data) == "demo node[001-003]\nx "
    assert json.loads(c.render(c.Format.json, columns, rows, data)) == data
    assert yaml.safe_load(c.render(c.Format.yaml, columns, rows, data)) == data


def test_render_fields_and_show(server):
    fields = c.cluster_fields(cluster())
    assert dict(fields)["nodes"] == "1+2" and dict(fields)["floating_ip"] == "172.24.4.3"
    assert c.render_fields(c.Format.value, [("a", 1), ("b", None), ("c", ["x", "y"])], {}) == "1\n\nx, y"
    result = run(caas_app, "cluster", "show", "demo")
    assert result.exit_code == 0, result.output
    assert "| floating_ip         | 172.24.4.3" in result.output
    assert "| node002   | compute | ACTIVE | 10.200.1.2  | m1.xsmall |" in result.output
    shown = yaml.safe_load(run(caas_app, "cluster", "show", "demo", "-f", "yaml").output)
    assert shown == cluster()


def test_events_and_status_line():
    event = {"seq": 3, "time": "2026-01-02T11:58:01.123456Z", "step": "nodes", "level": "error",
             "message": "boot failed", "duration": 1.25}
    assert c.event_row(event) == ["2026-01-02 11:58:01", "nodes", "1.2s", "ERROR: boot failed"]
    assert c.event_row({"time": "", "step": None, "message": "m"}) == ["", "", "", "m"]
    assert c.event_line(event) == "2026-01-02 11:58:01  nodes             1.2s  ERROR: boot failed"
    assert c.status_line(cluster(status="UPDATING", step="nodes", nodes_ready=1, node_count=4), 12.4) == \
        "cluster demo: UPDATING, step nodes, nodes ready 1/4, 12s"


def test_events_follow_stops_when_the_work_ends(server):
    server.polls = [cluster(), cluster(status="CREATING"), cluster(status="ACTIVE")]
    answers = iter([[{"seq": 1, "time": "t", "step": "plan", "message": "a"}],
                    [{"seq": 1, "time": "t", "step": "plan", "message": "a"},
                     {"seq": 2, "time": "t", "step": "create", "message": "b"}]])
    server.list_events = lambda ref, since=None: server.calls.append(("list_events", ref, since)) or next(answers)
    result = run(caas_app, "cluster", "events", "demo", "--follow")
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.output.splitlines()] == ["a", "b"]
    assert [call[2] for call in server.calls if call[0] == "list_events"] == [None, 1]


# ---- the client's pure parts ---------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ["http://h:8080", "http://h:8080/", "http://h:8080/caas",
                                      "http://h:8080/caas/v1", "http://h:8080/caas/v1/"])
def test_api_base(endpoint):
    assert api_base(endpoint) == "http://h:8080/caas/v1"


def test_api_errors_carry_the_message_and_shortfalls():
    err = api_error(403, {"error": {"code": 403, "message": "does not fit",
                                    "shortfalls": [{"resource": "instances", "needed": 4, "available": 2}]}}, "")
    assert (err.status, err.message, err.shortfalls[0]["resource"]) == (403, "does not fit", "instances")
    assert str(err) == "does not fit (HTTP 403)"
    assert api_error(502, None, "<html>bad gateway</html>").message == "<html>bad gateway</html>"
    assert api_error(500, None, "").message == "HTTP 500"
    assert api_error(404, {"itemNotFound": {}}, "").shortfalls == []


def test_no_credentials_is_a_clear_error(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ClientError, match="OS_CLOUD"):
        ClusterClient.from_environment()
    monkeypatch.setenv("OS_CLOUD", "nowhere")
    with pytest.raises(ClientError, match="nowhere"):
        ClusterClient.from_environment()
