"""``identity.remote.RemoteTokens``, a portal's validation of another cloud's Keystone tokens,
against a real caas Keystone (a ``caas up`` process: RemoteTokens calls it over HTTP): each
kind of token becomes the caller it stands for (project, domain, application credential,
trust); unknown, malformed, expired and revoked tokens are Unauthorized (revoked: after
``forget``, or once the cache time has passed, read on a clock the test moves); a Keystone
that does not answer, answers 500 or answers what is no token is ServiceUnavailable in one
line; the cache is bounded. Then the portal's ``/caas/v1`` (served in this process) answers
the same as 401 in the caas error format.

A Keystone that answers 500 or nonsense is the one thing no caas can be made to do: a small
HTTP server of this module plays it (the other cloud is a true external boundary)."""

from __future__ import annotations

import http.server
import threading
import time
import uuid

import pytest

from caas.errors import ServiceUnavailable, Unauthorized
from caas.identity.remote import RemoteTokens
from tests.conftest import InProcessServer, client_for, free_port, issue_token, make_member

T = "/identity/v3/auth/tokens"


class Clock:
    """A monotonic clock the test moves by hand (the cache's times are read on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def member(server, admin) -> dict:
    return make_member(server, admin)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(server, clock):
    t = RemoteTokens(server.url + "/identity/v3", cache_seconds=30, clock=clock)
    yield t
    t.close()


def keystone_says(server, token: str) -> dict:
    """The token body the cloud's Keystone itself gives."""
    with client_for(server, token) as c:
        r = c.get(T, headers={"X-Subject-Token": token})
        assert r.status_code == 200, r.text
        return r.json()["token"]


def revoke(server, token: str) -> None:
    with client_for(server, token) as c:
        assert c.delete(T, headers={"X-Subject-Token": token}).status_code == 204


def test_project_token_is_its_callers_context(server, member, tokens):
    ctx = tokens.validate(member["token"])
    body = keystone_says(server, member["token"])
    assert (ctx.user.id, ctx.user.name) == (member["user_id"], member["name"])
    assert ctx.user_domain.id == "default" and ctx.project_domain.id == "default"
    assert (ctx.project.id, ctx.project.name) == (member["project_id"], member["name"])
    assert ctx.domain is None and ctx.app_cred is None and ctx.trust is None and not ctx.system
    assert {r.name for r in ctx.roles} == {r["name"] for r in body["roles"]} and "member" in {r.name for r in ctx.roles}
    assert ctx.token_id == member["token"]


def test_domain_token_is_a_domain_context(server, tokens):
    ctx = tokens.validate(issue_token(server, project=None, domain="default"))
    assert ctx.project is None and ctx.domain.id == "default" and "admin" in {r.name for r in ctx.roles}


def _app_cred_token(server, member, **fields) -> tuple[dict, str]:
    with client_for(server, member["token"]) as c:
        r = c.post(f"/identity/v3/users/{member['user_id']}/application_credentials",
                   json={"application_credential": {"name": f"ac-{uuid.uuid4().hex[:8]}", **fields}})
        assert r.status_code == 201, r.text
        ac = r.json()["application_credential"]
        r = c.post(T, json={"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
            "id": ac["id"], "secret": ac["secret"]}}}})
        assert r.status_code == 201, r.text
    return ac, r.headers["X-Subject-Token"]


def test_application_credential_token_carries_it_with_its_flag_and_rules(server, member, tokens):
    rules = [{"service": "caas", "method": "GET", "path": "/v1/clusters"},
             {"service": "compute", "method": "POST", "path": "/v2.1/servers/*/action"}]
    ac, token = _app_cred_token(server, member, access_rules=rules)
    ctx = tokens.validate(token)
    assert (ctx.app_cred.id, ctx.app_cred.name, ctx.app_cred.unrestricted) == (ac["id"], ac["name"], False)
    assert {(r.service, r.method, r.path) for r in ctx.app_cred.access_rules} == {
        (r["service"], r["method"], r["path"]) for r in rules}
    assert all(r.id for r in ctx.app_cred.access_rules)
    assert ctx.project.id == member["project_id"] and ctx.user.id == member["user_id"]
    free, token = _app_cred_token(server, member, unrestricted=True)
    ctx = tokens.validate(token)
    assert ctx.app_cred.id == free["id"] and ctx.app_cred.unrestricted and ctx.app_cred.access_rules is None


def test_trust_token_carries_its_trust(server, admin, member, tokens):
    trustee = make_member(server, admin)
    with client_for(server, member["token"]) as c:
        r = c.post("/identity/v3/OS-TRUST/trusts", json={"trust": {
            "trustor_user_id": member["user_id"], "trustee_user_id": trustee["user_id"], "impersonation": False,
            "project_id": member["project_id"], "roles": [{"name": "member"}]}})
        assert r.status_code == 201, r.text
        trust = r.json()["trust"]
        r = c.post(T, json={"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": trustee["user_id"], "password": trustee["password"]}}}, "scope": {"OS-TRUST:trust": {"id": trust["id"]}}}})
        assert r.status_code == 201, r.text
    ctx = tokens.validate(r.headers["X-Subject-Token"])
    assert ctx.trust.id == trust["id"] and not ctx.trust.impersonation
    assert (ctx.trust.trustor_id, ctx.trust.trustee_id) == (member["user_id"], trustee["user_id"])
    assert ctx.user.id == trustee["user_id"] and ctx.project.id == member["project_id"]
    assert [r.name for r in ctx.roles] == ["member"]


@pytest.mark.parametrize("token", [
    "gAAAAAB" + "x" * 180,  # shaped as a fernet token, unknown
    "0123456789abcdef" * 2, "garbage", "", " ", "a b", " leading", "é", "token\x00", "x" * 9000, "x; rm -rf / $(id)",
])
def test_unknown_and_malformed_tokens_are_unauthorized(tokens, token):
    with pytest.raises(Unauthorized):
        tokens.validate(token)
    assert len(tokens) == 0  # a refusal is not cached


def test_expired_token_is_unauthorized_even_when_cached(tmp_path, clock):
    from tests.conftest import CaasServer

    short = CaasServer(tmp_path / "short", env={"CAAS_TOKEN_TTL": "4"}).start()
    try:
        with client_for(short) as c:
            r = c.post(T, json={"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": short.admin_password}}},
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        token = r.headers["X-Subject-Token"]
        tokens = RemoteTokens(short.url + "/identity/v3", cache_seconds=3600, clock=clock)
        assert tokens.validate(token).project.name == "admin"  # cached for at most its last 4 s
        while keystone_valid(short, token):
            time.sleep(0.2)  # until its Keystone says it is over (no assertion on the time)
        clock.now += 5
        with pytest.raises(Unauthorized):
            tokens.validate(token)
        tokens.close()
    finally:
        assert short.stop() == 0


def keystone_valid(server, token: str) -> bool:
    with client_for(server, token) as c:
        return c.get(T, headers={"X-Subject-Token": token}).status_code == 200


def test_revoked_token_is_refused_after_forget(server, admin, tokens):
    token = make_member(server, admin)["token"]
    tokens.validate(token)
    revoke(server, token)
    assert tokens.validate(token).token_id == token  # still the cached answer: the cache time has not passed
    tokens.forget(token)
    with pytest.raises(Unauthorized):
        tokens.validate(token)


def test_revoked_token_is_refused_once_the_cache_time_has_passed(server, admin, tokens, clock):
    token = make_member(server, admin)["token"]
    tokens.validate(token)
    revoke(server, token)
    clock.now += 29.9
    tokens.validate(token)  # cached
    clock.now += 0.2
    with pytest.raises(Unauthorized):
        tokens.validate(token)


def test_the_cache_is_bounded_least_recently_used_first(server, member, clock):
    tokens = RemoteTokens(server.url + "/identity/v3", cache_max=3, clock=clock)
    minted = [issue_token(server, member["name"], member["password"], member["name"]) for _ in range(4)]
    for token in minted:
        tokens.validate(token)
    assert len(tokens) == 3
    tokens.validate(minted[1])  # used again: the least recently used is now minted[2]
    tokens.validate(minted[0])  # asked again (it had gone), which pushes minted[2] out
    for token in minted:
        revoke(server, token)
    for token in (minted[0], minted[1], minted[3]):
        assert tokens.validate(token).token_id == token  # kept: the cloud is not asked
    with pytest.raises(Unauthorized):
        tokens.validate(minted[2])  # gone from the cache: the cloud says it is revoked
    tokens.close()


def test_keystone_that_does_not_answer_is_service_unavailable_in_one_line():
    url = f"http://127.0.0.1:{free_port()}/v3"
    tokens = RemoteTokens(url)
    with pytest.raises(ServiceUnavailable) as caught:
        tokens.validate(uuid.uuid4().hex)
    message = caught.value.message
    assert "\n" not in message and url in message and "does not answer" in message and len(message) < 400


class _Nonsense(http.server.BaseHTTPRequestHandler):
    """A Keystone that answers a token validation with ``answers[path]`` (status, body)."""

    answers: dict[str, tuple[int, bytes]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        status, body = self.answers[self.path.split("/v3")[0]]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def nonsense():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Nonsense)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


FAR = "2999-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("status,body", [
    (500, b'{"error": {"code": 500, "message": "boom"}}'),
    (502, b"<html>Bad Gateway</html>"),
    (200, b"<html>not json</html>"),
    (200, b"[1, 2]"),
    (200, b'{"token": "abc"}'),
    (200, b'{"nottoken": {}}'),
    (200, b'{"token": {"user": "abc", "expires_at": "' + FAR.encode() + b'"}}'),
    (200, b'{"token": {"user": {"id": "u"}, "roles": "member", "expires_at": "' + FAR.encode() + b'"}}'),
    (200, b'{"token": {"user": {"id": "u"}, "project": {"id": "p"}, "application_credential": '
          b'{"id": "a", "access_rules": [1, "x"]}, "expires_at": "' + FAR.encode() + b'"}}'),
])
def test_keystone_answering_500_or_nonsense_is_service_unavailable(nonsense, status, body):
    key = f"/k{uuid.uuid4().hex[:8]}"
    _Nonsense.answers[key] = (status, body)
    tokens = RemoteTokens(nonsense + key + "/v3")
    try:
        tokens.validate(uuid.uuid4().hex)
    except ServiceUnavailable as exc:
        assert "\n" not in exc.message and nonsense + key in exc.message
    else:
        # An answer caas can read as a token is a caller; what is not one never is a crash.
        assert status == 200 and b"application_credential" in body
    finally:
        tokens.close()


# ---- the portal's /caas/v1 ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def portal(server, tmp_path_factory):
    """A portal of the caas ``server`` (its clouds.yaml's cloud ``caas``), served in this process."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", str(server.data_dir / "clouds.yaml"))
        srv = InProcessServer(tmp_path_factory.mktemp("portal") / "data", portal=True, cluster_cloud="caas").start()
        yield srv
        assert srv.server_errors() == 0
        srv.stop()


def caas_error(r, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == status and error["title"] and "\n" not in error["message"]
    return error["message"]


def test_portal_answers_unknown_missing_and_revoked_tokens_401(server, admin, portal):
    m = make_member(server, admin)
    with client_for(portal, m["token"]) as c:
        assert c.get("/caas/v1/clusters").json() == {"clusters": []}
        assert c.get("/caas/v1/profiles").status_code == 200
        revoke(server, m["token"])
        assert c.get("/caas/v1/clusters").status_code == 200  # cached, as keystonemiddleware would
        portal.cloud.tokens.forget(m["token"])
        caas_error(c.get("/caas/v1/clusters"), 401)
    for headers in ({}, {"X-Auth-Token": uuid.uuid4().hex}, {"X-Auth-Token": "x" * 9000}):
        with client_for(portal) as c:
            caas_error(c.get("/caas/v1/clusters", headers=headers), 401)
            caas_error(c.post("/caas/v1/clusters", headers=headers, json={"cluster": {"name": "c"}}), 401)


def test_portal_serves_only_the_cluster_api(server, portal):
    with client_for(portal, issue_token(server)) as c:
        assert c.get("/healthz").status_code == 200
        for path in (T, "/compute/v2.1/servers", "/network/v2.0/networks", "/image/v2/images"):
            assert c.get(path).status_code == 404, path


def test_portal_keeps_an_application_credentials_access_rules(server, admin, portal):
    m = make_member(server, admin)
    _, allowed = _app_cred_token(server, m, access_rules=[{"service": "caas", "method": "GET", "path": "/v1/clusters"}])
    _, elsewhere = _app_cred_token(server, m, access_rules=[{"service": "compute", "method": "GET",
                                                             "path": "/v2.1/servers"}])
    with client_for(portal, allowed) as c:
        assert c.get("/caas/v1/clusters").json() == {"clusters": []}
        caas_error(c.get("/caas/v1/profiles"), 401)  # no rule for it
    with client_for(portal, elsewhere) as c:
        caas_error(c.get("/caas/v1/clusters"), 401)
