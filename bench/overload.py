#!/usr/bin/env python3
"""Overload: many cluster creates at once against one project, while a prober times the cloud's
other calls. Prints figures; asserts nothing. Loopback only, bounded in count and time.

    .venv/bin/python bench/overload.py                      # 40, 100 and 200 creates at once
    .venv/bin/python bench/overload.py --sizes 200 --boot-delay 2

A private ``caas up`` (fake driver, CAAS_FAKE_BOOT_DELAY=--boot-delay seconds per boot, so the
cluster work overlaps the creates). For each size: a new project with a member user and a
compute quota of --quota instances; that many POST /caas/v1/clusters (1+1 nodes, m1.nano) at
once, one thread and connection each, with a 60 s client timeout; meanwhile a prober GETs
/identity/v3 every 50 ms and issues a token every 0.5 s. Printed per size: the answers by
status, the creates' latency (median, p95, max), the prober's latency (median, p95, max), the
most instances the project held at any look (every 0.3 s until every cluster settled), how
the clusters ended, and the time until all settled; then every cluster is deleted.

Targets (issue 14): no request hangs past 30 s, GET /identity/v3 within 1 s throughout, the
instances never above the quota.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import statistics
import threading
import time
import uuid

import httpx

from _common import CaasServer, interrupt_on_sigterm

API = "/caas/v1/clusters"
BUSY = ("CREATING", "UPDATING", "DELETING")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def figures(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values) * 1000:.0f} ms, p95 {pct(values, 0.95) * 1000:.0f} ms, " \
           f"max {max(values) * 1000:.0f} ms"


def token(url: str, user: str, password: str, project: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    r = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=60)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def member(admin: httpx.Client, quota: int) -> tuple[str, str]:
    """A new project and user (member on it) with ``quota`` instances: (name, password)."""
    name, password = f"ov{uuid.uuid4().hex[:8]}", "Secret_123"
    project = admin.post("/identity/v3/projects", json={"project": {"name": name}}).json()["project"]
    user = admin.post("/identity/v3/users", json={"user": {"name": name, "password": password}}).json()["user"]
    role = admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"][0]["id"]
    admin.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role}").raise_for_status()
    admin.put(f"/compute/v2.1/os-quota-sets/{project['id']}",
              json={"quota_set": {"instances": quota}}).raise_for_status()
    return name, password


def burst(url: str, tok: str, n: int, admin_password: str) -> dict:
    stop = threading.Event()
    probes: list[float] = []
    tokens: list[float] = []
    probe_errors: list[str] = []

    def prober() -> None:
        last_token = 0.0
        with httpx.Client(base_url=url, timeout=60) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = c.get("/identity/v3")
                    probes.append(time.monotonic() - t0)
                    if r.status_code != 200:
                        probe_errors.append(str(r.status_code))
                except httpx.HTTPError as exc:
                    probe_errors.append(type(exc).__name__)
                if time.monotonic() - last_token > 0.5:
                    last_token = t1 = time.monotonic()
                    try:
                        token(url, "admin", admin_password, "admin")
                        tokens.append(time.monotonic() - t1)
                    except httpx.HTTPError as exc:
                        probe_errors.append(f"token: {exc!r}")
                time.sleep(0.05)

    def create(i: int) -> tuple[int | str, float, str]:
        t0 = time.monotonic()
        try:
            with httpx.Client(base_url=url, timeout=60, headers={"X-Auth-Token": tok}) as c:
                r = c.post(API, json={"cluster": {"name": f"c{i}", "image": "host", "node_count": 1,
                                                  "node_flavor": "m1.nano"}})
                return r.status_code, time.monotonic() - t0, r.headers.get("retry-after", "")
        except httpx.HTTPError as exc:
            return type(exc).__name__, time.monotonic() - t0, ""

    thread = threading.Thread(target=prober)
    thread.start()
    try:
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(create, range(n)))
        answered = time.monotonic() - t0
    finally:
        stop.set()
        thread.join()
    return {"answers": answers, "answered": answered, "probes": probes, "tokens": tokens, "probe_errors": probe_errors}


def settle(c: httpx.Client, limit: float) -> tuple[list[dict], int, float]:
    t0, peak = time.monotonic(), 0
    while True:
        peak = max(peak, len(c.get("/compute/v2.1/servers").json()["servers"]))
        clusters = c.get(API).json()["clusters"]
        if not any(v["status"] in BUSY for v in clusters) or time.monotonic() - t0 > limit:
            return clusters, peak, time.monotonic() - t0
        time.sleep(0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="40,100,200", help="creates at once, comma-separated")
    ap.add_argument("--boot-delay", type=float, default=1.0, help="the fake driver's seconds per boot")
    ap.add_argument("--quota", type=int, default=10, help="the project's instances quota")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for the clusters to settle")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    assert all(1 <= s <= 500 for s in sizes), "sizes from 1 to 500"
    interrupt_on_sigterm()
    os.environ.update(CAAS_DRIVER="fake", CAAS_FAKE_BOOT_DELAY=str(args.boot_delay))
    srv = CaasServer(prefix="caas-bench-overload-")
    srv.start(f"; fake driver, {args.boot_delay:g} s per boot, quota {args.quota} instances")
    url = f"http://127.0.0.1:{srv.port}"
    try:
        with httpx.Client(base_url=url, timeout=60,
                          headers={"X-Auth-Token": token(url, "admin", srv.admin_password, "admin")}) as admin:
            for n in sizes:
                name, password = member(admin, args.quota)
                tok = token(url, name, password, name)
                out = burst(url, tok, n, srv.admin_password)
                codes: dict = {}
                for code, _, _ in out["answers"]:
                    codes[code] = codes.get(code, 0) + 1
                with httpx.Client(base_url=url, timeout=60, headers={"X-Auth-Token": tok}) as c:
                    clusters, peak, took = settle(c, args.timeout)
                    ended: dict = {}
                    for v in clusters:
                        ended[v["status"]] = ended.get(v["status"], 0) + 1
                    print(f"{n} creates at once: answered in {out['answered']:.1f} s; statuses "
                          f"{dict(sorted(codes.items(), key=str))}; latency {figures([a[1] for a in out['answers']])}")
                    print(f"  GET /identity/v3 during the burst ({len(out['probes'])}): {figures(out['probes'])}; "
                          f"token issue ({len(out['tokens'])}): {figures(out['tokens'])}; "
                          f"prober errors {out['probe_errors'] or 'none'}")
                    print(f"  clusters settled {took:.1f} s after the burst: {ended}; most instances seen {peak} "
                          f"(quota {args.quota})")
                    reasons = sorted({v["status_reason"][:160] for v in clusters if v["status"] == "ERROR"})
                    for reason in reasons[:5]:
                        print(f"  ERROR: {reason}")
                    for v in clusters:
                        c.delete(f"{API}/{v['id']}")
                    settle(c, args.timeout)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
