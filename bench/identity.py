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
and parsing just the status line and the framing headers. The same client measures caas and
Keystone, so the ratios are fair.

A private caas is started as ``caas up --data-dir <tmp> --port <free>`` with
CAAS_PASSWORD_HASH_ROUNDS=4 (bcrypt cost 4, as in the Keystone anchor) and stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
ANCHORS = REPO.parent / "shared" / "anchors"
KEYSTONE_URL = "http://127.0.0.1:5000/v3/auth/tokens"
KEYSTONE_PASSWORD = "secret"


# ---- a lean HTTP/1.1 client --------------------------------------------------------------------
class HTTPError(Exception):
    pass


class Conn:
    """One keep-alive connection; ``request`` sends pre-built bytes and returns
    (status, headers, body). Reconnects when the server closed the connection."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.addr = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.reconnects = 0

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def _connect(self) -> None:
        s = socket.create_connection(self.addr, timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.buf = b""

    def request(self, raw: bytes, want_headers: bool = False):
        fresh = self.sock is None
        if fresh:
            self._connect()
        try:
            self.sock.sendall(raw)
            return self._read(want_headers)
        except (ConnectionError, HTTPError) as exc:
            self.close()
            if fresh:
                raise
            # A stale keep-alive connection: the server closed it between requests. Retry once.
            self.reconnects += 1
            self._connect()
            self.sock.sendall(raw)
            return self._read(want_headers)

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HTTPError("connection closed by server")
        return chunk

    def _read(self, want_headers: bool):
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            buf += self._recv()
        head = buf[:end].decode("latin-1")
        buf = buf[end + 4:]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        version, status = parts[0], int(parts[1])
        length = None
        chunked = False
        close = version == "HTTP/1.0"
        headers = {} if want_headers else None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lname = name.strip().lower()
            if lname == "content-length":
                length = int(value)
            elif lname == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif lname == "connection":
                v = value.strip().lower()
                close = v == "close" or (version == "HTTP/1.0" and v != "keep-alive")
            if headers is not None:
                headers[lname] = value.strip()
        if chunked:
            body = bytearray()
            while True:
                while b"\r\n" not in buf:
                    buf += self._recv()
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += self._recv()
                body += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
            body = bytes(body)
        elif length is not None:
            while len(buf) < length:
                buf += self._recv()
            body, buf = buf[:length], buf[length:]
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # read to close
            chunks = [buf]
            while True:
                c = self.sock.recv(65536)
                if not c:
                    break
                chunks.append(c)
            body, buf, close = b"".join(chunks), b"", True
        self.buf = buf
        if close:
            self.close()
        return status, headers, body


class Target:
    """A tokens URL on 127.0.0.1 and the pre-built requests against it."""

    def __init__(self, name: str, url: str, password: str, user: str = "admin", project: str = "admin") -> None:
        u = urlsplit(url)
        if u.scheme != "http" or u.hostname != "127.0.0.1":
            sys.exit(f"refusing {url!r}: this benchmark talks to http://127.0.0.1 only")
        self.name = name
        self.url = url
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path or "/"
        body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}).encode()
        self.issue_req = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Content-Type: application/json\r\nAccept: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.validate_req = b""
        self.pids: list[int] = []      # roots of the server's process tree, for memory and CPU
        self.extra_pids: dict[str, int] = {}  # reported separately (e.g. memcached)

    def conn(self) -> Conn:
        return Conn(self.host, self.port)

    def issue_token(self, c: Conn) -> str:
        status, headers, body = c.request(self.issue_req, want_headers=True)
        if status != 201:
            raise RuntimeError(f"{self.name}: token issue answered {status}: {body[:300]!r}")
        return headers["x-subject-token"]

    def prepare(self) -> None:
        c = self.conn()
        admin_tok = self.issue_token(c)
        subject_tok = self.issue_token(c)
        c.close()
        self.validate_req = (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                             f"Accept: application/json\r\nX-Auth-Token: {admin_tok}\r\n"
                             f"X-Subject-Token: {subject_tok}\r\n\r\n").encode()

    def raw(self, mode: str) -> tuple[bytes, int]:
        return (self.issue_req, 201) if mode == "issue" else (self.validate_req, 200)


# ---- /proc -------------------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    m: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                m.setdefault(ppid, []).append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return m


def proc_tree(roots: list[int]) -> list[int]:
    cm = _children_map()
    out, todo, seen = [], list(roots), set()
    while todo:
        p = todo.pop()
        if p in seen or not os.path.exists(f"/proc/{p}"):
            continue
        seen.add(p)
        out.append(p)
        todo.extend(cm.get(p, []))
    return out


def mem_kib(pids: list[int]) -> dict[str, int]:
    """VmRSS, VmHWM and Pss summed over ``pids`` (KiB)."""
    tot = {"rss": 0, "hwm": 0, "pss": 0, "procs": 0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        tot["rss"] += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        tot["hwm"] += int(line.split()[1])
            tot["procs"] += 1
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        tot["pss"] += int(line.split()[1])
        except OSError:
            pass
    return tot


CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK


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
        if not self.lat:
            return float("nan")
        return self.lat[min(len(self.lat) - 1, int(q * len(self.lat)))] * 1000

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


# ---- servers -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(host: str, port: int, path: str, want: int, timeout: float) -> bool:
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        c = Conn(host, port, timeout=2)
        try:
            if c.request(req)[0] == want:
                return True
        except Exception:  # noqa: BLE001
            pass
        finally:
            c.close()
        time.sleep(0.1)
    return False


class CaasServer:
    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="caas-bench-")
        self.data_dir = Path(self.tmp.name) / "data"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = open(Path(self.tmp.name) / "caas.log", "w+")

    def start(self) -> Target:
        exe = Path(sys.executable).parent / "caas"
        env = dict(os.environ, CAAS_PASSWORD_HASH_ROUNDS="4")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([str(exe), "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_http("127.0.0.1", self.port, "/healthz", 200, 60):
            self.log.seek(0)
            self.stop()
            sys.exit(f"caas did not answer /healthz within 60 s; its output:\n{self.log.read()}")
        print(f"caas up on 127.0.0.1:{self.port} (pid {self.proc.pid}) after {time.monotonic() - t0:.1f}s; "
              f"data dir {self.data_dir}", flush=True)
        password = (self.data_dir / "admin-password").read_text().strip()
        t = Target("caas", f"http://127.0.0.1:{self.port}/identity/v3/auth/tokens", password)
        t.pids = [self.proc.pid]
        return t

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()
        self.tmp.cleanup()


class KeystoneAnchor:
    def __init__(self, anchors: Path) -> None:
        self.script = anchors / "keystone" / "start.sh"
        self.home = Path(os.environ.get("ANCHOR_HOME", Path.home() / ".cache" / "caas-anchors")) / "keystone"
        self.started = False

    def start(self) -> Target:
        if not self.script.exists():
            sys.exit(f"no Keystone anchor at {self.script}")
        if wait_http("127.0.0.1", 5000, "/v3", 200, 0.5):
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
def fmt_mem(m: dict[str, int]) -> str:
    return (f"RSS={m['rss'] / 1024:6.1f} MiB  peak(VmHWM)={m['hwm'] / 1024:6.1f} MiB  "
            f"PSS={m['pss'] / 1024:6.1f} MiB  ({m['procs']} process{'es' if m['procs'] != 1 else ''})")


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

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        if args.url:
            if args.password is None:
                ap.error("--url needs --password")
            t = Target(args.name, args.url, args.password)
            t.pids = args.pid
            targets.append(t)
        else:
            caas = CaasServer()
            targets.append(caas.start())
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
