#!/usr/bin/env python3
"""Identity v3 token benchmark: caas (and, with --keystone, the real Keystone anchor side by side).

Prints figures; asserts nothing. Loopback (127.0.0.1) only.

    python bench/identity.py                     # start a private caas, measure it, stop it
    python bench/identity.py --keystone          # ... and the Keystone anchor, with ratios
    python bench/identity.py --url http://127.0.0.1:5000/v3/auth/tokens --password secret [--pid PID]

For each target it measures, bounded by --seconds (default 10) and --max-requests per
measurement:

  issue     POST <tokens URL>  password method, project-scoped to admin    (expects 201)
  validate  GET  <tokens URL>  X-Auth-Token: admin token, X-Subject-Token: another token (200)

at 1 and 4 concurrent clients (--concurrency), with requests/s, p50/p95/p99 latency, errors,
the server's CPU time per request, the client's own CPU use, and the server's memory after the
load (VmRSS and peak VmHWM from /proc/<pid>/status, summed over the server's process tree;
PSS too, which does not double-count pages shared between forked uWSGI processes).

The client is deliberately lean, because client and server share the machine's cores: one
thread per connection, each sending a pre-built HTTP/1.1 request over a keep-alive raw socket
and parsing just the response's head and body framing (``Conn`` of bench/_common.py). The same
client measures caas and Keystone, so the ratios are fair.

A private caas is started as ``caas up --data-dir <tmp> --port <free>`` with
CAAS_PASSWORD_HASH_ROUNDS=4 (bcrypt cost 4, as in the Keystone anchor) and stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from _common import (HOST, TOKENS_PATH, CaasServer, Conn, build_request, cpu_seconds, fmt_mem,
                     interrupt_on_sigterm, mem_kib, password_auth, pct, proc_tree, wait_http)

REPO = Path(__file__).resolve().parent.parent
ANCHORS = REPO.parent / "shared" / "anchors"
KEYSTONE_URL = "http://127.0.0.1:5000/v3/auth/tokens"
KEYSTONE_PASSWORD = "secret"


# ---- the requests ------------------------------------------------------------------------------
class Target:
    """A tokens URL on 127.0.0.1 and the pre-built requests against it."""

    def __init__(self, name: str, url: str, password: str, user: str = "admin", project: str = "admin") -> None:
        u = urlsplit(url)
        if u.scheme != "http" or u.hostname != HOST:
            sys.exit(f"refusing {url!r}: this benchmark talks to http://127.0.0.1 only")
        self.name = name
        self.url = url
        self.port, self.path = u.port or 80, u.path or "/"
        self.issue_req = build_request("POST", self.path, self.port, body=password_auth(password, user, project))
        self.validate_req = b""
        self.pids: list[int] = []      # roots of the server's process tree, for memory and CPU
        self.extra_pids: dict[str, int] = {}  # reported separately (e.g. memcached)

    def conn(self) -> Conn:
        """A new keep-alive connection to the server."""
        return Conn(self.port)

    def issue_token(self, c: Conn) -> str:
        """A token from the pre-built issue request."""
        status, headers, body = c.request(self.issue_req)
        if status != 201:
            raise RuntimeError(f"{self.name}: token issue answered {status}: {body[:300]!r}")
        return headers["x-subject-token"]

    def prepare(self) -> None:
        """Build the validate request: an admin token checking another token."""
        c = self.conn()
        admin_tok = self.issue_token(c)
        subject_tok = self.issue_token(c)
        c.close()
        self.validate_req = build_request("GET", self.path, self.port, admin_tok,
                                          headers={"X-Subject-Token": subject_tok})

    def raw(self, mode: str) -> tuple[bytes, int]:
        """The request of ``mode`` (issue or validate) and the status it expects."""
        return (self.issue_req, 201) if mode == "issue" else (self.validate_req, 200)


# ---- a measurement -----------------------------------------------------------------------------
@dataclass
class Result:
    target: str
    mode: str
    conc: int
    n: int = 0
    errors: int = 0
    elapsed: float = 0.0
    lat: list[float] = field(default_factory=list)
    err_kinds: Counter = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    reconnects: int = 0

    @property
    def rate(self) -> float:
        return self.n / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        return pct(self.lat, q)

    def line(self) -> str:
        cpu_req = (self.server_cpu / self.n * 1000) if self.n else float("nan")
        kinds = f" {dict(self.err_kinds)}" if self.err_kinds else ""
        return (f"{self.target:<8} {self.mode:<8} c={self.conc}: {self.rate:8.1f}/s  n={self.n:<6d} "
                f"err={self.errors:<3d} p50={self.pct(.5):7.1f}ms p95={self.pct(.95):7.1f}ms "
                f"p99={self.pct(.99):7.1f}ms  srv_cpu={cpu_req:5.2f}ms/req "
                f"srv_util={self.server_cpu / self.elapsed * 100 if self.elapsed else 0:4.0f}% "
                f"client_util={self.client_cpu / self.elapsed * 100 if self.elapsed else 0:3.0f}%"
                f"{' reconnects=%d' % self.reconnects if self.reconnects else ''}{kinds}")


def measure(t: Target, mode: str, conc: int, seconds: float, max_requests: int) -> Result:
    raw, expect = t.raw(mode)
    res = Result(t.name, mode, conc)
    lock = threading.Lock()
    issued = [0]
    conns = [t.conn() for _ in range(conc)]
    start = threading.Barrier(conc + 1)
    box: dict[str, float] = {}

    def worker(c: Conn) -> None:
        my_lat: list[float] = []
        my_err: Counter = Counter()
        perf = time.perf_counter
        start.wait()
        deadline = box["deadline"]
        while True:
            with lock:
                if issued[0] >= max_requests:
                    break
                issued[0] += 1
            t0 = perf()
            if t0 >= deadline:
                with lock:
                    issued[0] -= 1
                break
            try:
                status = c.request(raw)[0]
                if status != expect:
                    my_err[status] += 1
            except Exception as exc:  # noqa: BLE001 - counted, never fatal
                my_err[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                c.close()
            my_lat.append(perf() - t0)
        with lock:
            res.lat.extend(my_lat)
            res.err_kinds.update(my_err)

    pids = proc_tree(t.pids) if t.pids else []
    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in conns]
    for th in threads:
        th.start()
    cpu0, pcpu0 = cpu_seconds(pids), time.process_time()
    t0 = time.perf_counter()
    box["deadline"] = t0 + seconds
    start.wait()
    for th in threads:
        th.join()
    res.elapsed = time.perf_counter() - t0
    res.server_cpu = cpu_seconds(pids) - cpu0
    res.client_cpu = time.process_time() - pcpu0
    for c in conns:
        res.reconnects += c.reconnects
        c.close()
    res.lat.sort()
    res.n = len(res.lat)
    res.errors = sum(res.err_kinds.values())
    return res


def warm_up(t: Target, mode: str, seconds: float = 1.0, n: int = 50) -> None:
    c = t.conn()
    raw, _ = t.raw(mode)
    end = time.perf_counter() + seconds
    for _ in range(n):
        if time.perf_counter() > end:
            break
        try:
            c.request(raw)
        except Exception:  # noqa: BLE001
            c.close()
    c.close()


# ---- the Keystone anchor ----------------------------------------------------------------------
class KeystoneAnchor:
    """The real Keystone of ../shared/anchors (uWSGI on :5000), started and stopped by its script."""

    def __init__(self, anchors: Path) -> None:
        self.script = anchors / "keystone" / "start.sh"
        self.home = Path(os.environ.get("ANCHOR_HOME", Path.home() / ".cache" / "caas-anchors")) / "keystone"
        self.started = False

    def start(self) -> Target:
        if not self.script.exists():
            sys.exit(f"no Keystone anchor at {self.script}")
        if wait_http(5000, "/v3", 200, 0.5):
            print("keystone anchor already running on :5000; measuring it as is (not stopping it after)", flush=True)
        else:
            print(f"starting the Keystone anchor ({self.script} start; the first start builds a venv)...", flush=True)
            t0 = time.monotonic()
            r = subprocess.run(["bash", str(self.script), "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            self.started = True
            tail = "\n".join(line for line in r.stdout.splitlines() if "is ignored" not in line)
            print(tail.strip(), f"({time.monotonic() - t0:.0f}s)", flush=True)
            if r.returncode != 0:
                self.stop()
                sys.exit("the Keystone anchor did not start")
        t = Target("keystone", KEYSTONE_URL, KEYSTONE_PASSWORD)
        t.pids = [int((self.home / "uwsgi.pid").read_text().split()[0])]
        try:
            t.extra_pids["memcached"] = int((self.home / "memcached.pid").read_text().split()[0])
        except (OSError, ValueError):
            pass
        return t

    def stop(self) -> None:
        if self.started:
            r = subprocess.run(["bash", str(self.script), "stop"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            print(f"keystone anchor: {r.stdout.strip()}", flush=True)
            self.started = False


# ---- main --------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="time bound of each measurement (default 10)")
    ap.add_argument("--max-requests", type=int, default=100000, help="request bound of each measurement")
    ap.add_argument("--concurrency", default="1,4", help="comma-separated client counts (default 1,4)")
    ap.add_argument("--modes", default="issue,validate")
    ap.add_argument("--url", help="tokens URL of an already-running server (instead of starting caas)")
    ap.add_argument("--password", help="admin password for --url")
    ap.add_argument("--pid", type=int, action="append", default=[],
                    help="with --url: server pid(s) whose process tree to measure (memory, CPU)")
    ap.add_argument("--name", default="server", help="with --url: its name in the table")
    ap.add_argument("--keystone", action="store_true", help="also start and measure the Keystone anchor")
    ap.add_argument("--anchors", type=Path, default=ANCHORS, help=f"anchors directory (default {ANCHORS})")
    args = ap.parse_args()
    concs = [int(c) for c in args.concurrency.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]

    caas: CaasServer | None = None
    ks: KeystoneAnchor | None = None
    targets: list[Target] = []

    interrupt_on_sigterm()
    try:
        if args.url:
            if args.password is None:
                ap.error("--url needs --password")
            t = Target(args.name, args.url, args.password)
            t.pids = args.pid
            targets.append(t)
        else:
            caas = CaasServer()
            caas.start()
            t = Target("caas", f"http://{HOST}:{caas.port}{TOKENS_PATH}", caas.admin_password)
            t.pids = [caas.pid]
            targets.append(t)
        if args.keystone:
            ks = KeystoneAnchor(args.anchors)
            targets.append(ks.start())

        idle = {}
        for t in targets:
            t.prepare()
            idle[t.name] = mem_kib(proc_tree(t.pids)) if t.pids else None
        print(f"\nmeasuring {', '.join(t.name for t in targets)}: {args.seconds:g}s or {args.max_requests} requests "
              f"each, {os.cpu_count()} CPUs shared by client and server(s)\n", flush=True)

        results: dict[tuple[str, str, int], Result] = {}
        for mode in modes:
            for conc in concs:
                for t in targets:  # interleaved, so that drift hits every target alike
                    warm_up(t, mode)
                    r = measure(t, mode, conc, args.seconds, args.max_requests)
                    results[(t.name, mode, conc)] = r
                    print(r.line(), flush=True)

        after = {}
        for t in targets:
            after[t.name] = mem_kib(proc_tree(t.pids)) if t.pids else None

        print("\n==== figures " + "=" * 70)
        for t in targets:
            for mode in modes:
                for conc in concs:
                    r = results[(t.name, mode, conc)]
                    print(f"{t.name} {mode} c={conc}: {r.rate:.1f}/s p50={r.pct(.5):.1f}ms p95={r.pct(.95):.1f}ms "
                          f"errors={r.errors} (n={r.n})")
            if after[t.name]:
                print(f"{t.name} memory idle (before load): {fmt_mem(idle[t.name])}")
                print(f"{t.name} memory after load:        {fmt_mem(after[t.name])}")
            for label, pid in t.extra_pids.items():
                print(f"{t.name} (+ {label}, not counted above): {fmt_mem(mem_kib([pid]))}")
        if len(targets) == 2:
            a, b = targets
            print(f"\n==== ratios {a.name}/{b.name} " + "=" * 55)
            for mode in modes:
                for conc in concs:
                    ra, rb = results[(a.name, mode, conc)], results[(b.name, mode, conc)]
                    div = lambda x, y: x / y if y else float("inf")  # noqa: E731
                    print(f"{mode} c={conc}: rate x{div(ra.rate, rb.rate):.2f}  p50 x{div(ra.pct(.5), rb.pct(.5)):.2f}  "
                          f"p95 x{div(ra.pct(.95), rb.pct(.95)):.2f}")
            if after[a.name] and after[b.name]:
                ma, mb = after[a.name], after[b.name]
                print(f"RSS after load x{ma['rss'] / mb['rss']:.2f}  peak VmHWM x{ma['hwm'] / mb['hwm']:.2f}  "
                      f"PSS x{ma['pss'] / mb['pss']:.2f}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if caas is not None:
            caas.stop()
            print("caas stopped", flush=True)
        if ks is not None:
            ks.stop()


if __name__ == "__main__":
    main()
