#!/usr/bin/env python3
"""Dashboard benchmark: the time each dashboard page takes to render on a cloud of 100 clusters
and 1,000 servers, against the target of the issue, "each page renders in under 300 ms with 100
clusters and 1,000 servers". Prints figures; asserts nothing. Loopback only.

    .venv/bin/python bench/dashboard.py [--rounds N] [--clusters 100] [--servers 1000]
    .venv/bin/python bench/dashboard.py --nodes 1          # 100 clusters of 1+1, 800 plain servers
    .venv/bin/python bench/dashboard.py --keep             # then leave the server running

A private ``caas up`` (bench/_common.py: a free loopback port, a fresh data dir, bcrypt cost 4)
on the fake driver, never netns: 16 fake hosts of 64 vCPUs, 256 GiB and 4 TiB each (4,096 vCPUs
at the allocation ratio of 4), CAAS_FAKE_BOOT_DELAY=0, no failures, CAAS_CLUSTER_FLAVOR=m1.nano,
and an external network of a /22 (CAAS_EXTERNAL_CIDR): each cluster takes two of its addresses
(its router's gateway and the head's floating IP), and the default /24 would leave little room.

As admin, in the admin project: the compute quota (instances, cores, ram) and the network quota
(ports, networks, subnets, routers, floating IPs, security groups and their rules) are set to -1.
Then --clusters clusters (image ``host``, profile ``base``, m1.nano) are made through
POST /caas/v1/clusters, --parallel at a time, each with --nodes compute nodes (by default as many
as make --servers servers: 100 x (head + 9) = 1,000), and the time until all are ACTIVE is
printed. When the clusters have fewer servers than --servers (e.g. --nodes 1), the rest are
plain servers booted through the Compute API (multi-creates of 100 on a network of their own).
The output says which.

Then it logs in to the dashboard through its login form, as a browser would (GET /dashboard/login
for the csrf_token and the caas_login cookie, POST the form), and GETs each page once to warm up
and then --rounds times (the pages taken in turn in each round): every path of the navigation
(caas.dashboard.pages.NAV, the admin pages included), /dashboard/projects,
/dashboard/clusters/new, /dashboard/clusters/table, one cluster's page and its /live fragment,
one instance's page (/dashboard/project/instances/{id}) and the login page (without a session:
with one it redirects). The time is the client's, from sending the request to the last byte of
the body, over one keep-alive connection. A page that answers 404 on its warm-up does not exist
yet: it is reported as "missing" and not timed. The table shows each page's status, median,
p95 and max in ms, its size, and OK or SLOW (median against 300 ms).

--keep leaves the server running at the end (also after a failure, to look at it) and prints
its URL, admin password and how to stop it; otherwise, and after Ctrl-C or SIGTERM even with
--keep, it is stopped and its temporary directory removed. Every wait is bounded (--timeout).
The figures are the client's on a machine it shares with the server: the load average is
printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field

import httpx

from _common import CaasServer, interrupt_on_sigterm
from clusters import BASE, FLAVOR, Failed, machine, own_session, progress, raise_quotas, server_log_tail
from compute import environment, hosts_yaml
from netns import Cloud

TARGET_MS = 300.0
DASH = "/dashboard"
COMPUTE = "/compute/v2.1"
HOSTS = 16
ENV = {
    "CAAS_DRIVER": "fake", "CAAS_FAKE_HOSTS": hosts_yaml(HOSTS, vcpus=64, memory_mb=262144, local_gb=4096),
    "CAAS_FAKE_BOOT_DELAY": "0", "CAAS_FAKE_FAILURE_RATE": "0", "CAAS_CLUSTER_FLAVOR": FLAVOR,
    "CAAS_EXTERNAL_CIDR": "172.24.0.0/22", "CAAS_TOKEN_TTL": "86400",
}
PLAIN_BATCH = 100      # servers per multi-create
PLAIN_CIDR = "10.98.0.0/20"
POLL = 0.5             # seconds between the looks at what is being built
PROGRESS = 10.0        # a progress line every so many seconds of a wait
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Page:
    path: str
    status: int | None = None                           # of the warm-up
    times: list[float] = field(default_factory=list)   # seconds
    size: int = 0
    changed: int = 0                                    # timed answers whose status was not the warm-up's

    @property
    def missing(self) -> bool:
        return self.status == 404


# ---- the cloud ---------------------------------------------------------------------------------
def make_clusters(cloud: Cloud, count: int, nodes: int, parallel: int, timeout: float) -> tuple[list[dict], float]:
    """``count`` clusters of head + ``nodes``, at most ``parallel`` being built at a time; every
    one ACTIVE (else Failed). Returns (the clusters, the seconds from the first POST until the
    last is ACTIVE)."""
    todo = [f"dash{i:03d}" for i in range(count)]
    building: dict[str, float] = {}   # name -> when it was posted
    done: list[dict] = []
    t0 = time.monotonic()
    report = t0 + PROGRESS
    while todo or building:
        while todo and len(building) < parallel:
            name = todo.pop(0)
            cloud.call("POST", BASE, 202, json={"cluster": {
                "name": name, "image": "host", "profile": "base", "node_count": nodes,
                "node_flavor": FLAVOR, "head_flavor": FLAVOR}})
            building[name] = time.monotonic()
        time.sleep(POLL)
        for name in list(building):
            c = cloud.call("GET", f"{BASE}/{name}", 200)["cluster"]
            if c["status"] == "ERROR":
                raise Failed(f"cluster {name} went to ERROR: {c['status_reason']}")
            if c["status"] == "ACTIVE" and c["operation"] is None:
                done.append(c)
                del building[name]
            elif time.monotonic() - building[name] > timeout:
                raise Failed(f"cluster {name}: not ACTIVE after {timeout:g} s ({progress(c)})")
        now = time.monotonic()
        if now > report:
            print(f"    {len(done)}/{count} clusters ACTIVE after {now - t0:.0f} s", flush=True)
            report += PROGRESS
    return done, time.monotonic() - t0


def list_servers(cloud: Cloud, **query) -> list[dict]:
    """Every server of the project (GET /servers, following servers_links)."""
    out: list[dict] = []
    params = {"limit": 1000, **query}
    while True:
        body = cloud.call("GET", f"{COMPUTE}/servers", 200, params=params)
        out += body["servers"]
        nxt = [link for link in body.get("servers_links", []) if link.get("rel") == "next"]
        if not nxt or not body["servers"]:
            return out
        params = {**params, "marker": body["servers"][-1]["id"]}


def boot_plain(cloud: Cloud, count: int, timeout: float) -> float:
    """``count`` plain servers (m1.nano, image host) on a network of their own, in multi-creates
    of PLAIN_BATCH; the seconds until none is building (an ERROR server stops the benchmark)."""
    net = cloud.call("POST", "/network/v2.0/networks", 201, json={"network": {"name": "plain"}})["network"]["id"]
    cloud.call("POST", "/network/v2.0/subnets", 201, json={"subnet": {
        "network_id": net, "ip_version": 4, "cidr": PLAIN_CIDR, "name": "plain"}})
    image = cloud.call("GET", "/image/v2/images", 200, params={"name": "host"})["images"][0]["id"]
    flavor = next(f["id"] for f in cloud.call("GET", f"{COMPUTE}/flavors", 200)["flavors"] if f["name"] == FLAVOR)
    t0 = time.monotonic()
    for start in range(0, count, PLAIN_BATCH):
        n = min(PLAIN_BATCH, count - start)
        cloud.call("POST", f"{COMPUTE}/servers", 202, json={"server": {
            "name": f"plain{start // PLAIN_BATCH:02d}", "imageRef": image, "flavorRef": flavor,
            "networks": [{"uuid": net}], "min_count": n, "max_count": n}})
    report = t0 + PROGRESS
    while True:
        time.sleep(POLL)
        if errors := list_servers(cloud, status="ERROR"):
            raise Failed(f"{len(errors)} plain servers went to ERROR, e.g. {errors[0]['id']}")
        building = len(list_servers(cloud, status="BUILD"))
        now = time.monotonic()
        if not building:
            return now - t0
        if now - t0 > timeout:
            raise Failed(f"{building} plain servers still building after {timeout:g} s")
        if now > report:
            print(f"    {count - building}/{count} plain servers ACTIVE after {now - t0:.0f} s", flush=True)
            report += PROGRESS


def build_cloud(cloud: Cloud, args: argparse.Namespace) -> tuple[dict, str]:
    """The clusters, then the plain servers that make up --servers; prints what was made.
    Returns (one cluster, one server id)."""
    raise_quotas(cloud)
    print(f"making {args.clusters} clusters of 1+{args.nodes} ({FLAVOR}), {args.parallel} at a time", flush=True)
    clusters, took = make_clusters(cloud, args.clusters, args.nodes, args.parallel, args.timeout)
    in_clusters = args.clusters * (1 + args.nodes)
    print(f"  {args.clusters} clusters of 1+{args.nodes} ({in_clusters} servers) ACTIVE after {took:.1f} s "
          f"({took / max(1, args.clusters):.2f} s per cluster)", flush=True)
    plain = max(0, args.servers - in_clusters)
    if plain:
        print(f"booting {plain} plain servers through the Compute API", flush=True)
        took = boot_plain(cloud, plain, args.timeout)
        print(f"  {plain} plain servers ACTIVE after {took:.1f} s", flush=True)
    servers = list_servers(cloud)
    print(f"the cloud: {len(servers)} servers in the admin project ({in_clusters} in {args.clusters} clusters of "
          f"1+{args.nodes}, {plain} plain servers from the Compute API)", flush=True)
    return clusters[0], servers[0]["id"]


# ---- the dashboard -----------------------------------------------------------------------------
def login(base_url: str, password: str) -> httpx.Client:
    """A browser-like client logged in as admin (project admin) through the login form."""
    client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
    page = client.get(f"{DASH}/login")
    m = CSRF.search(page.text)
    if page.status_code != 200 or not m:
        raise Failed(f"GET {DASH}/login: {page.status_code}, no csrf_token: {page.text[:300]}")
    r = client.post(f"{DASH}/login", data={
        "csrf_token": m.group(1), "username": "admin", "password": password, "project": "admin",
        "domain": "Default", "next": f"{DASH}/clusters"})
    if r.status_code != 303 or r.headers.get("location") != f"{DASH}/clusters":
        raise Failed(f"POST {DASH}/login: {r.status_code} {r.headers.get('location')} {r.text[:300]}")
    return client


def pages_to_time(cluster_id: str, server_id: str) -> list[Page]:
    """The pages, in the navigation's order, then the others; the login page last."""
    from caas.dashboard.pages import NAV

    paths = [DASH + path for _, items in NAV for _, path, _ in items]
    paths += [f"{DASH}/projects", f"{DASH}/clusters/new", f"{DASH}/clusters/table", f"{DASH}/clusters/{cluster_id}",
              f"{DASH}/clusters/{cluster_id}/live", f"{DASH}/project/instances/{server_id}", f"{DASH}/login"]
    return [Page(path) for path in paths]


def timed_get(client: httpx.Client, path: str) -> tuple[int, float, int]:
    """(status, seconds to the body's last byte, body bytes)."""
    t0 = time.perf_counter()
    r = client.get(path)
    body = r.content
    return r.status_code, time.perf_counter() - t0, len(body)


def time_pages(base_url: str, password: str, pages: list[Page], rounds: int) -> None:
    """One warm-up GET of each page (a 404 makes it missing), then ``rounds`` rounds of every
    page that exists, in turn. The login page is fetched without the session's cookie."""
    with contextlib.closing(login(base_url, password)) as session, \
            httpx.Client(base_url=base_url, timeout=60) as anonymous:
        def client_for(page: Page) -> httpx.Client:
            return anonymous if page.path == f"{DASH}/login" else session

        for page in pages:
            page.status, _, page.size = timed_get(client_for(page), page.path)
        present = [p for p in pages if not p.missing]
        for _ in range(rounds):
            for page in present:
                status, seconds, page.size = timed_get(client_for(page), page.path)
                page.changed += status != page.status  # e.g. a 500 now and then, or the session ended (303)
                page.times.append(seconds)


def verdict(page: Page) -> str:
    if page.missing:
        return "missing"
    if page.status != 200 or page.changed:
        return f"FAIL ({page.status}" + (f", then {page.changed} other answers)" if page.changed else ")")
    return "OK" if statistics.median(page.times) * 1000 < TARGET_MS else "SLOW"


def p95(seconds: list[float]) -> float:
    """The 95th percentile in ms (interpolated; with 20 rounds, between the two slowest)."""
    if len(seconds) < 2:
        return seconds[0] * 1000
    return statistics.quantiles(seconds, n=20, method="inclusive")[18] * 1000


def table(pages: list[Page], rounds: int, what: str) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ndashboard pages with {what}: {rounds} rounds after one warm-up; target: median < {TARGET_MS:g} ms "
          f"(load average now {load})")
    width = max(len(p.path) for p in pages)
    print(f"{'page':<{width}} {'status':>6} {'median':>9} {'p95':>9} {'max':>9} {'bytes':>9}  verdict")
    for p in pages:
        if p.missing:
            print(f"{p.path:<{width}} {p.status:>6} {'-':>9} {'-':>9} {'-':>9} {'-':>9}  missing")
            continue
        lat = sorted(p.times)
        print(f"{p.path:<{width}} {p.status:>6} {statistics.median(lat) * 1000:6.1f} ms {p95(lat):6.1f} ms "
              f"{lat[-1] * 1000:6.1f} ms {p.size:>9}  {verdict(p)}")
    verdicts = [verdict(p) for p in pages]
    timed = [p for p in pages if not p.missing]
    slowest = max(timed, key=lambda p: statistics.median(p.times), default=None)
    tail = f"; slowest: {slowest.path} ({statistics.median(slowest.times) * 1000:.1f} ms median)" if slowest else ""
    print(f"summary: {len(pages)} pages, {len(timed)} timed: {verdicts.count('OK')} OK, {verdicts.count('SLOW')} SLOW, "
          f"{sum(v.startswith('FAIL') for v in verdicts)} failed; {verdicts.count('missing')} missing{tail}")


# ---- the run -----------------------------------------------------------------------------------
def keep(srv: CaasServer) -> None:
    """Leave the server and its directory behind when this script exits."""
    srv.tmp._finalizer.detach()  # TemporaryDirectory removes itself at exit otherwise
    print(f"\nkept running: http://127.0.0.1:{srv.port}{DASH} (pid {srv.pid}); "
          f"user admin, password {srv.admin_password}\n  data dir {srv.data_dir}, log {srv.tmp.name}/caas.log\n"
          f"  to stop it: kill {srv.pid}; rm -rf {srv.tmp.name}", flush=True)


def run(args: argparse.Namespace) -> int:
    srv = CaasServer(prefix="caas-bench-dashboard-")
    kept = False
    try:
        with environment(**ENV), own_session():
            srv.start(f" (driver fake, {HOSTS} hosts)")
        print(machine("fake", None), flush=True)
        cloud = Cloud(srv)
        try:
            cluster, server_id = build_cloud(cloud, args)
            pages = pages_to_time(cluster["id"], server_id)
            time_pages(f"http://127.0.0.1:{srv.port}", srv.admin_password, pages, args.rounds)
        except (Failed, SystemExit, httpx.HTTPError) as exc:  # SystemExit: Cloud.call's unexpected answer
            print(f"failed: {exc}\nthe server's last log lines:\n{server_log_tail(srv)}", flush=True)
            status = 1
        else:
            servers = max(args.servers, args.clusters * (1 + args.nodes))
            table(pages, args.rounds, f"{args.clusters} clusters of 1+{args.nodes} and {servers} servers")
            status = 0
        finally:
            cloud.api.close()
        if args.keep:
            keep(srv)
            kept = True
        return status
    finally:
        if not kept:
            srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20, help="timed GETs of each page, after one warm-up (default 20)")
    ap.add_argument("--clusters", type=int, default=100, help="clusters to make (default 100)")
    ap.add_argument("--servers", type=int, default=1000,
                    help="servers in the project at least; plain servers make up what the clusters lack (default 1000)")
    ap.add_argument("--nodes", type=int,
                    help="compute nodes per cluster (default: servers / clusters - 1, at least 1: 9 for 1000 / 100)")
    ap.add_argument("--parallel", type=int, default=8, help="clusters being built at a time (default 8)")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds a cluster, or the plain servers, may take to be ACTIVE (default 600)")
    ap.add_argument("--keep", action="store_true",
                    help="leave the server running at the end and print its URL and admin password")
    args = ap.parse_args()
    if args.nodes is None:
        args.nodes = max(1, args.servers // max(1, args.clusters) - 1)
    if not (1 <= args.rounds <= 1000 and 1 <= args.clusters <= 500 and 0 <= args.servers <= 10000
            and 0 <= args.nodes <= 1000 and 1 <= args.parallel <= 64 and args.timeout > 0):
        ap.error("--rounds 1..1000, --clusters 1..500, --servers 0..10000, --nodes 0..1000, --parallel 1..64, "
                 "--timeout positive")
    interrupt_on_sigterm()
    try:
        status = run(args)
    except KeyboardInterrupt:
        print("interrupted: the server is stopped", flush=True)
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    main()
