"""What a new user runs, verbatim, in a new shell (``env -i bash``: no virtualenv on PATH, no
OS_* variables) against a real ``caas up`` (fake driver, SQLite) whose data dir is the default
one, ``~/.local/share/caas`` of a throwaway HOME: the banner's ``try:`` line, the missing
default flavor's advice, ``scripts/demo`` (what ``scripts/run`` runs once caas answers: the
seed's m1.xsmall and the demo cluster, reused on a second run), and the README's commands for
a new shell. The clients come from the test's virtualenv, as they come from .venv for a user."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CaasServer, client_for, issue_token, make_member

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Home:
    path: Path
    srv: CaasServer


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A HOME whose default data dir runs a caas."""
    path = tmp_path_factory.mktemp("home")
    (path / ".local" / "share").mkdir(parents=True)
    srv = CaasServer(path / ".local" / "share" / "caas", env={"CAAS_DRIVER": "fake"})
    srv.env.pop("CAAS_CLUSTER_FLAVOR", None)  # the default, m1.xsmall, which a fresh cloud does not have
    srv.start()
    yield Home(path, srv)
    errors = srv.server_errors()
    assert srv.stop() == 0 and errors == 0


def new_shell(home: Home, script: str, code: int = 0) -> str:
    """Runs ``script`` in ``env -i bash -c`` from the repository's root with only HOME set (and
    PYTHONPATH when the tests run with one: it points the clients at the sources under test,
    as the editable install does for a user); its output (stdout and stderr)."""
    env = ["HOME=" + str(home.path)] + (["PYTHONPATH=" + os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    out = subprocess.run(["env", "-i", *env, "bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == code, f"{script}: exit {out.returncode}, not {code}\n{text}"
    return text


def test_the_main_install_provides_the_openstack_cli():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"python-openstackclient\b", d) for d in deps)


def test_a_new_shell_has_no_clients_until_the_openrc(home):
    assert "command not found" in new_shell(home, "openstack --version", code=127)


def test_the_banners_try_line_works_verbatim(home):
    banner = home.srv.log_path.read_text()
    line = re.search(r"^  try: (.+)$", banner, re.M).group(1)
    assert line == f". {home.path}/.local/share/caas/admin-openrc && openstack token issue"
    out = new_shell(home, line)
    assert re.search(r"\| project_id +\| [0-9a-f]{32} ", out) and "| expires " in out


def test_the_missing_default_flavor_says_what_to_do(home):
    out = new_shell(home, ". ~/.local/share/caas/admin-openrc && os_cluster create demo host base -n 3", code=1)
    assert "No flavor 'm1.xsmall' (the default for clusters, CAAS_CLUSTER_FLAVOR)." in out
    assert "Choose one of this cloud's flavors with --flavor NAME: m1.nano, m1.micro, cirros256, " in out
    assert ("Or have an admin create it, as the seed does: openstack flavor create --vcpus 1 --ram 1024 --disk 10 "
            "--ephemeral 10 --public m1.xsmall.") in out
    assert out.count("No flavor") == 1
    with client_for(home.srv, issue_token(home.srv)) as admin:
        assert admin.get("/caas/v1/clusters").json()["clusters"] == []


def test_scripts_demo_makes_the_seed_flavor_and_the_demo_cluster(home):
    out = new_shell(home, "scripts/demo")
    assert "demo: the cloud has no m1.xsmall, the default flavor of cluster nodes; creating it" in out
    assert "demo: os_cluster create demo host base -n 3" in out
    assert "no SSH into the demo cluster: the fake driver's instances run nothing" in out
    assert re.search(r"\| demo +\|.*ACTIVE", out), out
    with client_for(home.srv, issue_token(home.srv)) as admin:
        flavors = admin.get("/compute/v2.1/flavors/detail").json()["flavors"]
        xsmall = next(f for f in flavors if f["name"] == "m1.xsmall")
        assert (xsmall["vcpus"], xsmall["ram"], xsmall["disk"], xsmall["OS-FLV-EXT-DATA:ephemeral"]) == (1, 1024, 10, 10)
        demo = admin.get("/caas/v1/clusters/demo").json()["cluster"]
        assert demo["status"] == "ACTIVE" and demo["node_flavor"] == "m1.xsmall"


def test_scripts_demo_again_reuses_the_demo_cluster(home):
    out = new_shell(home, "scripts/demo")
    assert "demo: reusing the demo cluster (ACTIVE; os_cluster delete demo removes it)" in out
    assert "creating it" not in out and "os_cluster create" not in out


def test_the_readmes_new_shell_commands_work_verbatim(home):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"Then, in a new shell .*?```sh\n(.*?)```", readme, re.S).group(1)
    lines = block.strip().splitlines()
    assert lines[0] == ". ~/.local/share/caas/admin-openrc"
    # The fake driver's instances run no sshd: every line but the SSH, in one shell, as typed.
    script = "set -e\n" + "\n".join(line for line in lines if not line.startswith("caas cluster ssh"))
    out = new_shell(home, script)
    assert re.search(r"\| name +\| demo2 ", out) and re.search(r"\| status +\| ACTIVE ", out), out
    assert "cluster demo2 deleted" in out
    with client_for(home.srv, issue_token(home.srv)) as admin:
        assert [c["name"] for c in admin.get("/caas/v1/clusters").json()["clusters"]] == ["demo"]


def test_a_named_missing_flavor_lists_only_the_callers_flavors(home):
    """Through the API, as a member: no mention of the default or of the seed's command for a
    flavor the caller named; another project's private flavor is not offered."""
    with client_for(home.srv, issue_token(home.srv)) as admin:
        r = admin.post("/compute/v2.1/flavors", json={"flavor": {"name": "private.big", "ram": 64, "vcpus": 1,
                                                                 "disk": 1, "os-flavor-access:is_public": False}})
        assert r.status_code == 200, r.text
        m = make_member(home.srv, admin)
    with client_for(home.srv, m["token"]) as member:
        r = member.post("/caas/v1/clusters", json={"cluster": {"name": "x", "node_count": 1, "node_flavor": "m1.huge"}})
        assert r.status_code == 400
        assert r.json()["error"]["message"] == (
            "No flavor 'm1.huge'. Choose one of this cloud's flavors with --flavor NAME: m1.nano, m1.micro, "
            "cirros256, ds512M, m1.tiny, ds1G, m1.xsmall, ds2G, m1.small, ds4G, m1.medium, m1.large and 1 more.")
        assert member.get("/caas/v1/clusters").json()["clusters"] == []
