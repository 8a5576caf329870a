"""Many cluster creates at once (issue 14, finding 2): the cluster API's handlers call the cloud
APIs of the same process through openstacksdk, so they must never hold the threads the cloud
calls need. 40 and 200 parallel creates against a project allowed 10 instances, on a slow
driver: every request answers (202, a refusal, or 503 with Retry-After when the queue is
full), the cloud keeps answering other requests throughout, the project never holds more than
10 instances, and every cluster that did not fit ends in ERROR with nothing left (or is gone).

Speed is measured in bench/overload.py; here only what must hold."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import httpx
import pytest

from tests.clusters.common import API, BUSY, body, leftovers, set_quota
from tests.conftest import TLS, CaasServer, client_for, issue_token, make_member

# Long enough that a request stuck for good is seen as stuck, never a timing assertion.
STUCK = 60


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # a slow driver: every boot takes a second, so creates overlap with the cluster work
    s = CaasServer(tmp_path_factory.mktemp("caas") / "data", env={"CAAS_FAKE_BOOT_DELAY": "1"}).start()
    yield s
    s.stop()


def _burst(srv: CaasServer, token: str, n: int, prefix: str) -> tuple[list[httpx.Response], list[str]]:
    """``n`` creates at once, while a prober asks for the identity version document and issues
    a token; returns the answers and the prober's failures (each a reason)."""
    stop, failures = threading.Event(), []

    def probe() -> None:
        with httpx.Client(base_url=srv.url, verify=TLS, timeout=STUCK) as c:
            while not stop.is_set():
                try:
                    r = c.get("/identity/v3")
                    if r.status_code != 200:
                        failures.append(f"GET /identity/v3: {r.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(f"GET /identity/v3: {exc!r}")
                time.sleep(0.1)

    def create(i: int) -> httpx.Response:
        with httpx.Client(base_url=srv.url, verify=TLS, timeout=STUCK, headers={"X-Auth-Token": token}) as c:
            return c.post(f"{API}/clusters", json=body(f"{prefix}{i}", 1))

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with cf.ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(create, range(n)))
        # the cloud still issues tokens while the cluster work runs
        issue_token(srv)
    finally:
        stop.set()
        prober.join()
    return answers, failures


def _settle(c: httpx.Client, deadline: float) -> list[dict]:
    while True:
        clusters = c.get(f"{API}/clusters").json()["clusters"]
        if not any(v["status"] in BUSY for v in clusters):
            return clusters
        assert time.monotonic() < deadline, [(v["name"], v["status"], v["step"]) for v in clusters if v["status"] in BUSY]
        time.sleep(0.5)


@pytest.mark.parametrize("n", [40, 200])  # and 100 in bench/overload.py
def test_parallel_creates_never_lock_up_the_api(srv, n):
    with client_for(srv, issue_token(srv)) as admin:
        user = make_member(srv, admin)
        set_quota(admin, user["project_id"], instances=10)
        answers, failures = _burst(srv, user["token"], n, f"p{n}-")
        assert failures == []
        codes = sorted({r.status_code for r in answers})
        assert set(codes) <= {202, 403, 503}, [(r.status_code, r.text[:200]) for r in answers if r.status_code not in
                                               (202, 403, 503)]
        assert 202 in codes
        for r in answers:
            if r.status_code == 503:
                assert int(r.headers["Retry-After"]) > 0 and r.json()["error"]["code"] == 503
            if r.status_code == 403:
                assert r.json()["error"]["shortfalls"]
        with client_for(srv, user["token"]) as c:
            watch_until = time.monotonic() + 600
            peak = 0
            while True:  # the instances never exceed the quota, at any moment we look
                servers = c.get("/compute/v2.1/servers").json()["servers"]
                peak = max(peak, len(servers))
                clusters = c.get(f"{API}/clusters").json()["clusters"]
                if not any(v["status"] in BUSY for v in clusters):
                    break
                assert time.monotonic() < watch_until
                time.sleep(0.3)
            assert peak <= 10
            for v in clusters:  # what did not fit failed and rolled back
                assert v["status"] in ("ACTIVE", "ERROR"), v
                if v["status"] == "ERROR":
                    assert "rolled back" in v["status_reason"], v["status_reason"]
            active = [v for v in clusters if v["status"] == "ACTIVE"]
            assert 1 <= len(active) <= 5  # 1+1 nodes each, 10 instances
            for v in clusters:
                assert c.delete(f"{API}/clusters/{v['id']}").status_code == 202
            _settle(c, time.monotonic() + 300)
            assert c.get(f"{API}/clusters").json()["clusters"] == []
            assert leftovers(c) == {}
