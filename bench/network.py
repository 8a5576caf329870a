#!/usr/bin/env python3
"""Network v2.0 port benchmark: create 1,000 ports and list them, against a private caas.

Prints figures; asserts nothing. Loopback (127.0.0.1) only.

    .venv/bin/python bench/network.py                  # private caas on SQLite (fresh data dir)
    .venv/bin/python bench/network.py --ports 2000 --concurrency 8
    .venv/bin/python bench/network.py --database-url postgresql+psycopg://postgres@/bench?host=/tmp/pg

A private caas is started as ``caas up --data-dir <tmp> --port <free>`` with
CAAS_PASSWORD_HASH_ROUNDS=4 and stopped with SIGTERM at the end. As admin, the benchmark raises
the admin project's port quota, makes a network with a /20 subnet (4,093 usable addresses), then
measures:

  create sequential   --ports POST /network/v2.0/ports, one after the other over one keep-alive
                      connection (each port gets an address and the default security group)
  list                GET /network/v2.0/ports with --ports ports, median of --list-repeats
  create concurrent   another --ports ports from --concurrency clients (one connection each)
  list (2x)           the same list with twice as many ports, for scale

with p50/p95/p99 latency and the server's CPU time per request (from /proc). Targets it compares
against: 1,000 ports created in under 5 s, a list of 1,000 ports in under 200 ms.

The client is a lean one (pre-built HTTP/1.1 requests over raw keep-alive sockets), because
client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CREATE_TARGET_S = 5.0     # 1,000 ports
LIST_TARGET_MS = 200.0    # list of 1,000 ports
PREFIX = "/network/v2.0"


# ---- a lean HTTP/1.1 client --------------------------------------------------------------------
class Conn:
    """One keep-alive connection to 127.0.0.1:port. ``request`` returns (status, headers, body)."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port = port
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
        self.sock, self.buf = None, b""

    def _recv(self) -> bytes:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("connection closed by server")
        return chunk

    def request(self, method: str, path: str, token: str | None = None, body: dict | None = None,
                raw: bytes | None = None) -> tuple[int, dict, bytes]:
        if raw is None:
            raw = build(method, path, self.port, token, body)
        fresh = self.sock is None
        if fresh:
            self._connect()
        try:
            self.sock.sendall(raw)
            return self._read()
        except ConnectionError:
            self.close()
            if fresh:
                raise
            # A stale keep-alive connection (the server closed it while idle): retry once.
            self.reconnects += 1
            self._connect()
            self.sock.sendall(raw)
            return self._read()

    def _connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _read(self) -> tuple[int, dict, bytes]:
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        head, buf = buf[:end].decode("latin-1"), buf[end + 4:]
        lines = head.split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                while b"\r\n" not in buf:
                    buf += self._recv()
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += self._recv()
                out += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
            data = bytes(out)
        else:
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                buf += self._recv()
            data, buf = buf[:length], buf[length:]
        self.buf = buf
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return int(status), headers, data


def build(method: str, path: str, port: int, token: str | None, body: dict | None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n"
    if token:
        head += f"X-Auth-Token: {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


def expect(status: int, want: int, data: bytes, what: str) -> dict:
    if status != want:
        raise SystemExit(f"{what}: expected {want}, got {status}: {data[:400]!r}")
    return json.loads(data) if data else {}


# ---- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CaasServer:
    def __init__(self, database_url: str | None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="caas-bench-net-")
        self.data_dir = Path(self.tmp.name) / "data"
        self.port = free_port()
        self.database_url = database_url
        self.proc: subprocess.Popen | None = None
        self.log = open(Path(self.tmp.name) / "caas.log", "w+")

    def start(self) -> None:
        exe = Path(sys.executable).parent / "caas"
        args = [str(exe), "up", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = dict(os.environ, CAAS_PASSWORD_HASH_ROUNDS="4")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            c = Conn(self.port, timeout=2)
            try:
                if c.request("GET", "/healthz")[0] == 200:
                    print(f"caas up on 127.0.0.1:{self.port} (pid {self.proc.pid}) after "
                          f"{time.monotonic() - t0:.1f}s; data dir {self.data_dir}"
                          f"{'; database ' + self.database_url if self.database_url else ' (SQLite)'}", flush=True)
                    return
            except OSError:
                pass
            finally:
                c.close()
            time.sleep(0.1)
        self.log.seek(0)
        output = self.log.read()
        self.stop()
        raise SystemExit(f"caas did not answer /healthz within 60 s; its output:\n{output}")

    @property
    def admin_password(self) -> str:
        return (self.data_dir / "admin-password").read_text().strip()

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError, AttributeError):
            return float("nan")

    def server_errors(self) -> int:
        import re
        c = Conn(self.port)
        try:
            text = c.request("GET", "/metrics")[2].decode()
        finally:
            c.close()
        return sum(int(n) for code, n in re.findall(r'code="(\d+)"\} (\d+)', text) if code.startswith("5"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()
        self.tmp.cleanup()


# ---- measurements ------------------------------------------------------------------------------
def pct(sorted_lat: list[float], q: float) -> float:
    if not sorted_lat:
        return float("nan")
    return sorted_lat[min(len(sorted_lat) - 1, int(q * len(sorted_lat)))] * 1000


def create_ports(port: int, token: str, network_id: str, n: int, conc: int) -> tuple[float, list[float], dict, int]:
    """``n`` port creates from ``conc`` clients (one keep-alive connection each).
    Returns (wall seconds, latencies (in order for one client), {status: count} of failures, reconnects)."""
    raw = build("POST", f"{PREFIX}/ports", port, token, {"port": {"network_id": network_id}})
    counter = iter(range(n))
    lock = threading.Lock()
    lat: list[float] = []
    errors: dict = {}
    reconnects = [0]
    start = threading.Barrier(conc + 1)

    def worker() -> None:
        c = Conn(port)
        mine: list[float] = []
        perf = time.perf_counter
        start.wait()
        try:
            while True:
                with lock:
                    if next(counter, None) is None:
                        break
                t0 = perf()
                try:
                    status = c.request("POST", "", raw=raw)[0]
                except OSError as exc:
                    status = type(exc).__name__
                    c.close()
                mine.append(perf() - t0)
                if status != 201:
                    with lock:
                        errors[status] = errors.get(status, 0) + 1
        finally:
            c.close()
            with lock:
                lat.extend(mine)
                reconnects[0] += c.reconnects

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, lat, errors, reconnects[0]


def list_ports(c: Conn, token: str, repeats: int) -> tuple[list[float], int, int]:
    """Times of ``repeats`` lists (after one warm-up), the number of ports and the body size."""
    raw = build("GET", f"{PREFIX}/ports", c.port, token, None)
    status, _, data = c.request("GET", "", raw=raw)
    body = expect(status, 200, data, "list ports")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        status, _, data = c.request("GET", "", raw=raw)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"list ports: {status}: {data[:300]!r}")
    return times, len(body["ports"]), len(data)


def verdict(value: float, target: float) -> str:
    return "OK" if value < target else "MISSED"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=1000, help="ports per create phase (default 1000)")
    ap.add_argument("--concurrency", type=int, default=4, help="clients of the concurrent phase (default 4)")
    ap.add_argument("--list-repeats", type=int, default=10, help="lists to take the median of (default 10)")
    ap.add_argument("--database-url", help="run caas on this database instead of SQLite (must be empty)")
    args = ap.parse_args()
    if 2 * args.ports + 10 > 4093:
        ap.error("--ports must stay under 2,040 so both phases fit the /20 subnet")

    srv = CaasServer(args.database_url)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    figures: list[str] = []
    try:
        srv.start()
        c = Conn(srv.port)
        status, headers, data = c.request("POST", "/identity/v3/auth/tokens", body={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": srv.admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
        token = headers["x-subject-token"]
        project_id = expect(status, 201, data, "token issue")["token"]["project"]["id"]

        st, _, d = c.request("PUT", f"{PREFIX}/quotas/{project_id}", token,
                             {"quota": {"port": 4 * args.ports + 100}})
        quota = expect(st, 200, d, "raise the port quota")["quota"]["port"]
        st, _, d = c.request("POST", f"{PREFIX}/networks", token, {"network": {"name": "bench"}})
        net = expect(st, 201, d, "create network")["network"]
        st, _, d = c.request("POST", f"{PREFIX}/subnets", token, {"subnet": {
            "network_id": net["id"], "cidr": "10.100.0.0/20", "name": "bench-20"}})
        expect(st, 201, d, "create subnet")
        # Warm-up on a network of its own (imports, caches, the default security group), then gone.
        st, _, d = c.request("POST", f"{PREFIX}/networks", token, {"network": {"name": "warm-up"}})
        warm = expect(st, 201, d, "create warm-up network")["network"]
        st, _, d = c.request("POST", f"{PREFIX}/subnets", token, {"subnet": {
            "network_id": warm["id"], "cidr": "10.200.0.0/24"}})
        expect(st, 201, d, "create warm-up subnet")
        for _ in range(20):
            st, _, d = c.request("POST", f"{PREFIX}/ports", token, {"port": {"network_id": warm["id"]}})
            pid = expect(st, 201, d, "warm-up port")["port"]["id"]
            c.request("DELETE", f"{PREFIX}/ports/{pid}", token)
            c.request("GET", f"{PREFIX}/ports", token)
        c.close()
        print(f"admin project {project_id}: port quota {quota}; network {net['id']} with a /20 subnet; "
              f"{os.cpu_count()} CPUs shared by client and server\n", flush=True)

        n = args.ports
        cpu0 = srv.cpu_seconds()
        wall, lat, errs, rc = create_ports(srv.port, token, net["id"], n, 1)
        cpu = srv.cpu_seconds() - cpu0
        k = max(1, min(100, n // 10))
        trend = (f"    p50 of the first {k} creates {statistics.median(lat[:k]) * 1000:.1f} ms, "
                 f"of the last {k} {statistics.median(lat[-k:]) * 1000:.1f} ms")
        lat.sort()
        line = (f"create {n} ports, sequential (1 keep-alive connection): {wall:.2f} s  "
                f"{n / wall:.0f}/s  p50={pct(lat, .5):.1f}ms p95={pct(lat, .95):.1f}ms p99={pct(lat, .99):.1f}ms  "
                f"srv_cpu={cpu / n * 1000:.2f}ms/req errors={errs or 0}{f' reconnects={rc}' if rc else ''}")
        print(line + "\n" + trend, flush=True)
        figures.append(f"{line}\n{trend}\n    target: {n} ports in < {CREATE_TARGET_S * n / 1000:g} s -> "
                       f"{verdict(wall, CREATE_TARGET_S * n / 1000)}")

        c = Conn(srv.port)
        cpu0 = srv.cpu_seconds()
        times, count, size = list_ports(c, token, args.list_repeats)
        cpu = srv.cpu_seconds() - cpu0
        med = statistics.median(times) * 1000
        line = (f"list {count} ports (GET {PREFIX}/ports, {size / 1024:.0f} KiB): median {med:.1f} ms of "
                f"{args.list_repeats}  min {min(times) * 1000:.1f} ms  max {max(times) * 1000:.1f} ms  "
                f"srv_cpu={cpu / (args.list_repeats + 1) * 1000:.1f}ms/req")
        print(line, flush=True)
        figures.append(f"{line}\n    target: a list of 1,000 ports in < {LIST_TARGET_MS:g} ms -> "
                       f"{verdict(med, LIST_TARGET_MS)}{'' if count == 1000 else f' (listed {count}, not 1,000)'}")

        cpu0 = srv.cpu_seconds()
        wall, lat, errs, rc = create_ports(srv.port, token, net["id"], n, args.concurrency)
        cpu = srv.cpu_seconds() - cpu0
        lat.sort()
        line = (f"create {n} ports, {args.concurrency} concurrent clients: {wall:.2f} s  {n / wall:.0f}/s  "
                f"p50={pct(lat, .5):.1f}ms p95={pct(lat, .95):.1f}ms p99={pct(lat, .99):.1f}ms  "
                f"srv_cpu={cpu / n * 1000:.2f}ms/req errors={errs or 0}{f' reconnects={rc}' if rc else ''}")
        print(line, flush=True)
        figures.append(f"{line}\n    target: {n} ports in < {CREATE_TARGET_S * n / 1000:g} s -> "
                       f"{verdict(wall, CREATE_TARGET_S * n / 1000)}")

        times, count, size = list_ports(c, token, args.list_repeats)
        med = statistics.median(times) * 1000
        line = (f"list {count} ports ({size / 1024:.0f} KiB): median {med:.1f} ms of {args.list_repeats}  "
                f"min {min(times) * 1000:.1f} ms  max {max(times) * 1000:.1f} ms  (for scale; no target)")
        print(line, flush=True)
        figures.append(line)
        c.close()

        errors = srv.server_errors()
        print("\n==== figures " + "=" * 70)
        for f in figures:
            print(f)
        print(f"server 5xx answers during the run: {errors}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        srv.stop()
        print("caas stopped", flush=True)


if __name__ == "__main__":
    main()
