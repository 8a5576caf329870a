"""``caas up --cloud NAME`` with bad clouds: a cloud clouds.yaml does not have, a wrong
password, a Keystone that does not answer, a catalog without a network service. Each is one
line ``caas: error: ...``, exit 1, no traceback, nothing left listening (the real ``caas``
command: the first run a new process, the others forked from a warm one, tests/forkserver.py).
Then a portal (served in this process) whose cloud goes away while it runs: its cluster calls
are 503 in the caas error format, never 500.

The cloud is a caas of its own (a ``caas up`` process, fake driver): its clouds.yaml's cloud
``caas``, copied with the wrong password or a closed port."""

from __future__ import annotations

import socket
import uuid

import pytest
import yaml

from tests.conftest import CaasServer, InProcessServer, client_for, free_port, issue_token, make_member
from tests.forkserver import FirstAnew

RUN = FirstAnew("caas")
PLAN = {"cluster": {"name": "c1", "node_count": 1, "node_flavor": "m1.tiny"}, "dry_run": True}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    srv = CaasServer(tmp_path_factory.mktemp("cloud") / "data").start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def clouds_file(cloud, tmp_path_factory):
    """A clouds.yaml with the cloud as it is (``good``) and as it is not."""
    good = yaml.safe_load((cloud.data_dir / "clouds.yaml").read_text())["clouds"]["caas"]
    bad_password = {**good, "auth": {**good["auth"], "password": "not-" + good["auth"]["password"]}}
    closed = {**good, "auth": {**good["auth"], "auth_url": f"http://127.0.0.1:{free_port()}/identity/v3"}}
    no_project = {**good, "auth": {**good["auth"], "project_name": "no-such-project"}}
    no_auth_url = {**good, "auth": {k: v for k, v in good["auth"].items() if k != "auth_url"}}
    not_identity = {**good, "auth": {**good["auth"], "auth_url": cloud.url + "/compute/v2.1"}}
    path = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"good": good, "badpw": bad_password, "closed": closed,
                                               "noproject": no_project, "noauthurl": no_auth_url,
                                               "notidentity": not_identity}}))
    return path


def refused(tmp_path, clouds_file, name: str) -> str:
    """``caas up --cloud name``'s one-line error, once it has exited 1 leaving nothing listening."""
    import os

    port = free_port()
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_file)}
    out = RUN([*caas(), "up", "--cloud", name, "--data-dir", str(tmp_path / f"d-{uuid.uuid4().hex[:6]}"),
               "--port", str(port)], env, timeout=120)
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr + out.stdout and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("caas: error: "), out.stderr
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "something still listens"
    return lines[0]


def caas() -> list[str]:
    from tests.conftest import caas_command

    return caas_command()


def test_unknown_cloud(tmp_path, clouds_file):
    line = refused(tmp_path, clouds_file, "nosuch")
    assert "'nosuch'" in line and "no such cloud" in line and str(clouds_file) in line


def test_wrong_password_and_unknown_project(tmp_path, clouds_file, cloud):
    line = refused(tmp_path, clouds_file, "badpw")
    assert "refused the credentials" in line and cloud.url in line and "Request-ID" not in line
    assert "password" in line and "not-" not in line  # the password is never said
    line = refused(tmp_path, clouds_file, "noproject")
    assert "refused the credentials" in line and "no-such-project" in line


def test_unreachable_keystone(tmp_path, clouds_file):
    line = refused(tmp_path, clouds_file, "closed")
    assert "does not answer" in line and "Connection refused" in line


def test_no_auth_url_or_one_that_is_no_keystone(tmp_path, clouds_file):
    assert "auth_url" in refused(tmp_path, clouds_file, "noauthurl")
    line = refused(tmp_path, clouds_file, "notidentity")
    assert "is no Identity v3 service" in line and "/compute/v2.1" in line


def test_a_token_revoked_in_the_cloud_while_the_portal_keeps_it_is_the_clouds_401(tmp_path, cloud):
    """The portal still takes the token (its cache), the cloud no longer does: the plan, which
    asks the cloud with it, is the cloud's 401 in the caas format, not a 500."""
    with client_for(cloud, issue_token(cloud)) as admin:
        m = make_member(cloud, admin)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.data_dir / "clouds.yaml"))
        portal = InProcessServer(tmp_path / "portal", portal=True, cluster_cloud="caas").start()
    try:
        with raw_client(portal, m["token"]) as c:
            assert c.post("/caas/v1/clusters", json=PLAN).status_code == 200
            with client_for(cloud, m["token"]) as own:
                assert own.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": m["token"]}).status_code == 204
            r = c.post("/caas/v1/clusters", json=PLAN)
            assert r.status_code == 401 and r.json()["error"]["code"] == 401, r.text
            assert r.json()["error"]["message"].startswith("The cloud refused: 401")
            assert 'code="500"' not in c.get("/metrics").text
    finally:
        portal.stop()


def test_a_catalog_without_a_network_service(tmp_path, clouds_file, cloud):
    """Last: the module's cloud loses its network service (its admin deletes it)."""
    with client_for(cloud, issue_token(cloud)) as admin:
        services = admin.get("/identity/v3/services", params={"type": "network"}).json()["services"]
        assert len(services) == 1
        assert admin.delete(f"/identity/v3/services/{services[0]['id']}").status_code == 204
    line = refused(tmp_path, clouds_file, "good")
    assert "has no Network (Neutron) service in its catalog" in line


def raw_client(srv, token: str):
    """A client of ``srv`` that takes its 503s (client_for fails a test on any 5xx)."""
    import httpx

    return httpx.Client(base_url=srv.url, headers={"X-Auth-Token": token}, transport=srv.transport, timeout=60)


def test_cloud_going_away_while_the_portal_runs_is_503(tmp_path):
    """The cloud's Keystone (and every service of it) stops under a running portal: a token the
    portal has cached and one it has not are both 503 in the caas format, as is a plan."""
    import pytest as _pytest

    emb = CaasServer(tmp_path / "cloud").start()
    try:
        with client_for(emb, issue_token(emb)) as admin:
            m = make_member(emb, admin)
        with _pytest.MonkeyPatch.context() as mp:
            mp.setenv("OS_CLIENT_CONFIG_FILE", str(emb.data_dir / "clouds.yaml"))
            portal = InProcessServer(tmp_path / "portal", portal=True, cluster_cloud="caas").start()
            plan = PLAN
            try:
                with raw_client(portal, m["token"]) as c:
                    assert c.get("/caas/v1/clusters").status_code == 200
                    r = c.post("/caas/v1/clusters", json=plan)
                    assert r.status_code == 200, r.text  # the plan, while the cloud is up
                    assert emb.stop() == 0
                    for method, path, body in (("POST", "/caas/v1/clusters", plan),
                                               ("POST", "/caas/v1/clusters", {"cluster": {"name": "c2"}}),
                                               ("GET", "/caas/v1/profiles", None)):
                        r = c.request(method, path, json=body)
                        assert r.status_code in (200, 503), (path, r.text)
                        if r.status_code == 503:
                            assert r.json()["error"]["code"] == 503 and "\n" not in r.json()["error"]["message"]
                    r = c.post("/caas/v1/clusters", json=plan)
                    assert r.status_code == 503 and r.json()["error"]["title"] == "Service Unavailable", r.text
                    assert r.json()["error"]["message"].endswith(": Connection refused"), r.text
                with raw_client(portal, uuid.uuid4().hex) as c:  # not cached: its validation fails
                    r = c.get("/caas/v1/clusters")
                    assert r.status_code == 503 and "does not answer" in r.json()["error"]["message"], r.text
                    assert 'code="500"' not in c.get("/metrics").text
            finally:
                portal.stop()
    finally:
        emb.stop()


def test_the_anchor_run_skips_clearly_without_the_anchor(tmp_path):
    """bench/anchor_clusters.py: SKIP with the reason, exit 0, when the anchor was never started
    or does not answer (its clouds.yaml naming a closed port)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "anchor_clusters.py"
    env = {**os.environ, "ANCHOR_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("SKIP: no ") and "start.sh start" in out.stdout, out
    (tmp_path / "nova").mkdir()
    (tmp_path / "nova" / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"nova-anchor": {"auth": {
        "auth_url": f"http://127.0.0.1:{free_port()}/v3", "username": "admin", "password": "secret",
        "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}}}}))
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("SKIP: the anchor's cloud 'nova-anchor' does not answer"), out
    assert "Traceback" not in out.stderr
