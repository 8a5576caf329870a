"""The dashboard login's throttle, over HTTP against a real caas with short waits: after 3
failures a user name waits (even the right password is refused with 429 and Retry-After), the
wait doubles, a success resets it; a client address gets 8 failures over all names; unknown
names are throttled as known ones are; the address is the socket peer, whatever
X-Forwarded-For says, unless the peer is a proxy named in CAAS_TRUSTED_PROXIES. Each test logs in from its own loopback address (127.0.0.x), so that the
address budgets of the tests are apart. The throttle itself: tests/identity/test_throttle.py."""

from __future__ import annotations

import time

import pytest

from tests.conftest import CaasServer, client_for, issue_token, make_member
from tests.dashboard.common import CSRF, Browser, text

PROXY = "127.0.0.9"  # a reverse proxy the operator names: its X-Forwarded-For is believed
THROTTLE = {"CAAS_LOGIN_USER_FAILURES": "3", "CAAS_LOGIN_ADDRESS_FAILURES": "8", "CAAS_LOGIN_DELAY": "1",
            "CAAS_LOGIN_MAX_DELAY": "2", "CAAS_LOGIN_FORGET": "600", "CAAS_TRUSTED_PROXIES": PROXY}
REFUSED = "Too many failed logins for this user or from this address. Try again in"
INVALID = "Invalid user name, password, domain or project."


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A caas (SQLite: the throttle is in memory, whatever the database) with short waits."""
    srv = CaasServer(tmp_path_factory.mktemp("caas") / "data", env=THROTTLE).start()
    yield srv
    errors = srv.server_errors()
    srv.stop()
    assert errors == 0, f"the server answered {errors} requests with a 5xx; see {srv.log_path}"


@pytest.fixture(scope="module")
def users(srv):
    """Three members, dora, eve and frank."""
    with client_for(srv, issue_token(srv)) as api:
        return {name: make_member(srv, api, name) for name in ("dora", "eve", "frank")}


def attempt(b: Browser, user: str, password: str, status: int, **headers):
    """One login post from ``b``'s address; asserts its status and that only a 303 starts a session."""
    nonce = CSRF.search(b.get("/dashboard/login").text).group(1)
    r = b.http.post("/dashboard/login", headers=headers, data={
        "csrf_token": nonce, "username": user, "password": password, "project": "", "domain": "Default"})
    assert r.status_code == status, (user, r.status_code, text(r)[:500])
    assert ("caas_session=gAAAA" in r.headers.get("set-cookie", "")) == (status == 303)
    if status == 401:
        assert INVALID in text(r)
    b.http.cookies.clear()
    return r


def refused(b: Browser, user: str, password: str, wait: int, **headers) -> str:
    """A login refused by the throttle: 429, Retry-After ``wait`` and the message saying it."""
    r = attempt(b, user, password, 429, **headers)
    assert r.headers["retry-after"] == str(wait)
    seconds = f"{wait} second{'s' if wait > 1 else ''}"
    assert f"{REFUSED} {seconds}." in text(r)
    assert 'name="password"' in r.text and r.headers["cache-control"] == "no-store"
    return text(r)


def test_wrong_passwords_then_even_the_right_one_waits(srv, users):
    dora = users["dora"]
    with Browser(srv, source="127.0.0.2") as b:
        for _ in range(3):
            attempt(b, "dora", "wrong", 401)
        refused(b, "dora", dora["password"], 1)  # the right password: not even tried
        refused(b, "dora", "wrong", 1)           # the same answer: it tells nothing
        time.sleep(1)
        attempt(b, "dora", "wrong", 401)  # the fourth failure: the wait doubles
        refused(b, "dora", dora["password"], 2)
        time.sleep(2)
        attempt(b, "dora", dora["password"], 303)
        b.http.cookies.clear()
        # the success forgot dora's failures: two more are free again
        attempt(b, "dora", "wrong", 401)
        attempt(b, "dora", "wrong", 401)
        attempt(b, "dora", dora["password"], 303)


def test_the_address_budget_is_shared_by_every_name_from_it(srv, users):
    eve = users["eve"]
    with Browser(srv, source="127.0.0.3") as b, Browser(srv, source="127.0.0.4") as elsewhere:
        for _ in range(3):
            attempt(b, "mallory", "guess", 401)
        refused(b, "mallory", "guess", 1)
        # another user from the same address is not locked by mallory's failures...
        attempt(b, "eve", "wrong", 401)
        attempt(b, "eve", "wrong", 401)
        # ... until the address has had its 8: then every name waits there, and the header a
        # client writes makes it no other address
        for _ in range(3):
            attempt(b, "trent", "guess", 401)
        refused(b, "eve", eve["password"], 1)
        refused(b, "eve", eve["password"], 1, **{"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7"})
        # from elsewhere eve, two failures short of her limit, logs in
        attempt(elsewhere, "eve", eve["password"], 303)


def test_unknown_names_are_throttled_as_known_ones(srv, users):
    pages = {}
    for name, source in (("frank", "127.0.0.5"), ("nobody", "127.0.0.8")):
        with Browser(srv, source=source) as b:
            for _ in range(3):
                attempt(b, name, "wrong", 401)
            pages[name] = refused(b, name, "wrong", 1)
    assert pages["frank"].replace("frank", "NAME") == pages["nobody"].replace("nobody", "NAME")
    with Browser(srv, source="127.0.0.6") as b:
        # names differing only in case share a budget (no fresh guesses from "DORA")
        for name in ("Trudy", "TRUDY", "trudy"):
            attempt(b, name, "wrong", 401)
        refused(b, "trudy", "wrong", 1)


def test_refusals_before_the_password_count_nothing(srv, users):
    """A forged or incomplete form tries no password, so it counts against no budget."""
    with Browser(srv, source="127.0.0.7") as b:
        nonce = CSRF.search(b.get("/dashboard/login").text).group(1)
        for _ in range(10):
            assert b.http.post("/dashboard/login", data={"csrf_token": "forged", "username": "dora",
                                                         "password": "x"}).status_code == 403
            assert b.http.post("/dashboard/login", data={"csrf_token": nonce, "username": "dora",
                                                         "password": ""}).status_code == 400
        b.http.cookies.clear()
        attempt(b, "dora", users["dora"]["password"], 303)


def test_forwarded_headers_make_no_other_address(srv, users):
    """Not even from 127.0.0.1, where uvicorn trusts X-Forwarded-For unless told otherwise:
    each guess claiming another address still counts against the socket's."""
    with Browser(srv, source="127.0.0.1") as b:
        for i in range(8):
            attempt(b, f"guess{i}", "wrong", 401, **{"X-Forwarded-For": f"198.51.100.{i}",
                                                      "Forwarded": f"for=198.51.100.{i}"})
        refused(b, "dora", users["dora"]["password"], 1, **{"X-Forwarded-For": "198.51.100.99"})


def test_behind_a_trusted_proxy_the_client_is_the_one_it_names(srv, users):
    """CAAS_TRUSTED_PROXIES: the proxy's clients each have their own address budget."""
    with Browser(srv, source=PROXY) as proxy:
        for i in range(8):
            attempt(proxy, f"guess{i}", "wrong", 401, **{"X-Forwarded-For": "198.51.100.50"})
        refused(proxy, "eve", users["eve"]["password"], 1, **{"X-Forwarded-For": "198.51.100.50"})
        attempt(proxy, "eve", users["eve"]["password"], 303, **{"X-Forwarded-For": "198.51.100.51"})
