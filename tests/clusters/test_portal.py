"""The cluster API of a portal (``caas up --cloud caas``) in front of another caas, "the cloud"
(fake driver), with the tokens of that cloud's users: each user's clusters are made in their
own project with an application credential of theirs (gone with the cluster), nothing in any
other project; another project sees none of them; a token the cloud does not know, or no longer
knows, is refused; bad input is refused as on the embedded API; ``os_cluster`` finds the
portal through the cloud's catalog. The dashboard of a portal: tests/dashboard/test_portal.py;
two clouds with real instances: tests/e2e/test_netns_portal.py."""

from __future__ import annotations

import re
import shutil
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.clusters.common import API, body, create, delete, error, everything, leftovers, wait
from tests.conftest import TLS, CaasServer, client_for, issue_token, make_member, start_portal
from tests.dashboard.common import CSRF, text
from tests.e2e.osc import osc, osc_json
from tests.forkserver import FirstAnew

CACHE = 2  # the portal's CAAS_PORTAL_TOKEN_CACHE, seconds
PORTAL_ENV = {"CAAS_PORTAL_TOKEN_CACHE": str(CACHE)}
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cloud(cloud_and_portal):
    return cloud_and_portal[0]


@pytest.fixture(scope="module")
def portal(cloud_and_portal):
    return cloud_and_portal[1]


@pytest.fixture(scope="module")
def admin(cloud):
    """The cloud's admin, on the cloud (the portal has no admin of its own)."""
    with client_for(cloud, issue_token(cloud)) as c:
        yield c


@pytest.fixture(scope="module")
def ann(cloud, portal, admin):
    """A member of project ann in the cloud: her clients on the portal and on the cloud."""
    m = make_member(cloud, admin, "ann")
    with client_for(portal, m["token"]) as p, client_for(cloud, m["token"]) as c:
        m["portal"], m["cloud"] = p, c
        yield m


@pytest.fixture(scope="module")
def bob(cloud, portal, admin):
    m = make_member(cloud, admin, "bob")
    with client_for(portal, m["token"]) as p:
        m["portal"] = p
        yield m


def credentials(m: dict) -> list[dict]:
    return m["cloud"].get(f"/identity/v3/users/{m['user_id']}/application_credentials").json()[
        "application_credentials"]


def test_a_user_makes_and_deletes_clusters_in_their_own_project(ann, bob, admin):
    before = everything(admin)
    v = create(ann["portal"], "alpha", 2, ready="servers")
    assert v["status"] == "ACTIVE" and v["project_id"] == ann["project_id"] and v["nodes_ready"] == 2, v
    assert [c["name"] for c in ann["portal"].get(f"{API}/clusters").json()["clusters"]] == ["alpha"]
    # in the cloud: ann's servers, and one application credential of hers in her project
    assert sorted(s["name"] for s in ann["cloud"].get("/compute/v2.1/servers").json()["servers"]) == [
        "alpha-head", "alpha-node001", "alpha-node002"]
    creds = credentials(ann)
    assert len(creds) == 1 and creds[0]["project_id"] == ann["project_id"] and not creds[0]["unrestricted"]
    assert "alpha" in creds[0]["name"]
    # everything new in the cloud is ann's
    new = everything(admin) - before
    assert new and {project for _, _, project in new} == {ann["project_id"]}, new
    # the cloud's own cluster service knows nothing of it: the portal keeps its clusters
    assert ann["cloud"].get(f"{API}/clusters").json()["clusters"] == []
    # bob, in another project, sees none of it and touches nothing of it
    p = bob["portal"]
    assert p.get(f"{API}/clusters").json()["clusters"] == []
    for r in (p.get(f"{API}/clusters/{v['id']}"), p.get(f"{API}/clusters/{v['id']}/events"),
              p.get(f"{API}/clusters/{v['id']}/nodes"), p.delete(f"{API}/clusters/{v['id']}"),
              p.post(f"{API}/clusters/{v['id']}/nodes", json={"nodes": {"count": 1}}),
              p.delete(f"{API}/clusters/{v['id']}/nodes/node001"), p.get(f"{API}/clusters/alpha")):
        error(r, 404)
    r = ann["portal"].post(f"{API}/clusters/alpha/nodes", json={"nodes": {"count": 1}})
    assert r.status_code == 202, r.text
    assert wait(ann["portal"], "alpha")["node_count"] == 3
    delete(ann["portal"], "alpha")
    assert leftovers(ann["cloud"]) == {} and credentials(ann) == []
    assert everything(admin) == before


def test_tokens_the_cloud_does_not_know_are_refused(portal, cloud, ann):
    for token in (None, "not-a-token", "x" * 300):
        with client_for(portal, token) as c:
            e = error(c.get(f"{API}/clusters"), 401)
            assert e["message"] == "The request you have made requires authentication."
            error(c.post(f"{API}/clusters", json=body("x")), 401)
    # a token of the portal's own making does not exist: it has no Keystone
    with client_for(portal) as c:
        error(c.post("/identity/v3/auth/tokens", json={}), 404)


def test_a_revoked_token_stops_working(cloud, portal, admin, ann):
    kept = issue_token(cloud, "ann", ann["password"], "ann")
    fresh = issue_token(cloud, "ann", ann["password"], "ann")
    with client_for(portal, kept) as c:
        assert c.get(f"{API}/clusters").status_code == 200  # validated: the portal keeps the answer
    for token in (kept, fresh):
        assert admin.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 204
    with client_for(portal, fresh) as c:  # never seen by the portal: refused at once
        error(c.get(f"{API}/clusters"), 401)
    with client_for(portal, kept) as c:  # seen: refused once the portal's cache of it is over
        deadline = time.monotonic() + CACHE + 10
        while c.get(f"{API}/clusters").status_code == 200:
            assert time.monotonic() < deadline, "a revoked token still works after the portal's cache time"
            time.sleep(0.2)
        error(c.get(f"{API}/clusters"), 401)


@pytest.mark.parametrize("cluster", [
    {}, {"name": 5}, {"name": ""}, {"name": "x;rm -rf /"}, {"name": "$(id)"}, {"name": "a`id`"},
    {"name": "a b"}, {"name": "ok", "node_count": "3"}, {"name": "ok", "node_count": -1},
    {"name": "ok", "node_count": True}, {"name": "ok", "profile": "gpu"}, {"name": "ok", "node_flavor": "nope"},
    {"name": "ok", "node_flavor": "m1.nano;reboot"}, {"name": "ok", "image": "no-such-image"},
    {"name": "ok", "key_name": "nokey"}, {"name": "ok", "unknown": 1}, {"name": "ok", "ready": "ping"},
], ids=lambda c: repr(c)[:40])
def test_create_refusals_are_those_of_the_embedded_api(ann, cluster):
    cluster = {"node_flavor": "m1.nano", **cluster} if "node_flavor" not in cluster else cluster
    error(ann["portal"].post(f"{API}/clusters", json={"cluster": cluster}), 400)
    assert ann["portal"].get(f"{API}/clusters").json()["clusters"] == []


def test_body_shapes_and_unknown_ids(ann):
    p = ann["portal"]
    json_type = {"Content-Type": "application/json"}
    error(p.post(f"{API}/clusters", content=b"{not json", headers=json_type), 400)
    error(p.post(f"{API}/clusters", json=[1, 2]), 400)
    error(p.post(f"{API}/clusters", json={"cluster": "demo"}), 400)
    error(p.post(f"{API}/clusters", json={**body("ok"), "dry_run": "yes"}), 400)
    error(p.post(f"{API}/clusters", content=b"x" * (2 * 1024 * 1024), headers=json_type), 413)
    error(p.post(f"{API}/clusters", content=b"<x/>", headers={"Content-Type": "application/xml"}), 415)
    for path in ("/clusters/nope", "/clusters/nope/events", "/clusters/nope/nodes", "/clusters/" + "f" * 32):
        error(p.get(API + path), 404)
    error(p.delete(f"{API}/clusters/nope"), 404)
    error(p.post(f"{API}/clusters/nope/nodes", json={"nodes": {"count": 1}}), 404)
    assert p.get(f"{API}/clusters").json()["clusters"] == []
    assert leftovers(ann["cloud"]) == {}


def test_the_plan_is_made_with_the_users_rights(ann):
    plan = ann["portal"].post(f"{API}/clusters", json={**body("planned", 2), "dry_run": True})
    assert plan.status_code == 200, plan.text
    assert "planned-node002" in str(plan.json()["plan"])
    error(ann["portal"].get(f"{API}/clusters/planned"), 404)


_RUN = FirstAnew("caas")


def test_os_cluster_finds_the_portal_in_the_clouds_catalog(cloud, portal, ann, tmp_path):
    """The operator points the cloud's ``caas`` entry at the portal; a user with only the
    cloud's OS_* settings (no CAAS_URL) then works with the portal."""
    operator = cloud.os_env()
    endpoint = osc_json(operator, "endpoint", "list", "--service", "caas", "--interface", "public")[0]
    osc(operator, "endpoint", "set", "--url", portal.url + "/caas/v1", endpoint["ID"])
    env = cloud.os_env("ann", ann["password"], "ann")
    env.pop("CAAS_URL", None)
    env["CAAS_CONFIG_DIR"] = str(tmp_path)  # where the CLI saves the cluster's generated key
    exe = shutil.which("os_cluster", path=str(BIN))
    out = _RUN([exe, "create", "viacat", "host", "base", "-n", "1", "--flavor", "m1.nano", "--ready", "servers"],
               env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    v = wait(ann["portal"], "viacat")
    assert v["status"] == "ACTIVE", v
    listed = _RUN([exe, "list"], env, timeout=60)
    assert listed.returncode == 0 and "viacat" in listed.stdout, listed.stdout + listed.stderr
    delete(ann["portal"], "viacat")
    assert leftovers(ann["cloud"]) == {} and credentials(ann) == []


def test_the_banners_user_command_works_verbatim_in_a_new_shell(cloud, portal, ann, tmp_path):
    """The portal's banner tells users what to run with their cloud's openrc sourced: that line,
    as printed, in ``env -i bash`` with only the user's OS_* settings exported."""
    line = next(ln for ln in portal.log_path.read_text().splitlines() if "CAAS_URL=" in ln)
    command = line.split("(or OS_CLOUD): ", 1)[1]
    assert command.startswith(f"CAAS_URL={portal.url} /") and command.endswith("/os_cluster list"), line
    openrc = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in cloud.os_env("ann", ann["password"], "ann").items()
                     if k.startswith("OS_"))
    out = subprocess.run(["env", "-i", f"HOME={tmp_path}", "PATH=/usr/bin:/bin", "bash", "-c", openrc + command],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Floating IP" in out.stdout, out.stdout + out.stderr


def test_a_cloud_that_does_not_answer_is_a_503_saying_so(tmp_path_factory):
    """Its own pair: the portal's 5xx here are the point (the module's pair must give none)."""
    cloud = CaasServer(tmp_path_factory.mktemp("gone") / "data").start()
    portal = start_portal(cloud, tmp_path_factory.mktemp("gone-portal") / "data")
    try:
        token = issue_token(cloud)
        assert cloud.stop() == 0
        with httpx.Client(base_url=portal.url, verify=TLS, timeout=60) as h:
            r = h.get(f"{API}/clusters", headers={"X-Auth-Token": token})
            assert r.status_code == 503, r.text
            message = r.json()["error"]["message"]
            assert message.startswith(f"The cloud's Identity service at {cloud.url}/identity/v3 does not answer")
            assert "\n" not in message
            nonce = CSRF.search(h.get("/dashboard/login").text).group(1)
            r = h.post("/dashboard/login", data={"csrf_token": nonce, "username": "admin", "password": "x",
                                                 "project": "", "domain": "Default"})
            assert r.status_code == 502 and "The cloud's Identity service does not answer" in text(r)
            assert "caas_session=" not in r.headers.get("set-cookie", "")
        counts = dict(re.findall(r'caas_http_responses_total\{code="(5\d\d)"\} (\d+)',
                                 httpx.get(portal.url + "/metrics", verify=TLS).text))
        assert counts == {"502": "1", "503": "1"}  # those two, and no 500
    finally:
        assert portal.stop() == 0
        cloud.stop()
