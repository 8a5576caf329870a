"""The dashboard's login, session and guards, over HTTP against a real caas (SQLite and
PostgreSQL): every page needs a session, every form its CSRF token; the token lives in an
HttpOnly SameSite cookie, logout and project switch revoke it, nothing redirects off-site."""

from __future__ import annotations

import re

import pytest

from tests.conftest import client_for, issue_token, make_member
from tests.dashboard.common import CSRF, Browser, flash, text

PAGES = ["/dashboard/clusters", "/dashboard/clusters/new", "/dashboard/clusters/table", "/dashboard/project",
         "/dashboard/project/instances", "/dashboard/admin/users", "/dashboard/projects", "/dashboard/nowhere"]


@pytest.fixture(scope="module")
def api(server):
    with client_for(server, issue_token(server)) as c:
        yield c


@pytest.fixture(scope="module")
def dora(server, api):
    """A member of two projects, dora and dora-b."""
    m = make_member(server, api, "dora")
    other = api.post("/identity/v3/projects", json={"project": {"name": "dora-b"}}).json()["project"]
    r = api.put(f"/identity/v3/projects/{other['id']}/users/{m['user_id']}/roles/{m['role_id']}")
    assert r.status_code == 204
    m["other_project_id"] = other["id"]
    return m


def token_valid(api, token: str) -> bool:
    r = api.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(server, path):
    with Browser(server) as b:
        r = b.http.get(path)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/dashboard/login?next=%2Fdashboard%2F")
        login = b.get(r.headers["location"])
        assert 'name="password"' in login.text and 'type="password"' in login.text


def test_root_and_posts_without_a_session(server):
    with Browser(server) as b:
        assert b.http.get("/dashboard").headers["location"] == "/dashboard/clusters"
        r = b.http.post("/dashboard/clusters/new", data={"name": "x", "action": "create"})
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")
        # the page's own refresh gets 401, so that its script reloads into the login
        assert b.http.get("/dashboard/clusters/table", headers={"X-Caas-Partial": "1"}).status_code == 401
        b.http.cookies.set("caas_session", "gAAAA-not-a-token", path="/dashboard")
        assert b.http.get("/dashboard/clusters").status_code == 303


# What each asks GET / for: the browsers' address bars (Chromium's, as tests/e2e sends it, and
# Firefox's) want HTML; keystoneauth's version discovery sends application/json, curl, requests
# and httpx */*; the last two name both, or nothing.
BROWSERS = ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
            "application/signed-exchange;v=b3;q=0.7",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"]
CLIENTS = ["application/json", "*/*", "application/json, text/html", "text/html;q=0.5, application/json",
           "text/html;q=nan, */*", "text/html;q=2, */*;q=0.9", ""]


def test_root_sends_a_browser_to_the_dashboard_and_clients_json(server):
    with Browser(server) as b:
        for accept in BROWSERS:
            r = b.http.get("/", headers={"Accept": accept})
            assert (r.status_code, r.headers["location"]) == (303, "/dashboard"), accept
            assert r.headers["vary"] == "Accept"
        for accept in CLIENTS:
            request = b.http.build_request("GET", "/", headers={"Accept": accept})
            if not accept:
                del request.headers["accept"]
            r = b.http.send(request)
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), accept
            assert r.json()["services"]["compute"] == f"{server.url}/compute" and r.headers["vary"] == "Accept"
    # keystoneauth itself (as the openstack CLI with the root as its auth_url): the JSON, which
    # it then reads as no version document
    from keystoneauth1 import discover, exceptions, session
    with pytest.raises(exceptions.DiscoveryFailure, match='Bad version data returned: {"name": ?"caas"'):
        discover.get_version_data(session.Session(), server.url + "/")


def test_login_sets_an_httponly_samesite_cookie(server):
    with Browser(server) as b:
        r = b.login()
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("caas_session=gAAAA")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
        page = b.get("/dashboard/clusters")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
        # the token is never written into the page (scripts could not read it from the cookie either)
        assert b.http.cookies["caas_session"] not in page.text
        assert "Admin" in text(page) and "/dashboard/admin/hypervisors" in page.text


def test_wrong_credentials_missing_fields_and_forged_login(server):
    with Browser(server) as b:
        page = b.get("/dashboard/login")
        nonce = CSRF.search(page.text).group(1)
        form = {"csrf_token": nonce, "username": "admin", "password": "wrong", "project": "admin"}
        r = b.post("/dashboard/login", form, status=401, csrf=False)
        assert "Invalid user name, password, domain or project." in text(r)
        assert "caas_session" not in r.headers.get("set-cookie", "")
        r = b.post("/dashboard/login", {**form, "password": ""}, status=400, csrf=False)
        assert "User name and password are required." in text(r)
        r = b.post("/dashboard/login", {**form, "project": "no-such-project", "password": server.admin_password},
                   status=401, csrf=False)
        assert "caas_session" not in r.headers.get("set-cookie", "")
        # a login form posted from elsewhere: no token, or another browser's
        r = b.post("/dashboard/login", {**form, "csrf_token": "", "password": server.admin_password}, status=403,
                   csrf=False)
        assert "CSRF" in text(r) and "caas_session" not in r.headers.get("set-cookie", "")
        with Browser(server) as other:
            r = other.post("/dashboard/login", {**form, "password": server.admin_password}, status=403, csrf=False)
        r = b.post("/dashboard/login", {**form, "username": "x" * 300, "password": "p"}, status=400, csrf=False)
        assert "at most 255" in text(r)
        r = b.http.post("/dashboard/login", data={"csrf_token": nonce, "username": "a" * 70000, "password": "p"})
        assert r.status_code == 413


def test_names_with_metacharacters_are_escaped(server):
    with Browser(server) as b:
        nonce = CSRF.search(b.get("/dashboard/login").text).group(1)
        evil = "x;$(id)'\"<b>bold</b>"
        r = b.post("/dashboard/login", {"csrf_token": nonce, "username": evil, "password": "p", "project": evil},
                   status=401, csrf=False)
        assert "<b>bold</b>" not in r.text and "&lt;b&gt;bold&lt;/b&gt;" in r.text


HOME = "/dashboard/clusters"
# (next, where the login sends the browser): never off the dashboard's path, however spelled
NEXT = [("https://evil.example/", HOME), ("//evil.example", HOME), ("///evil.example", HOME),
        ("/dashboard/project", "/dashboard/project"), ("/dashboard/../../x", HOME), ("/dashboard/..", HOME),
        ("/dashboard/%2e%2e/%2E%2E/identity/v3", HOME), ("/dashboard/..%2f..%2fx", HOME),
        ("/dashboard/%252e%252e/x", HOME), ("/dashboard/%25252525252e%25252525252e/x", HOME),
        ("/dashboard/..\\..\\x", HOME), ("/\\evil.example", HOME), ("/dashboard/%5c%5cevil.example", HOME),
        ("\\\\evil.example", HOME), ("/dashboard/\tx", HOME), ("/dashboard/%0d%0aSet-Cookie:x=1", HOME),
        ("\x00/dashboard/project", HOME), (" //evil.example", HOME), ("javascript:alert(1)", HOME),
        ("http:/dashboard/project", HOME), ("/dashboard", HOME), ("/dashboardx/y", HOME), ("/identity/v3", HOME),
        ("/dashboard/./project/../clusters/new", "/dashboard/clusters/new"),
        ("/dashboard//evil.example", "/dashboard/evil.example"),
        ("/dashboard/clusters?page=2#top", "/dashboard/clusters?page=2"),
        ("/dashboard/project?a=%0d%0ab c", "/dashboard/project?a=%0d%0ab%20c")]


def test_next_never_leaves_the_dashboard(server):
    with Browser(server) as b:
        for target, lands in NEXT[:3]:  # through the login post
            nonce = CSRF.search(b.get("/dashboard/login").text).group(1)
            r = b.post("/dashboard/login", {"csrf_token": nonce, "username": "admin", "password": server.admin_password,
                                            "project": "admin", "next": target}, csrf=False)
            assert r.headers["location"] == lands
            b.http.cookies.clear()
        for target, lands in NEXT:  # the login form's hidden field, without a session
            page = b.get("/dashboard/login", next=target)
            assert f'name="next" value="{lands}"' in page.text, target
        b.login()
        for target, lands in NEXT:  # the login page with a session sends the browser on at once
            r = b.http.get("/dashboard/login", params={"next": target})
            assert r.status_code == 303 and r.headers["location"] == lands, (target, r.headers.get("location"))


def test_blank_project_takes_the_first(server, dora):
    with Browser(server) as b:
        b.login("dora", dora["password"], project=None)
        page = b.get("/dashboard/clusters")
        assert re.search(r"Project: <strong>dora(-b)?</strong>", page.text)
        assert "/dashboard/admin/" not in page.text  # a member sees no admin section
        assert b.get("/dashboard/admin/users", status=403)


def test_forms_without_their_csrf_token_are_refused(server, api):
    with Browser(server) as b, Browser(server) as other:
        b.login()
        other.login()
        for token in (None, "", other.csrf, b.csrf[:-1] + ("1" if b.csrf.endswith("0") else "0")):
            data = {} if token is None else {"csrf_token": token}
            r = b.post("/dashboard/logout", data, status=403, csrf=False)
            assert "CSRF" in text(r)
        assert token_valid(api, b.http.cookies["caas_session"])  # nothing was done
        b.get("/dashboard/clusters")


def test_oversized_and_unreadable_posts(server):
    with Browser(server) as b:
        b.login()
        r = b.post("/dashboard/logout", {"filler": "x" * 70000}, status=413)
        assert "larger than 64 KiB" in text(r)
        r = b.http.post("/dashboard/logout", content=b"--x\r\nbroken", headers={
            "Content-Type": "multipart/form-data; boundary=x"})
        assert r.status_code in (400, 403)
        assert b.get("/dashboard/clusters")


def test_logout_revokes_the_token(server, api):
    with Browser(server) as b:
        b.login()
        token = b.http.cookies["caas_session"]
        assert token_valid(api, token)
        r = b.post("/dashboard/logout")
        assert r.headers["location"] == "/dashboard/login?bye=1"
        assert 'caas_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
        assert "You are logged out." in text(b.get(r.headers["location"]))
        assert not token_valid(api, token)
        b.http.cookies.set("caas_session", token, path="/dashboard")  # replaying the old cookie
        assert b.http.get("/dashboard/clusters").status_code == 303


def test_a_token_revoked_elsewhere_ends_the_session(server, api):
    with Browser(server) as b:
        b.login()
        token = b.http.cookies["caas_session"]
        assert api.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 204
        r = b.http.get("/dashboard/clusters")
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")


def test_switch_project(server, api, dora):
    with Browser(server) as b:
        b.login("dora", dora["password"], "dora")
        page = b.get("/dashboard/projects")
        assert "dora-b" in text(page) and "current" in text(page)
        old = b.http.cookies["caas_session"]
        r = b.post("/dashboard/projects", {"project_id": dora["other_project_id"]})
        assert r.headers["location"] == "/dashboard/clusters"
        page = b.follow(r)
        assert "Now working in project dora-b." in flash(page)
        assert "Project: <strong>dora-b</strong>" in page.text
        assert not token_valid(api, old) and token_valid(api, b.http.cookies["caas_session"])
        # a project the user has no role on: the API's refusal, and the session stays as it was
        admin_project = api.get("/identity/v3/projects", params={"name": "admin"}).json()["projects"][0]["id"]
        page = b.follow(b.post("/dashboard/projects", {"project_id": admin_project}))
        assert flash(page).startswith("Error:") and "Project: <strong>dora-b</strong>" in page.text
        page = b.follow(b.post("/dashboard/projects", {"project_id": ""}))
        assert "Choose a project." in flash(page)


def test_a_forged_flash_is_not_shown(server):
    with Browser(server) as b:
        b.login()
        b.http.cookies.set("caas_flash", "WyJvayIsICJmb3JnZWQiXQ==.0000", path="/dashboard")
        assert "forged" not in b.get("/dashboard/clusters").text


def test_unknown_pages_are_404_and_static_assets_are_served(server):
    with Browser(server) as b:
        b.login()
        r = b.get("/dashboard/nowhere", status=404)
        assert "There is no such page." in text(r)
        css = b.http.get("/dashboard/static/dashboard.css")
        js = b.http.get("/dashboard/static/dashboard.js")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        assert js.status_code == 200 and "data-refresh" in js.text
        # no asset from elsewhere: every URL in the page is the dashboard's own
        page = b.get("/dashboard/clusters").text
        assert not re.search(r'(?:src|href)="(?:https?:)?//', page)
