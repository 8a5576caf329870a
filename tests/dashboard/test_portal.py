"""The dashboard of a portal (``caas up --cloud caas``) in front of another caas, "the cloud"
(fake driver): its users log in with their credentials of that cloud (its Keystone checks
them), the cluster pages list what comes from the portal's /caas and the create form what comes
from the cloud's own Nova and Glance, the cloud's resource pages are not there, and logging out
revokes the token in the cloud and in the portal at once. The login throttle is the portal's."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.clusters.common import API, leftovers, wait
from tests.conftest import TLS, CaasServer, client_for, issue_token, make_member
from tests.dashboard.common import CSRF, Browser, flash, text

INVALID = "Invalid user name, password, domain or project."
REFUSED = "Too many failed logins for this user or from this address. Try again in"
PORTAL_ENV = {"CAAS_LOGIN_USER_FAILURES": "2", "CAAS_LOGIN_ADDRESS_FAILURES": "50", "CAAS_LOGIN_DELAY": "1",
            "CAAS_LOGIN_MAX_DELAY": "2", "CAAS_LOGIN_FORGET": "600"}


@pytest.fixture(scope="module")
def cloud(cloud_and_portal):
    return cloud_and_portal[0]


@pytest.fixture(scope="module")
def portal(cloud_and_portal):
    return cloud_and_portal[1]


@pytest.fixture(scope="module")
def users(cloud):
    """Members of the cloud (not of the portal, which has no users): ann, and bob of another
    project; ann also has a role on a second project, ann2."""
    with client_for(cloud, issue_token(cloud)) as admin:
        ann, bob = make_member(cloud, admin, "ann"), make_member(cloud, admin, "bob")
        second = admin.post("/identity/v3/projects", json={"project": {"name": "ann2"}}).json()["project"]
        assert admin.put(f"/identity/v3/projects/{second['id']}/users/{ann['user_id']}/roles/"
                         f"{ann['role_id']}").status_code == 204
        ann["second"] = second["id"]
        return {"ann": ann, "bob": bob}


def session_token(b: Browser) -> str:
    return b.http.cookies["caas_session"]


def known_to_cloud(cloud: CaasServer, token: str) -> int:
    """The cloud's own answer to a validation of ``token`` (200, or 404 once revoked)."""
    with client_for(cloud, issue_token(cloud)) as admin:
        return admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code


def test_login_with_the_clouds_credentials_shows_clusters_only(portal, cloud, users):
    with Browser(portal) as b:
        b.login("ann", users["ann"]["password"], "ann")
        page = b.get("/dashboard/clusters")
        body = text(page)
        assert "ann" in body and "Project: ann" in body and "This project has no clusters yet." in body
        nav = re.search(r'<nav class="side".*?</nav>', page.text, flags=re.S).group(0)
        assert "/dashboard/clusters" in nav
        for path in ("/project", "/project/instances", "/project/networks", "/admin/projects"):
            assert f'"/dashboard{path}"' not in nav
            assert "There is no such page." in text(b.get("/dashboard" + path, status=404))
        # the session is a token of the cloud's Keystone, for ann in ann
        token = session_token(b)
        with client_for(cloud, token) as c:
            me = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).json()["token"]
        assert me["user"]["name"] == "ann" and me["project"]["id"] == users["ann"]["project_id"]


def test_the_create_form_lists_the_clouds_flavors_images_and_keypairs(portal, cloud, users):
    ann = users["ann"]
    with client_for(cloud, ann["token"]) as c:
        assert c.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "annkey"}}).status_code == 200
    with Browser(portal) as b:
        b.login("ann", ann["password"], "ann")
        new = b.get("/dashboard/clusters/new")
        assert 'value="m1.nano"' in new.text and 'value="host"' in new.text and 'value="annkey"' in new.text
        assert 'name="ready"' in new.text and 'value="servers"' in new.text
        # an unknown cluster: the portal's cluster API's 404
        assert "nosuch" in text(b.get("/dashboard/clusters/nosuch", status=404))


def test_create_and_delete_a_cluster_in_the_users_project(portal, cloud, users):
    ann, bob = users["ann"], users["bob"]
    form = {"name": "web", "node_count": "2", "node_flavor": "m1.nano", "image": "host", "profile": "base",
            "ready": "servers"}
    with Browser(portal) as b, client_for(portal, ann["token"]) as api, client_for(cloud, ann["token"]) as own:
        b.login("ann", ann["password"], "ann")
        b.get("/dashboard/clusters/new")
        plan = b.post("/dashboard/clusters/new", {**form, "action": "plan"}, status=200)
        assert "Plan for cluster web" in text(plan) and 'name="ready" value="servers"' in plan.text
        r = b.post("/dashboard/clusters/new", {**form, "action": "create"}, status=200)
        assert "-----BEGIN" in r.text  # the generated key, shown once
        cid = api.get(f"{API}/clusters/web").json()["cluster"]["id"]
        v = wait(api, cid)
        assert v["status"] == "ACTIVE" and v["ready"] == "servers" and v["nodes_ready"] == 2, v
        assert v["project_id"] == ann["project_id"]
        assert re.search(r"web ● ACTIVE 1 2 of 2 ready", text(b.get("/dashboard/clusters")))
        assert "node002 compute ● ACTIVE" in text(b.get(f"/dashboard/clusters/{cid}"))
        # made in the cloud, in ann's project, with her application credential
        servers = own.get("/compute/v2.1/servers").json()["servers"]
        assert sorted(s["name"] for s in servers) == ["web-head", "web-node001", "web-node002"]
        creds = own.get(f"/identity/v3/users/{ann['user_id']}/application_credentials").json()
        assert [c["project_id"] for c in creds["application_credentials"]] == [ann["project_id"]]
        # bob's dashboard shows none of it, and his post on its id is refused as unknown
        with Browser(portal) as other:
            other.login("bob", bob["password"], "bob")
            assert "This project has no clusters yet." in text(other.get("/dashboard/clusters"))
            other.get(f"/dashboard/clusters/{cid}", status=404)
        b.get(f"/dashboard/clusters/{cid}/delete")
        r = b.post(f"/dashboard/clusters/{cid}/delete", {"confirm": "web"})
        assert "Deleting cluster web." in flash(b.follow(r))
        assert wait(api, cid) is None
        assert leftovers(own) == {}
        assert own.get(f"/identity/v3/users/{ann['user_id']}/application_credentials").json()[
            "application_credentials"] == []


def test_switching_project_works_in_the_cloud_and_drops_the_old_token(portal, cloud, users):
    ann = users["ann"]
    with Browser(portal) as b:
        b.login("ann", ann["password"], "ann")
        old = session_token(b)
        projects = text(b.get("/dashboard/projects"))
        assert "ann2" in projects and "current" in projects
        r = b.post("/dashboard/projects", {"project_id": ann["second"]})
        assert "Now working in project ann2." in flash(b.follow(r))
        assert session_token(b) != old and known_to_cloud(cloud, old) == 404
        with client_for(portal, old) as c:
            assert c.get(f"{API}/clusters").status_code == 401


def test_logout_revokes_the_token_in_the_cloud_and_the_portal_at_once(portal, cloud, users):
    ann = users["ann"]
    with Browser(portal) as b:
        b.login("ann", ann["password"], "ann")
        token = session_token(b)
        with client_for(portal, token) as c:
            assert c.get(f"{API}/clusters").status_code == 200  # validated: now in the portal's cache
        b.get("/dashboard/clusters")
        r = b.post("/dashboard/logout")
        assert r.headers["location"] == "/dashboard/login?bye=1"
        assert known_to_cloud(cloud, token) == 404
        with client_for(portal, token) as c:  # within the cache's 30 s: refused all the same
            r = c.get(f"{API}/clusters")
            assert r.status_code == 401 and r.json()["error"]["code"] == 401
        # the old cookie, sent again, is no session
        b.http.cookies.set("caas_session", token, path="/dashboard")
        r = b.http.get("/dashboard/clusters")
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")


def attempt(portal: CaasServer, source: str, user: str, password: str, status: int) -> httpx.Response:
    """One login post from ``source``; asserts its status and that only a 303 starts a session."""
    with httpx.Client(base_url=portal.url, verify=TLS, transport=httpx.HTTPTransport(local_address=source)) as h:
        nonce = CSRF.search(h.get("/dashboard/login").text).group(1)
        r = h.post("/dashboard/login", data={"csrf_token": nonce, "username": user, "password": password,
                                             "project": "", "domain": "Default"})
    assert r.status_code == status, (user, r.status_code, text(r)[:500])
    assert ("caas_session=" in r.headers.get("set-cookie", "")) == (status == 303)
    return r


def test_wrong_password_is_refused_with_the_clouds_meaning_and_throttled(portal, users):
    ann = users["ann"]
    assert INVALID in text(attempt(portal, "127.0.0.21", "ann", "wrong", 401))
    assert INVALID in text(attempt(portal, "127.0.0.21", "nobody", "wrong", 401))  # unknown: alike
    assert INVALID in text(attempt(portal, "127.0.0.21", "ann", "wrong", 401))
    r = attempt(portal, "127.0.0.21", "ann", ann["password"], 429)  # the right password waits too
    assert REFUSED in text(r) and r.headers["retry-after"] in ("1", "2")
    attempt(portal, "127.0.0.22", "bob", users["bob"]["password"], 303)  # bob, elsewhere, is not held


def test_the_portal_serves_no_cloud_api(portal, users):
    """The portal's dashboard reaches the cloud itself; the portal does not proxy it."""
    with client_for(portal, users["ann"]["token"]) as c:
        for path in ("/identity/v3/auth/tokens", "/compute/v2.1/servers", "/image/v2/images"):
            r = c.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == 404


def test_a_user_with_no_project_is_told_so(portal, cloud):
    with client_for(cloud, issue_token(cloud)) as admin:
        r = admin.post("/identity/v3/users", json={"user": {"name": "noproj", "password": "Secret_123"}})
        assert r.status_code == 201, r.text
    r = attempt(portal, "127.0.0.23", "noproj", "Secret_123", 403)
    assert "You have no role on any project." in text(r)
