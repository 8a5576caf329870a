#!/usr/bin/env python3
"""Compute v2.1 benchmark: boot latency, boot rates, server lists, the scheduler and memory,
against a private caas with the fake driver (no boot delay); with --nova, the real Nova anchor
side by side.

Prints figures; asserts nothing. Loopback (127.0.0.1) only.

    .venv/bin/python bench/compute.py                   # private caas on SQLite (fresh data dir)
    .venv/bin/python bench/compute.py --database-url postgresql+psycopg://postgres@/bench?host=/tmp/pg
    .venv/bin/python bench/compute.py --nova            # ... and ../shared/anchors/nova, with ratios

A private caas is started as ``caas up --data-dir <tmp> --port <free>`` with
CAAS_PASSWORD_HASH_ROUNDS=4, CAAS_FAKE_BOOT_DELAY=0 and CAAS_FAKE_HOSTS sized so that all the
servers fit (--hosts hosts of 1,024 vCPUs, 1 TiB, 16 TiB each), and stopped with SIGTERM. As
admin, it sets the admin project's compute quota to -1 (instances, cores, ram) and boots flavor
m1.nano (id 42: 1 vCPU, 128 MiB, 1 GB) from the image ``host`` with ``networks: "none"`` (as
the anchor's boot_bench.py does), then measures:

  create->ACTIVE    --rounds x (POST /servers, then GET /servers/{id} with no pause until ACTIVE,
                    then DELETE and GET until 404), one server at a time, taken in turn with a
                    second caas that has --sched-hosts hosts (so that both see the same load);
                    then the same with one NIC on a tenant network (a Neutron port per server)
  50 at once        --burst concurrent POSTs (one connection each), then GET /servers?status=BUILD
                    until none is left; then all deleted at once, until none is listed
  1,000 servers     --servers POSTs from --concurrency clients; the time until all are ACTIVE
  list              GET /servers/detail with 1,000 and with 10,000 servers (median of
                    --list-repeats), following servers_links: caas, as Nova, answers at most
                    max_limit (1,000) servers per request
  RSS               the server's VmRSS/PSS idle, and with 10,000 servers (filled up with
                    multi-creates of 1,000)
  scheduler         pure: caas.compute.scheduler.default_scheduler().select over --sched-hosts
                    HostStates in this process; the server's scheduling step (host snapshot,
                    select, claim) in this process on a caas with --sched-hosts hosts; and the
                    create->ACTIVE of the second caas above

With --nova, the anchor (../shared/anchors/nova/start.sh start, only when it is not already up;
it takes minutes and ~2 GB) and this caas are both measured by the anchor's boot_bench.py, the
same client, and the ratios are printed. Without it, the anchor's reference figures are printed.

The client is a lean one (pre-built HTTP/1.1 requests over raw keep-alive sockets), because
client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from _common import (CaasServer, Conn, build_request, concurrent_requests, cpu_seconds, fmt_mem, interrupt_on_sigterm, issue_token,
                     mem_kib, pct, proc_tree, wait_http)

REPO = Path(__file__).resolve().parent.parent
ANCHORS = REPO.parent / "shared" / "anchors"
PREFIX = "/compute/v2.1"
FLAVOR = "42"  # m1.nano among caas's default flavors: 1 vCPU, 128 MiB, 1 GB

# Targets (fake driver, no boot delay).
ACTIVE_TARGET_MS = 50.0       # create->ACTIVE median
BURST_TARGET_S = 2.0          # 50 servers at once, all ACTIVE
THOUSAND_TARGET_S = 30.0      # 1,000 servers, all ACTIVE
LIST_TARGET_MS = 300.0        # GET /servers/detail with 1,000 servers
SCHED_TARGET_MS = 5.0         # one scheduling decision over 1,000 hosts
RSS_TARGET_MB = 300.0         # server RSS with 10,000 servers

# The Nova anchor's reference figures (../shared/anchors/nova/README.txt, nova 34, fake driver).
NOVA_REF = ("Nova 34 anchor reference (fake driver, 2 CPUs; ../shared/anchors/nova/README.txt): "
            "boot-and-delete median 1.0 s (create->ACTIVE 0.64-0.68 s, poll 0.2 s), 50 at once all ACTIVE "
            "in 34-38 s, 1.7 GB (PSS) idle")


def connect(port: int) -> Conn:
    """A keep-alive connection with room for large lists (long timeout, 1 MiB reads)."""
    return Conn(port, timeout=300.0, recv_size=1 << 20)


def expect(status: int, want: int, data: bytes, what: str) -> dict:
    """The JSON body of an answer that must have status ``want``; exits otherwise."""
    if status != want:
        raise SystemExit(f"{what}: expected {want}, got {status}: {data[:400]!r}")
    return json.loads(data) if data else {}


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def server_errors(port: int) -> int:
    """How many 5xx answers the server has counted (from its /metrics)."""
    with connect(port) as c:
        text = c.call("GET", "/metrics")[2].decode()
    return sum(int(n) for code, n in re.findall(r'code="(\d+)"\} (\d+)', text) if code.startswith("5"))


@contextmanager
def environment(**values: str):
    """``os.environ`` with ``values`` for the block (the private caas inherits it)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def hosts_yaml(count: int, vcpus: int = 1024, memory_mb: int = 1 << 20, local_gb: int = 16384) -> str:
    return json.dumps([{"name": "bench{n:04d}", "count": count, "vcpus": vcpus, "memory_mb": memory_mb,
                        "local_gb": local_gb}])


class Cloud:
    """A private caas as admin: token, project, image id, and the requests the phases reuse."""

    def __init__(self, srv: CaasServer) -> None:
        self.srv = srv
        self.port = srv.port
        c = connect(self.port)
        self.token, doc = issue_token(c, srv.admin_password)
        self.project_id = doc["project"]["id"]
        st, _, d = c.call("PUT", f"{PREFIX}/os-quota-sets/{self.project_id}", self.token,
                          {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
        expect(st, 200, d, "raise the compute quota")
        st, _, d = c.call("GET", "/image/v2/images?name=host", self.token)
        self.image_id = expect(st, 200, d, "find the image 'host'")["images"][0]["id"]
        c.close()

    def conn(self) -> Conn:
        return connect(self.port)

    def boot_request(self, name: str, networks="none", count: int = 1) -> bytes:
        server = {"name": name, "imageRef": self.image_id, "flavorRef": FLAVOR, "networks": networks}
        if count > 1:
            server.update(min_count=count, max_count=count)
        return build_request("POST", f"{PREFIX}/servers", self.port, self.token, {"server": server},
                             headers={"OpenStack-API-Version": "compute 2.37"})

    def get(self, c: Conn, path: str) -> tuple[int, bytes]:
        st, _, d = c.call("GET", PREFIX + path, self.token)
        return st, d

    def delete(self, c: Conn, server_id: str) -> None:
        st, _, d = c.call("DELETE", f"{PREFIX}/servers/{server_id}", self.token)
        if st not in (204, 404):
            raise SystemExit(f"delete server: {st}: {d[:300]!r}")

    def count(self, c: Conn, status: str) -> int:
        """How many of the project's servers are in ``status`` (a list of ids, no details)."""
        st, d = self.get(c, f"/servers?status={status}")
        return len(expect(st, 200, d, f"list {status} servers")["servers"])

    def wait_settled(self, c: Conn, deadline: float, pause: float = 0.02) -> bool:
        """Poll until no server of the project is in BUILD; False at ``deadline``."""
        while time.monotonic() < deadline:
            if self.count(c, "BUILD") == 0:
                return True
            time.sleep(pause)
        return False


# ---- create->ACTIVE, one at a time ---------------------------------------------------------------
def serial_rounds(clouds: list[Cloud], rounds: int, networks="none", timeout: float = 60.0,
                  pause: float = 0.0) -> list[dict]:
    """``rounds`` x (POST -> GET until ACTIVE -> DELETE -> GET until 404), polling with ``pause``
    seconds between GETs (none by default), one server at a time; with several clouds, round by
    round in turn (so that load from elsewhere on the machine hits them alike). One result per
    cloud."""
    conns = [cl.conn() for cl in clouds]
    results = [{"create": [], "gone": [], "polls": [], "errors": []} for _ in clouds]
    perf = time.perf_counter
    for i in range(rounds):
        for cloud, c, res in zip(clouds, conns, results):
            t0 = perf()
            st, _, d = c.request(cloud.boot_request(f"serial-{i}", networks))
            sid = expect(st, 202, d, "create server")["server"]["id"]
            raw = build_request("GET", f"{PREFIX}/servers/{sid}", cloud.port, cloud.token)
            deadline, n, status = time.monotonic() + timeout, 0, "BUILD"
            while time.monotonic() < deadline:
                st, _, d = c.request(raw)
                n += 1
                status = json.loads(d)["server"]["status"] if st == 200 else f"HTTP {st}"
                if status != "BUILD":
                    break
                if pause:
                    time.sleep(pause)
            t1 = perf()
            if status != "ACTIVE":
                res["errors"].append(f"{sid}: {status} {d[:200]!r}")
            res["create"].append(t1 - t0)
            res["polls"].append(n)
            cloud.delete(c, sid)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and c.request(raw)[0] != 404:
                if pause:
                    time.sleep(pause)
            res["gone"].append(perf() - t1)
    for c in conns:
        c.close()
    for res in results:
        res["total"] = sorted(a + b for a, b in zip(res["create"], res["gone"]))
        res["create"].sort()
        res["gone"].sort()
        res["polls"] = statistics.median(res["polls"])
    return results


def serial_line(label: str, r: dict) -> str:
    return (f"create->ACTIVE {label}: median {pct(r['create'], .5):.1f} ms  p95 {pct(r['create'], .95):.1f} ms  "
            f"max {r['create'][-1] * 1000:.1f} ms  ({len(r['create'])} rounds, median {r['polls']:g} GETs each); "
            f"delete->404 median {pct(r['gone'], .5):.1f} ms; boot-and-delete median {pct(r['total'], .5):.1f} ms"
            + (f"  ERRORS {len(r['errors'])}: {r['errors'][0]}" if r["errors"] else ""))


# ---- many at once ----------------------------------------------------------------------------------
def concurrent_posts(cloud: Cloud, n: int, conc: int, prefix: str) -> tuple[float, list[float], dict]:
    """``n`` POSTs from ``conc`` clients (one keep-alive connection each, started together).
    Returns (seconds until the last answer, POST latencies sorted, {status: count} of failures)."""
    took, lat, errors, _ = concurrent_requests(cloud.conn, n, conc, lambda i: cloud.boot_request(f"{prefix}-{i:05d}"),
                                               202)
    return took, sorted(lat), errors


def boot_many(cloud: Cloud, n: int, conc: int, prefix: str, timeout: float) -> dict:
    """``n`` servers from ``conc`` clients; the time until the last POST is answered and until
    no server is in BUILD any more (polled with GET /servers?status=BUILD every 20 ms)."""
    pids = [cloud.srv.pid]
    cpu0 = cpu_seconds(pids)
    t0 = time.perf_counter()
    _, lat, errors = concurrent_posts(cloud, n, conc, prefix)
    posted = time.perf_counter() - t0
    c = cloud.conn()
    settled = cloud.wait_settled(c, time.monotonic() + timeout)
    active_at = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - cpu0
    errored = cloud.count(c, "ERROR")
    c.close()
    return {"posted": posted, "active": active_at if settled else None, "lat": lat, "errors": errors,
            "error_state": errored, "cpu": cpu}


def delete_all(cloud: Cloud, prefix: str, conc: int, timeout: float) -> float | None:
    """Delete the servers named ``prefix-*`` from ``conc`` clients; seconds until none is listed."""
    c = cloud.conn()
    st, d = cloud.get(c, f"/servers?name=%5E{prefix}-")
    ids = [s["id"] for s in expect(st, 200, d, "list servers")["servers"]]
    t0 = time.perf_counter()
    chunks = [ids[i::conc] for i in range(conc)]

    def worker(chunk: list[str]) -> None:
        with cloud.conn() as wc:
            for sid in chunk:
                cloud.delete(wc, sid)

    threads = [threading.Thread(target=worker, args=(ch,), daemon=True) for ch in chunks if ch]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, d = cloud.get(c, f"/servers?name=%5E{prefix}-")
        if not expect(st, 200, d, "list servers")["servers"]:
            c.close()
            return time.perf_counter() - t0
        time.sleep(0.02)
    c.close()
    return None


def fill(cloud: Cloud, total: int, batch: int, timeout: float) -> tuple[int, int, float]:
    """Multi-create (min_count = max_count = ``batch``) until the project has ``total`` servers
    and none is in BUILD. Returns (servers before, servers now, seconds)."""
    c = cloud.conn()
    st, d = cloud.get(c, "/servers")
    have = before = len(expect(st, 200, d, "list servers")["servers"])
    t0 = time.perf_counter()
    i = 0
    while have < total:
        n = min(batch, total - have)
        st, _, d = c.request(cloud.boot_request(f"fill{i:03d}", count=n))
        expect(st, 202, d, f"multi-create {n} servers")
        have += n
        i += 1
        # Let each batch settle before the next, so the queue of builds stays bounded.
        cloud.wait_settled(c, time.monotonic() + timeout, pause=0.1)
    c.close()
    return before, have, time.perf_counter() - t0


# ---- lists -------------------------------------------------------------------------------------
def list_detail(cloud: Cloud, repeats: int, limit: int | None = None) -> tuple[list[float], int, int, int]:
    """``repeats`` timings (after one warm-up) of listing every server in detail: one request
    with no limit, or, with ``limit``, page after page following servers_links. Returns (sorted
    seconds, servers listed, bytes, requests per listing)."""
    c = cloud.conn()

    def once() -> tuple[int, int, int]:
        path, count, size, reqs = "/servers/detail" + (f"?limit={limit}" if limit else ""), 0, 0, 0
        while path:
            st, d = cloud.get(c, path)
            body = expect(st, 200, d, "list servers in detail")
            count += len(body["servers"])
            size += len(d)
            reqs += 1
            nxt = [link["href"] for link in body.get("servers_links", []) if link["rel"] == "next"]
            path = nxt[0].split(PREFIX, 1)[1] if nxt and body["servers"] else None
            if reqs > 1000:
                raise SystemExit("list: more than 1,000 pages; the next links do not end")
        return count, size, reqs

    count, size, reqs = once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    c.close()
    return sorted(times), count, size, reqs


# ---- the scheduler -------------------------------------------------------------------------------
def pure_scheduler(n_hosts: int, decisions: int) -> tuple[float, float, int]:
    """The time per ``select`` over ``n_hosts`` HostStates (varied usage), in this process.
    Returns (median ms, p95 ms, candidates returned)."""
    sys.path.insert(0, str(REPO / "src"))
    from caas.compute.scheduler import HostState, RequestSpec, default_scheduler

    rnd = random.Random(42)
    hosts = []
    for i in range(n_hosts):
        vcpus, mem, disk = 64, 262144, 4096
        hosts.append(HostState(name=f"host{i:04d}", vcpus=vcpus, vcpus_used=rnd.randint(0, 200),
                               memory_mb=mem, memory_mb_used=rnd.randint(0, mem), local_gb=disk,
                               local_gb_used=rnd.randint(0, disk), running_vms=rnd.randint(0, 100),
                               availability_zone="nova"))
    sched = default_scheduler()
    spec = RequestSpec(vcpus=1, memory_mb=2048, disk_gb=20)
    sched.select(hosts, spec)  # warm-up
    times, n = [], 0
    perf = time.perf_counter
    for _ in range(decisions):
        t0 = perf()
        decision = sched.select(hosts, spec)
        times.append(perf() - t0)
        n = len(decision.hosts)
    times.sort()
    return pct(times, .5), pct(times, .95), n


def scheduling_step(n_hosts: int, decisions: int) -> dict | None:
    """The server's own scheduling step, in this process: a caas built in a temporary data dir
    (SQLite) with ``n_hosts`` fake hosts, and ``decisions`` x ``_schedule`` (the host snapshot,
    ``select`` and the claim on the chosen host's locked row, in one write transaction). "cold"
    re-reads the hosts from the database each time; "warm" uses the service's snapshot when it
    keeps one. Milliseconds per decision; None if the service has no ``_schedule``."""
    sys.path.insert(0, str(REPO / "src"))
    import uuid

    from caas.compute.models import Server
    from caas.config import Settings
    from caas.server import prepare

    tmp = tempfile.TemporaryDirectory(prefix="caas-bench-step-")
    data = Path(tmp.name) / "data"
    data.mkdir()
    with environment(CAAS_FAKE_HOSTS=hosts_yaml(n_hosts, vcpus=64, memory_mb=262144, local_gb=4096),
                     CAAS_PASSWORD_HASH_ROUNDS="4"):
        cloud = prepare(Settings(data_dir=data))
    builder = cloud.compute.servers.builder
    try:
        flavor = {"id": FLAVOR, "name": "m1.nano", "vcpus": 1, "ram": 128, "disk": 1, "ephemeral": 0, "swap": 0,
                  "extra_specs": {}}
        forget = cloud.compute.inventory.forget_snapshot
        out = {}
        for mode in ("cold", "warm"):
            times = []
            for i in range(decisions + 3):
                row = Server(id=str(uuid.uuid4()), name=f"step-{i}", vcpus=1, memory_mb=128, disk_gb=1,
                             flavor=flavor, scheduler_hints={}, server_group_id=None, requested_az=None)
                if mode == "cold" and forget is not None:
                    forget()
                with cloud.db.write() as s:
                    t0 = time.perf_counter()
                    fault = builder._schedule(s, row)
                    t1 = time.perf_counter()
                if fault:
                    raise SystemExit(f"scheduling step: {fault}")
                if i >= 3:
                    times.append(t1 - t0)
            times.sort()
            out[mode] = (pct(times, .5), pct(times, .95))
        out["snapshot"] = forget is not None
        return out
    finally:
        cloud.shutdown()
        tmp.cleanup()


# ---- the Nova anchor ---------------------------------------------------------------------------
class NovaAnchor:
    """The Nova anchor of ../shared/anchors/nova, started by its script only if it is down, and
    then stopped at the end, with the Keystone anchor too when that was down before."""

    def __init__(self, anchors: Path) -> None:
        self.dir = anchors / "nova"
        self.keystone_script = anchors / "keystone" / "start.sh"
        self.home = Path(os.environ.get("ANCHOR_HOME", Path.home() / ".cache" / "caas-anchors")) / "nova"
        self.started = False
        self.started_keystone = False

    def start(self) -> None:
        script = self.dir / "start.sh"
        if not script.exists():
            sys.exit(f"no Nova anchor at {script}")
        if wait_http(8774, "/", 200, 0.5):
            print("nova anchor already running on :8774; measuring it as is (not stopping it after)", flush=True)
            return
        self.started_keystone = not wait_http(5000, "/v3", 200, 0.5)
        print(f"starting the Nova anchor ({script} start; the first start builds a venv and takes minutes)...",
              flush=True)
        t0 = time.monotonic()
        r = subprocess.run(["bash", str(script), "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.started = True
        print("\n".join(r.stdout.strip().splitlines()[-8:]), f"({time.monotonic() - t0:.0f}s)", flush=True)
        if r.returncode != 0:
            self.stop()
            sys.exit("the Nova anchor did not start")

    def rss(self) -> str:
        """The anchor's memory, from its rss.py (TOTAL: processes, RSS, PSS)."""
        r = subprocess.run(["bash", str(self.dir / "start.sh"), "rss"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        total = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("TOTAL")]
        if total and len(total[-1]) == 4:
            _, procs, rss, pss = total[-1]
            return f"RSS {float(rss):.0f} MiB, PSS {float(pss):.0f} MiB ({procs} processes, Keystone included)"
        return r.stdout.strip()[-300:] or "?"

    def stop(self) -> None:
        for flag, script in (("started", self.dir / "start.sh"), ("started_keystone", self.keystone_script)):
            if getattr(self, flag):
                r = subprocess.run(["bash", str(script), "stop"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
                last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "stopped"
                print(f"{script.parent.name} anchor: {last}", flush=True)
                setattr(self, flag, False)


def run_boot_bench(clouds_yaml: Path, cloud: str, flavor: str, image: str, iterations: int, burst: int,
                   timeout: float = 900) -> dict:
    """The anchor's boot_bench.py (this venv's openstacksdk) against ``cloud``; its JSON."""
    out = Path(tempfile.mkstemp(prefix="boot-bench-", suffix=".json")[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
    args = [sys.executable, str(ANCHORS / "nova" / "boot_bench.py"), "--cloud", cloud, "--flavor", flavor,
            "--image", image, "--iterations", str(iterations), "--burst", str(burst), "--json", str(out)]
    r = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    try:
        if r.returncode != 0:
            raise SystemExit(f"boot_bench.py against {cloud} failed ({r.returncode}):\n{r.stdout[-3000:]}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def boot_bench_lines(name: str, res: dict) -> list[str]:
    s, b = res.get("serial", {}), res.get("burst", {})
    c, t = s.get("create_to_active", {}), s.get("boot_and_delete", {})
    return [f"{name:<5} boot_bench.py: create->ACTIVE median {c.get('median_s')} s p95 {c.get('p95_s')} s; "
            f"boot-and-delete median {t.get('median_s')} s p95 {t.get('p95_s')} s (poll 0.2 s, "
            f"{s.get('iterations')} rounds, errors {len(s.get('errors', []))}); burst of {b.get('servers')}: "
            f"posted {b.get('all_posted_s')} s, all ACTIVE {b.get('all_active_s')} s, "
            f"gone {b.get('delete_all_gone_s')} s "
            f"(active {b.get('active')}, error {b.get('error_state')})"]


# ---- main --------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100, help="create->ACTIVE rounds (default 100)")
    ap.add_argument("--burst", type=int, default=50, help="servers created at once (default 50)")
    ap.add_argument("--servers", type=int, default=1000, help="servers of the rate phase (default 1000)")
    ap.add_argument("--concurrency", type=int, default=8, help="clients of the rate phase (default 8)")
    ap.add_argument("--total", type=int, default=10000, help="servers for the big list and RSS (default 10000)")
    ap.add_argument("--list-repeats", type=int, default=5, help="lists to take the median of (default 5)")
    ap.add_argument("--hosts", type=int, default=4, help="fake hosts of the main caas (default 4)")
    ap.add_argument("--sched-hosts", type=int, default=1000, help="hosts of the scheduler phases (default 1000)")
    ap.add_argument("--poll", type=float, default=0.0,
                    help="seconds between the status GETs of the create->ACTIVE rounds (default 0: none)")
    ap.add_argument("--database-url", help="run caas on this database instead of SQLite (must be empty)")
    ap.add_argument("--sched-database-url", help="database of the second caas (--sched-hosts); must be empty")
    ap.add_argument("--nova", action="store_true", help="also start and measure the Nova anchor (minutes, ~2 GB)")
    ap.add_argument("--anchors", type=Path, default=ANCHORS, help=f"anchors directory (default {ANCHORS})")
    ap.add_argument("--skip-sched-server", action="store_true", help="skip the second caas (--sched-hosts)")
    args = ap.parse_args()
    if not (1 <= args.rounds <= 10000 and 1 <= args.burst <= 500 and 1 <= args.servers <= 20000
            and 1 <= args.concurrency <= 64 and 1 <= args.total <= 50000 and 1 <= args.hosts <= 10000
            and 1 <= args.sched_hosts <= 10000 and 1 <= args.list_repeats <= 100):
        ap.error("a count is out of its bounds")
    if args.database_url and args.database_url == args.sched_database_url:
        ap.error("the two caas servers need two databases")
    slots = args.hosts * 1024 * 4  # vCPUs x the default cpu_allocation_ratio
    if args.total + args.burst + 100 > slots:
        ap.error(f"--hosts {args.hosts} hold {slots} servers of 1 vCPU; --total needs more")

    interrupt_on_sigterm()
    load0 = os.getloadavg()
    figures: list[str] = []
    srv = sched_srv = nova = None
    timeout = 600.0
    try:
        # ---- the main caas --------------------------------------------------------------------
        srv = CaasServer("caas-bench-compute-", args.database_url)
        with environment(CAAS_FAKE_HOSTS=hosts_yaml(args.hosts), CAAS_FAKE_BOOT_DELAY="0",
                         CAAS_FAKE_FAILURE_RATE="0"):
            srv.start(f"; database {args.database_url}" if args.database_url else " (SQLite)")
        if not args.skip_sched_server:
            sched_srv = CaasServer("caas-bench-sched-", args.sched_database_url)
            with environment(CAAS_FAKE_HOSTS=hosts_yaml(args.sched_hosts, vcpus=64, memory_mb=262144, local_gb=4096),
                             CAAS_FAKE_BOOT_DELAY="0", CAAS_FAKE_FAILURE_RATE="0"):
                sched_srv.start(f" with {args.sched_hosts} fake hosts (64 vCPUs, 256 GiB, 4 TiB each)")
        cloud = Cloud(srv)
        clouds = [cloud] + ([Cloud(sched_srv)] if sched_srv else [])
        pids = proc_tree([srv.pid])
        # A tenant network for the NIC rounds (admin project; a /16 holds every port).
        with cloud.conn() as c:
            st, _, d = c.call("POST", "/network/v2.0/networks", cloud.token, {"network": {"name": "bench"}})
            net = expect(st, 201, d, "create network")["network"]
            st, _, d = c.call("POST", "/network/v2.0/subnets", cloud.token, {"subnet": {
                "network_id": net["id"], "cidr": "10.128.0.0/16", "name": "bench"}})
            expect(st, 201, d, "create subnet")
        serial_rounds(clouds, 10)  # warm-up: imports, caches, the first transactions
        serial_rounds([cloud], 5, [{"uuid": net["id"]}])
        idle = mem_kib(pids)
        print(f"admin project {cloud.project_id}: compute quota -1; {args.hosts} fake hosts "
              f"(1,024 vCPUs, 1 TiB, 16 TiB each); flavor m1.nano (id {FLAVOR}), image host; "
              f"{os.cpu_count()} CPUs shared by client and server; load average before "
              f"{', '.join(f'{x:.2f}' for x in load0)}\nidle: {fmt_mem(idle)}\n", flush=True)

        results = serial_rounds(clouds, args.rounds, pause=args.poll)
        r = results[0]
        line = serial_line(f'(networks "none", {args.hosts} hosts)', r)
        print(line, flush=True)
        med = pct(r["create"], .5)
        figures.append(f"{line}\n    target: create->ACTIVE median < {ACTIVE_TARGET_MS:g} ms -> "
                       f"{verdict(med < ACTIVE_TARGET_MS and not r['errors'])}")
        if sched_srv is not None:
            r2 = results[1]
            line = serial_line(f"over {args.sched_hosts} hosts (a second caas, rounds taken in turn with the "
                               f"first)", r2)
            print(line, flush=True)
            figures.append(f"{line}\n    {args.sched_hosts} hosts instead of {args.hosts}: "
                           f"{pct(r2['create'], .5) - med:+.1f} ms on the median create->ACTIVE")
            errors = server_errors(sched_srv.port)
            figures.append(f"server 5xx answers (the caas with {args.sched_hosts} hosts): {errors}")
            sched_srv.stop()
            sched_srv = None
        r = serial_rounds([cloud], args.rounds, [{"uuid": net["id"]}], pause=args.poll)[0]
        line = serial_line("(one NIC: a Neutron port)", r)
        print(line, flush=True)
        figures.append(line + "   (for scale; no target)")

        b = boot_many(cloud, args.burst, args.burst, "burst", timeout)
        gone = delete_all(cloud, "burst", args.burst, timeout)
        line = (f"{args.burst} at once ({args.burst} concurrent POSTs): all answered in {b['posted']:.2f} s "
                f"(POST p50 {pct(b['lat'], .5):.0f} ms, p95 {pct(b['lat'], .95):.0f} ms), all ACTIVE in "
                f"{b['active']:.2f} s; deleted at once, all gone in {gone:.2f} s; errors {b['errors'] or 0}, "
                f"ERROR state {b['error_state']}" if b["active"] and gone else
                f"{args.burst} at once: did not settle within {timeout:g} s: {b}")
        print(line, flush=True)
        figures.append(f"{line}\n    target: {args.burst} at once all ACTIVE in < {BURST_TARGET_S:g} s -> "
                       f"{verdict(bool(b['active']) and b['active'] < BURST_TARGET_S and not b['error_state'])}")

        # boot_bench.py (the anchor's client) against this caas, only with --nova, while the
        # project has no servers: its polls list the project's servers by name.
        caas_bb = None
        if args.nova:
            print("boot_bench.py against caas (20 rounds, burst 50)...", flush=True)
            caas_bb = run_boot_bench(srv.data_dir / "clouds.yaml", "caas", "m1.nano", "host", 20, 50)
            print("\n".join(boot_bench_lines("caas", caas_bb)), flush=True)

        b = boot_many(cloud, args.servers, args.concurrency, "rate", timeout)
        line = (f"{args.servers} servers from {args.concurrency} clients: all POSTs answered in {b['posted']:.2f} s "
                f"(POST p50 {pct(b['lat'], .5):.1f} ms, p95 {pct(b['lat'], .95):.1f} ms), all ACTIVE in "
                f"{b['active']:.2f} s = {args.servers / b['active']:.0f} servers/s; srv_cpu "
                f"{b['cpu'] / args.servers * 1000:.1f} ms/server; errors {b['errors'] or 0}, ERROR state "
                f"{b['error_state']}" if b["active"] else f"{args.servers} servers: did not settle: {b}")
        print(line, flush=True)
        limit = THOUSAND_TARGET_S * args.servers / 1000
        figures.append(f"{line}\n    target: {args.servers} servers ACTIVE in < {limit:g} s -> "
                       f"{verdict(bool(b['active']) and b['active'] < limit and not b['error_state'])}")

        times, count, size, _ = list_detail(cloud, args.list_repeats)
        med = pct(times, .5)
        line = (f"list {count} servers in detail (GET /servers/detail, no limit, {size / 1024:.0f} KiB): median "
                f"{med:.1f} ms of {args.list_repeats}, min {times[0] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")
        print(line, flush=True)
        figures.append(f"{line}\n    target: a list of 1,000 in detail in < {LIST_TARGET_MS:g} ms -> "
                       f"{verdict(med < LIST_TARGET_MS)}{'' if count == 1000 else f' (listed {count}, not 1,000)'}")

        before, have, took = fill(cloud, args.total, 1000, timeout)
        line = (f"filled to {have} servers with multi-creates of up to 1,000 (min_count=max_count), each left to "
                f"settle: {have - before} in {took:.1f} s = {(have - before) / took:.0f} servers/s")
        print(line, flush=True)
        figures.append(line)
        with cloud.conn() as c:
            errored = cloud.count(c, "ERROR")
        times, count, size, reqs = list_detail(cloud, args.list_repeats)
        line = (f"list {count} servers in detail ({reqs} pages of at most 1,000, Nova's max_limit, following "
                f"servers_links, {size / 1024 / 1024:.1f} MiB): median {pct(times, .5):.0f} ms of "
                f"{args.list_repeats}, min {times[0] * 1000:.0f} ms")
        print(line, flush=True)
        figures.append(line)
        full = mem_kib(proc_tree([srv.pid]))
        rss_mb = full["rss"] / 1024
        line = (f"memory with {have} servers ({errored} in ERROR): {fmt_mem(full)}; "
                f"idle was {idle['rss'] / 1024:.1f} MiB")
        print(line, flush=True)
        figures.append(f"{line}\n    target: RSS < {RSS_TARGET_MB:g} MB with 10,000 servers -> "
                       f"{verdict(rss_mb * 1.048576 < RSS_TARGET_MB)}"
                       f"{'' if have == 10000 else f' (measured with {have})'}")
        errors = server_errors(srv.port)
        figures.append(f"server 5xx answers during the run: {errors}")

        srv.stop()
        srv = None

        # ---- the scheduler ----------------------------------------------------------------------
        med, p95, n = pure_scheduler(args.sched_hosts, 200)
        line = (f"scheduler (pure, in-process): select over {args.sched_hosts} HostStates, every filter and "
                f"weigher: median {med:.2f} ms, p95 {p95:.2f} ms per decision ({n} candidates ranked)")
        print(line, flush=True)
        figures.append(f"{line}\n    target: < {SCHED_TARGET_MS:g} ms per decision at 1,000 hosts -> "
                       f"{verdict(med < SCHED_TARGET_MS)}")
        step = scheduling_step(args.sched_hosts, 200)
        if step is None:
            figures.append("scheduling step with the database: n/a (the compute service has no _schedule)")
        else:
            line = (f"scheduling step inside caas (in-process, SQLite, {args.sched_hosts} hosts: host snapshot + "
                    f"select + claim on the host's locked row): hosts read from the database each time median "
                    f"{step['cold'][0]:.2f} ms, p95 {step['cold'][1]:.2f} ms"
                    + (f"; with the service's host snapshot median {step['warm'][0]:.2f} ms, p95 "
                       f"{step['warm'][1]:.2f} ms" if step["snapshot"] else ""))
            print(line, flush=True)
            best = min(step["cold"][0], step["warm"][0])
            figures.append(f"{line}\n    target: < {SCHED_TARGET_MS:g} ms per decision at 1,000 hosts -> "
                           f"{verdict(best < SCHED_TARGET_MS)}")

        # ---- the Nova anchor ---------------------------------------------------------------------
        if args.nova:
            nova = NovaAnchor(args.anchors)
            nova.start()
            print("boot_bench.py against the Nova anchor (20 rounds, burst 50)...", flush=True)
            nova_bb = run_boot_bench(nova.home / "clouds.yaml", "nova-anchor", "anchor.tiny", "anchor-img", 20, 50)
            nova_rss = nova.rss()
            figures += boot_bench_lines("caas", caas_bb) + boot_bench_lines("nova", nova_bb)
            figures.append(f"nova memory after boot_bench.py: {nova_rss}")

            def ratio(path: tuple[str, ...]) -> str:
                a, b = caas_bb, nova_bb
                for k in path:
                    a, b = (a or {}).get(k), (b or {}).get(k)
                return f"x{a / b:.3f}" if a and b else "n/a"

            figures.append(f"ratios caas/nova (same client): create->ACTIVE median "
                           f"{ratio(('serial', 'create_to_active', 'median_s'))}, boot-and-delete median "
                           f"{ratio(('serial', 'boot_and_delete', 'median_s'))}, 50 at once all ACTIVE "
                           f"{ratio(('burst', 'all_active_s'))}, all gone {ratio(('burst', 'delete_all_gone_s'))}")
        else:
            figures.append(NOVA_REF + " (--nova measures it in this run)")

        figures.append(f"load average (1, 5, 15 min) at the start {', '.join(f'{x:.2f}' for x in load0)}, at the end "
                       f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
        print("\n==== figures " + "=" * 70)
        for f in figures:
            print(f)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        for s in (srv, sched_srv):
            if s is not None:
                s.stop()
                print("caas stopped", flush=True)
        if nova is not None:
            nova.stop()


if __name__ == "__main__":
    main()
