"""Helpers shared by the benchmarks in bench/.

- a private caas: ``caas up`` on a free loopback port with a temporary data dir and bcrypt
  cost 4 (CAAS_PASSWORD_HASH_ROUNDS=4), its admin password and an admin token, stopped with
  SIGTERM (``CaasServer``, ``issue_token``);
- a lean HTTP/1.1 client: pre-built requests over a raw keep-alive socket, parsing the status
  line, the headers and a Content-Length or chunked body (``Conn``, ``build_request``);
- a server's memory (VmRSS, peak VmHWM, PSS) and CPU time from /proc (``mem_kib``,
  ``cpu_seconds``, ``proc_tree``).

The benchmarks run as ``python bench/<name>.py``, which puts this directory on sys.path, so
they import these with ``from _common import ...``. Loopback (127.0.0.1) only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable
from pathlib import Path

from caas.config import default_driver

HOST = "127.0.0.1"
TOKENS_PATH = "/identity/v3/auth/tokens"   # caas's Identity v3 tokens URL


# ---- a lean HTTP/1.1 client --------------------------------------------------------------------
def build_request(method: str, path: str, port: int, token: str | None = None, body: dict | None = None,
                  headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request to 127.0.0.1:``port`` that accepts JSON: with an
    X-Auth-Token when ``token`` is given, a JSON body when ``body`` is, and any extra ``headers``."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: application/json\r\n"
    if token:
        head += f"X-Auth-Token: {token}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


def parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    """The HTTP version, the status and the headers (names in lower case) of a response head
    (the bytes before its blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return version, int(status), headers


def server_closes(version: str, headers: dict[str, str]) -> bool:
    """Whether the server closes the connection after a response with this version and headers."""
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return connection != "keep-alive"
    return connection == "close"


class Conn:
    """One keep-alive connection to 127.0.0.1:``port``.

    ``request`` sends pre-built bytes and returns (status, headers, body); ``call`` builds a
    JSON request first. When the server has closed an idle connection, the request is sent
    again, once, on a new one (counted in ``reconnects``). As a context manager, it closes at
    the end of the block.
    """

    def __init__(self, port: int, timeout: float = 60.0, recv_size: int = 65536) -> None:
        self.port = port
        self.timeout = timeout
        self.recv_size = recv_size
        self.sock: socket.socket | None = None
        self.buf = b""
        self.reconnects = 0

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (if open) and drop what was buffered."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def _connect(self) -> None:
        """Open a new socket, without Nagle's delay."""
        self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send ``raw`` (a whole request) and read the response: (status, headers, body)."""
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
            # A stale keep-alive connection: the server closed it between requests. Retry once.
            self.reconnects += 1
            self._connect()
            self.sock.sendall(raw)
            return self._read()

    def call(self, method: str, path: str, token: str | None = None,
             body: dict | None = None) -> tuple[int, dict[str, str], bytes]:
        """Build a request with ``build_request`` and send it: (status, headers, body)."""
        return self.request(build_request(method, path, self.port, token, body))

    def _recv(self) -> bytes:
        """The next bytes from the socket; ConnectionError when the server has closed it."""
        chunk = self.sock.recv(self.recv_size)
        if not chunk:
            raise ConnectionError("connection closed by server")
        return chunk

    def _read_until(self, separator: bytes) -> bytes:
        """The bytes before the next ``separator``, which is consumed too."""
        while (end := self.buf.find(separator)) < 0:
            self.buf += self._recv()
        data, self.buf = self.buf[:end], self.buf[end + len(separator):]
        return data

    def _read_exactly(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        while len(self.buf) < n:
            self.buf += self._recv()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_chunked(self) -> bytes:
        """A chunked body (without trailers), joined."""
        body = bytearray()
        while True:
            size = int(self._read_until(b"\r\n").split(b";")[0], 16)
            body += self._read_exactly(size + 2)[:size]   # the chunk and its CRLF
            if size == 0:
                return bytes(body)

    def _read_to_close(self) -> bytes:
        """The rest of the stream, until the server closes it; then the connection is closed."""
        chunks = [self.buf]
        while chunk := self.sock.recv(self.recv_size):
            chunks.append(chunk)
        self.close()
        return b"".join(chunks)

    def _read(self) -> tuple[int, dict[str, str], bytes]:
        """One response: its head, then a body framed by chunks, by Content-Length or by the close."""
        version, status, headers = parse_head(self._read_until(b"\r\n\r\n"))
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exactly(int(headers["content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            return status, headers, self._read_to_close()
        if server_closes(version, headers):
            self.close()
        return status, headers, body


def wait_http(port: int, path: str, want: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """Poll GET ``path`` on 127.0.0.1:``port`` every 0.1 s: True once it answers ``want``, False
    when ``timeout`` seconds have passed or ``proc`` (if given) has exited."""
    raw = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        c = Conn(port, timeout=2)
        try:
            if c.request(raw)[0] == want:
                return True
        except Exception:  # noqa: BLE001 - not up yet
            pass
        finally:
            c.close()
        time.sleep(0.1)
    return False


# ---- tokens ------------------------------------------------------------------------------------
def password_auth(password: str, user: str = "admin", project: str = "admin") -> dict:
    """An Identity v3 password authentication of ``user``, scoped to ``project`` (both in the
    Default domain)."""
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}


def issue_token(c: Conn, password: str) -> tuple[str, dict]:
    """A caas admin token scoped to the admin project: (the token, its "token" document).
    Exits when the server does not answer 201."""
    status, headers, body = c.call("POST", TOKENS_PATH, body=password_auth(password))
    if status != 201:
        raise SystemExit(f"token issue: expected 201, got {status}: {body[:400]!r}")
    return headers["x-subject-token"], json.loads(body)["token"]


# ---- a private caas ----------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class CaasServer:
    """A private ``caas up`` on a free loopback port, with a fresh data dir in a temporary
    directory (removed by ``stop``) and bcrypt cost 4 (CAAS_PASSWORD_HASH_ROUNDS=4). Its output
    goes to caas.log next to the data dir."""

    def __init__(self, prefix: str = "caas-bench-", database_url: str | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.data_dir = Path(self.tmp.name) / "data"
        self.port = free_port()
        self.database_url = database_url
        self.proc: subprocess.Popen | None = None
        self.netns = False  # whether the started caas runs the netns driver (start says)
        self.log = open(Path(self.tmp.name) / "caas.log", "w+")

    def start(self, note: str = "") -> None:
        """Start it and wait (60 s at most) for /healthz to answer 200, then print a line that
        says so, ending with ``note``. Exits with the server's output when it does not come up."""
        exe = Path(sys.executable).parent / "caas"
        args = [str(exe), "up", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = dict(os.environ, CAAS_PASSWORD_HASH_ROUNDS="4")
        self.netns = default_driver() == "netns"  # the driver caas up picks from this environment
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_http(self.port, "/healthz", 200, 60, self.proc):
            self.log.seek(0)
            output = self.log.read()
            self.stop()
            raise SystemExit(f"caas did not answer /healthz within 60 s; its output:\n{output}")
        print(f"caas up on {HOST}:{self.port} (pid {self.proc.pid}) after {time.monotonic() - t0:.1f}s; "
              f"data dir {self.data_dir}{note}", flush=True)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    @property
    def admin_password(self) -> str:
        """The admin password that ``caas up`` wrote into the data dir."""
        return (self.data_dir / "admin-password").read_text().strip()

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 20 s); with the netns driver, ``caas cleanup --all`` on its data
        dir (a stopped caas keeps its networks' kernel objects for its next start, and this data
        dir, which records them, goes; cleanup refuses while another netns caas runs); then
        remove the temporary directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.netns:
            done = subprocess.run([str(Path(sys.executable).parent / "caas"), "cleanup", "--all", "--data-dir",
                                   str(self.data_dir)], stdout=self.log, stderr=subprocess.STDOUT, timeout=120)
            if done.returncode != 0:
                print(f"caas cleanup --all exited {done.returncode}: see {self.log.name}", file=sys.stderr)
        self.proc = None
        self.log.close()
        self.tmp.cleanup()


def interrupt_on_sigterm() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so that a benchmark's ``finally`` stops its server."""

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


# ---- /proc -------------------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    """Every process's children: {ppid: [pid, ...]}."""
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
    """``roots`` and all their descendants that are still alive."""
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
    """VmRSS, VmHWM and Pss summed over ``pids`` (KiB), and how many of them were read."""
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


def fmt_mem(m: dict[str, int]) -> str:
    """A ``mem_kib`` reading in MiB, on one line."""
    return (f"RSS={m['rss'] / 1024:6.1f} MiB  peak(VmHWM)={m['hwm'] / 1024:6.1f} MiB  "
            f"PSS={m['pss'] / 1024:6.1f} MiB  ({m['procs']} process{'es' if m['procs'] != 1 else ''})")


CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK


# ---- figures -----------------------------------------------------------------------------------
def pct(sorted_lat: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted latencies in seconds, in milliseconds (nan if none)."""
    if not sorted_lat:
        return float("nan")
    return sorted_lat[min(len(sorted_lat) - 1, int(q * len(sorted_lat)))] * 1000


def concurrent_requests(connect: Callable[[], "Conn"], n: int, conc: int, request: Callable[[int], bytes],
                        expect: int) -> tuple[float, list[float], dict, int]:
    """``n`` requests (``request(i)`` gives the raw bytes of the i-th) from ``conc`` clients, one
    keep-alive connection each, started together. Returns (seconds from the start until the
    last answer, latencies (each client's in order), {status: count} of answers other than
    ``expect``, reconnects)."""
    counter = iter(range(n))
    lock = threading.Lock()
    lat: list[float] = []
    errors: dict = {}
    reconnects = [0]
    start = threading.Barrier(conc + 1)

    def worker() -> None:
        c = connect()
        mine: list[float] = []
        perf = time.perf_counter
        start.wait()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                raw = request(i)
                t0 = perf()
                try:
                    status = c.request(raw)[0]
                except OSError as exc:
                    status = type(exc).__name__
                    c.close()
                mine.append(perf() - t0)
                if status != expect:
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
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, lat, errors, reconnects[0]
