"""The cluster commands with ``--os-cloud NAME`` and no caas server (caas.cli.standalone): the
engine in the command's process, its journal under $CAAS_CLIENT_HOME/NAME, against a real
``caas up`` on the fake driver as "the cloud", reached as a member user through a clouds.yaml
(OS_CLIENT_CONFIG_FILE), as the openstack CLI reaches it. Create, show, list, node add and
remove, delete leaving nothing (application credential included); work left by --no-wait resumed
by the next command; adopt after the journal is lost; bad clouds as one line each."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from caas.lockfile import hold
from tests.clusters.common import everything, leftovers, set_quota
from tests.conftest import CaasServer, client_for, free_port, issue_token, make_member
from tests.forkserver import FirstAnew, fork_server

BIN = Path(sys.executable).parent
CREATE = ("--image", "host", "--flavor", "m1.nano", "--ready", "servers")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("client-cli")
    # servers take a second to boot: a create can be stopped half way
    srv = CaasServer(base / "data", env={"CAAS_FAKE_BOOT_DELAY": "1"}).start()
    srv.base = base
    yield srv
    errors = srv.server_errors()
    assert srv.stop() == 0 and errors == 0


@pytest.fixture(scope="module")
def admin(cloud):
    with client_for(cloud, issue_token(cloud)) as c:
        yield c


@pytest.fixture(scope="module")
def erin(cloud, admin):
    """A member of her own project, with a clouds.yaml naming the cloud (and some bad ones), her
password in a secure.yaml."""
    m = make_member(cloud, admin, "erin")
    set_quota(admin, m["project_id"], instances=10)
    auth = {"auth_url": cloud.url + "/identity/v3", "username": "erin", "password": m["password"],
            "project_name": "erin", "user_domain_name": "Default", "project_domain_name": "Default"}
    clouds = {"clouds": {  # her password for "mine" in secure.yaml, as openstacksdk merges it
        "mine": {"auth": {k: v for k, v in auth.items() if k != "password"}, "region_name": "RegionOne",
                 "identity_api_version": 3},
        "wrongpw": {"auth": {**auth, "password": "not-her-password"}, "region_name": "RegionOne"},
        "down": {"auth": {**auth, "auth_url": f"http://127.0.0.1:{free_port()}/identity/v3"},
                 "region_name": "RegionOne"},
        "nowhere": {"auth": {k: v for k, v in auth.items() if k != "auth_url"}, "region_name": "RegionOne"}}}
    (cloud.base / "clouds.yaml").write_text(yaml.safe_dump(clouds))
    (cloud.base / "secure.yaml").write_text(yaml.safe_dump({"clouds": {"mine": {"auth": {"password": m["password"]}}}}))
    env = {k: v for k, v in cloud.os_env().items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(cloud.base / "clouds.yaml"),
               OS_CLIENT_SECURE_FILE=str(cloud.base / "secure.yaml"), CAAS_CLIENT_HOME=str(cloud.base / "clients"),
               CAAS_CONFIG_DIR=str(cloud.base / "config"))
    env.pop("CAAS_URL", None)
    m["env"] = env
    with client_for(cloud, m["token"]) as c:
        m["client"] = c
        yield m


_RUN = FirstAnew("caas")


def caas(env: dict, *args: str, code: int = 0, cloud: str | None = "mine") -> subprocess.CompletedProcess:
    exe = shutil.which("caas", path=str(BIN)) or "caas"
    argv = [exe, *args] + (["--os-cloud", cloud] if cloud else [])
    out = _RUN(argv, env, timeout=120)
    assert out.returncode == code, f"{' '.join(args)}: exit {out.returncode}, not {code}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    return out


def credentials(admin, user_id: str) -> list[str]:
    r = admin.get(f"/identity/v3/users/{user_id}/application_credentials")
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["application_credentials"]]


def test_create_show_list_nodes_and_delete_without_a_server(erin, admin, cloud):
    before = everything(admin)
    shown = json.loads(caas(erin["env"], "cluster", "create", "p1", *CREATE, "-n", "2", "-f", "json").stdout)
    assert shown["status"] == "ACTIVE" and shown["node_count"] == 2 and shown["ready"] == "servers"
    home = cloud.base / "clients" / "mine"
    assert (home / "caas.db").is_file() and oct(home.stat().st_mode & 0o777) == "0o700"
    assert credentials(admin, erin["user_id"]) == [f"caas-cluster-p1-{shown['id'][:8]}"]
    listed = json.loads(caas(erin["env"], "cluster", "list", "-f", "json").stdout)
    assert [c["name"] for c in listed] == ["p1"]
    assert "p1-head" in caas(erin["env"], "cluster", "show", "p1").stdout
    caas(erin["env"], "node", "add", "p1", "-r", "node004")
    caas(erin["env"], "node", "remove", "p1", "node001")
    nodes = json.loads(caas(erin["env"], "node", "list", "p1", "-f", "json").stdout)
    assert sorted(n["name"] for n in nodes if n["role"] == "compute") == ["node002", "node004"]
    assert sorted(s["name"] for s in erin["client"].get("/compute/v2.1/servers").json()["servers"]) == \
        ["p1-head", "p1-node002", "p1-node004"]
    assert "p1" in caas(erin["env"], "cluster", "events", "p1").stdout
    assert "cluster p1 deleted" in caas(erin["env"], "cluster", "delete", "p1").stdout
    assert leftovers(erin["client"]) == {} and everything(admin) == before
    assert credentials(admin, erin["user_id"]) == []


def test_work_left_by_no_wait_is_resumed_by_the_next_command(erin, admin):
    out = caas(erin["env"], "cluster", "create", "p2", *CREATE, "-n", "1", "--no-wait")
    assert "the next caas command with --os-cloud mine resumes it" in out.stderr
    out = caas(erin["env"], "cluster", "show", "p2", "-f", "json")
    assert "cluster p2: resuming its create" in out.stderr and "cluster p2: ACTIVE" in out.stderr
    shown = json.loads(out.stdout)
    assert shown["status"] == "ACTIVE" and [n["status"] for n in shown["nodes"]] == ["ACTIVE", "ACTIVE"]
    assert sorted(s["name"] for s in erin["client"].get("/compute/v2.1/servers").json()["servers"]) == \
        ["p2-head", "p2-node001"]
    out = caas(erin["env"], "node", "add", "p2", "-n", "1", "--no-wait")
    assert "cluster p2: its add is not finished; the next caas command with --os-cloud mine resumes it" in out.stderr
    out = caas(erin["env"], "node", "list", "p2", "-f", "json")
    assert "cluster p2: resuming its add" in out.stderr and "cluster p2: ACTIVE" in out.stderr
    assert [(n["name"], n["status"]) for n in json.loads(out.stdout)] == \
        [("p2-head", "ACTIVE"), ("node001", "ACTIVE"), ("node002", "ACTIVE")]
    assert sorted(s["name"] for s in erin["client"].get("/compute/v2.1/servers").json()["servers"]) == \
        ["p2-head", "p2-node001", "p2-node002"]
    assert "adding node002 again" in caas(erin["env"], "cluster", "events", "p2").stdout
    left = "resumes it" in caas(erin["env"], "cluster", "delete", "p2", "--no-wait").stderr
    out = caas(erin["env"], "cluster", "list", "-f", "json")
    assert json.loads(out.stdout) == []
    assert ("cluster p2: deleted" in out.stderr) == left  # what the delete did not finish, the list did
    assert leftovers(erin["client"]) == {}
    assert credentials(admin, erin["user_id"]) == []


def test_sigterm_mid_create_leaves_it_to_the_next_command(erin, cloud):
    exe = shutil.which("caas", path=str(BIN)) or "caas"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = fork_server("caas").spawn([exe, "cluster", "create", "p4", *CREATE, "-n", "1", "--os-cloud", "mine"],
                                          erin["env"], stdout=out, stderr=err)
        deadline = time.monotonic() + 60
        while not any(n["name"] == "p4-net" for n in erin["client"].get("/network/v2.0/networks").json()["networks"]):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        child.terminate()
        assert child.wait(60) == 130
        err.seek(0)
        said = err.read().decode()
    assert "caas: error: stopped waiting; the create of cluster p4 stops with this command and the next caas " \
           "command with --os-cloud mine resumes it" in said
    assert "cluster p4: its create is not finished" in said and "Traceback" not in said
    out = caas(erin["env"], "cluster", "show", "p4", "-f", "json")
    assert "cluster p4: resuming its create" in out.stderr
    assert json.loads(out.stdout)["status"] == "ACTIVE"
    events = caas(erin["env"], "cluster", "events", "p4").stdout
    assert "creating the cluster again" in events
    assert sorted(s["name"] for s in erin["client"].get("/compute/v2.1/servers").json()["servers"]) == \
        ["p4-head", "p4-node001"]
    assert [n["name"] for n in erin["client"].get("/network/v2.0/networks").json()["networks"]
            if n["name"].startswith("p4")] == ["p4-net"]
    caas(erin["env"], "cluster", "delete", "p4")
    assert leftovers(erin["client"]) == {}


def test_adopt_after_the_journal_is_lost(erin, admin, cloud):
    before = everything(admin)
    shown = json.loads(caas(erin["env"], "cluster", "create", "p3", *CREATE, "-n", "1", "-f", "json").stdout)
    old_credential = credentials(admin, erin["user_id"])
    shutil.rmtree(cloud.base / "clients" / "mine")
    assert json.loads(caas(erin["env"], "cluster", "list", "-f", "json").stdout) == []
    out = caas(erin["env"], "cluster", "adopt", "p3", "-f", "json")
    adopted = json.loads(out.stdout)
    assert "adopted cluster p3" in out.stderr and "still in" in out.stderr
    assert adopted["id"] == shown["id"] and adopted["status"] == "ACTIVE" and adopted["cidr"] == shown["cidr"]
    assert (adopted["image"], adopted["node_flavor"], adopted["floating_ip"]) == \
        (shown["image"], shown["node_flavor"], shown["floating_ip"])
    assert sorted((n["name"], n["fixed_ip"], n["server_id"]) for n in adopted["nodes"]) == \
        sorted((n["name"], n["fixed_ip"], n["server_id"]) for n in shown["nodes"])
    assert credentials(admin, erin["user_id"]) == old_credential  # a new one of the same name
    again = caas(erin["env"], "cluster", "adopt", "p3", code=1)
    assert again.stderr.strip() == f"caas: error: Cluster p3 ({shown['id']}) is already in this journal: nothing " \
                                   "to adopt."
    assert (adopted["profile"], adopted["profile_version"], adopted["ready"]) == ("base", shown["profile_version"],
                                                                                 "servers")
    assert shown["created_at"] <= adopted["created_at"] < adopted["updated_at"]  # its first resource's time
    near = shown["id"][:-1] + ("1" if shown["id"].endswith("0") else "0")
    for ref in ("nosuch", "p3; rm -rf / $(id)", "x" * 300, near):
        nothing = caas(erin["env"], "cluster", "adopt", ref, code=1)
        assert nothing.stderr.startswith("caas: error: No cluster ") and len(nothing.stderr.strip().splitlines()) == 1
    # another project's member does not find it, even by id; a reader of hers may not adopt it
    frank = make_member(cloud, admin, "frank")
    reader = admin.get("/identity/v3/roles", params={"name": "reader"}).json()["roles"][0]["id"]
    rita = admin.post("/identity/v3/users", json={"user": {"name": "rita", "password": "Secret_123"}}).json()["user"]
    assert admin.put(f"/identity/v3/projects/{erin['project_id']}/users/{rita['id']}/roles/{reader}").status_code == 204
    clouds = yaml.safe_load((cloud.base / "clouds.yaml").read_text())
    mine = clouds["clouds"]["nowhere"]["auth"]
    clouds["clouds"]["frank"] = {"auth": {**mine, "auth_url": cloud.url + "/identity/v3", "username": "frank",
                                          "password": frank["password"], "project_name": "frank"}}
    clouds["clouds"]["rita"] = {"auth": {**mine, "auth_url": cloud.url + "/identity/v3", "username": "rita",
                                         "password": "Secret_123"}}
    (cloud.base / "clouds.yaml").write_text(yaml.safe_dump(clouds))
    out = caas(erin["env"], "cluster", "adopt", shown["id"], code=1, cloud="frank")
    assert out.stderr == f"caas: error: No cluster {shown['id']!r} in the cloud's project {frank['project_id']}: " \
                         "nothing carries its tag (caas-cluster-<id>) or its servers' metadata.\n"
    out = caas(erin["env"], "cluster", "adopt", "p3", code=1, cloud="rita")
    assert out.stderr == "caas: error: You are not authorized to perform the requested action: cluster:create.\n"
    caas(erin["env"], "node", "add", "p3", "-n", "1")
    assert "p3-node002" in [s["name"] for s in erin["client"].get("/compute/v2.1/servers").json()["servers"]]
    # lost again: adopted by its id, with the node the adopted cluster added
    shutil.rmtree(cloud.base / "clients" / "mine")
    adopted = json.loads(caas(erin["env"], "cluster", "adopt", shown["id"], "-f", "json").stdout)
    assert sorted(n["name"] for n in adopted["nodes"]) == ["node001", "node002", "p3-head"]
    assert "adopted from the cloud" in caas(erin["env"], "cluster", "events", "p3").stdout
    caas(erin["env"], "cluster", "delete", "p3")
    assert leftovers(erin["client"]) == {} and everything(admin) == before
    assert credentials(admin, erin["user_id"]) == []


@pytest.mark.parametrize("name, message", [
    ("wrongpw", r"cannot work with cloud 'wrongpw' \(Identity at http://\S+/identity/v3\): its Identity service refused "
                r"the credentials"),
    ("down", r"cannot work with cloud 'down' \(Identity at http://127\.0\.0\.1:\d+/identity/v3\): its Identity service does not "
             r"answer \(Connection refused\)"),
    ("nosuch", r"cannot work with cloud 'nosuch': no such cloud in \S+/clouds\.yaml"),
    ("nowhere", r"cannot work with cloud 'nowhere': Auth plugin requires parameters which were not given: auth_url"),
])
def test_a_cloud_that_cannot_be_used_is_one_line(erin, name, message):
    out = caas(erin["env"], "cluster", "list", code=1, cloud=name)
    assert re.match(f"caas: error: {message}", out.stderr), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_names_and_a_busy_journal(erin, cloud):
    out = caas(erin["env"], "cluster", "list", code=2, cloud="../mine")
    assert "a cloud name here is letters" in out.stderr
    out = caas(erin["env"], "cluster", "adopt", "p1", code=2, cloud=None)
    assert "works with --os-cloud NAME only" in out.stderr
    with hold(cloud.base / "clients" / "mine" / "caas.lock", "pid 1: caas cluster create"):
        out = caas({**erin["env"], "CAAS_CLIENT_LOCK_WAIT": "0.5"}, "cluster", "list", code=1)
    assert out.stderr.splitlines()[-1] == ("caas: error: another caas command is working with the clusters of cloud "
                                           "mine (pid 1: caas cluster create); run this one when it has ended")


def test_a_cloud_without_neutron(erin, admin):
    """Last: the cloud's network service leaves its catalog."""
    service = admin.get("/identity/v3/services", params={"type": "network"}).json()["services"][0]
    assert admin.delete(f"/identity/v3/services/{service['id']}").status_code == 204
    out = caas(erin["env"], "cluster", "list", code=1)
    assert out.stderr.strip() == ("caas: error: cloud 'mine' has no Network (Neutron) service in its catalog: "
                                  "clusters need it")
