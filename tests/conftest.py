"""Shared fixtures: a real ``caas up`` process per backend (SQLite and PostgreSQL) on a free
loopback port, HTTP clients that fail the test on any 5xx, and helpers to make users.

PostgreSQL: ``CAAS_TEST_POSTGRES_URL`` (set by .ci/run, a server URL such as
``postgresql+psycopg://postgres@/postgres?host=/tmp/pg``) or, failing that, a throwaway
cluster started here with initdb/pg_ctl when they are installed. Each server gets its own
fresh database.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# As root, `caas up` would default to real containers (the netns driver); the suite runs on the
# fake driver unless a test asks for netns (tests/virt, tests/e2e/test_netns_*).
os.environ.setdefault("CAAS_DRIVER", "fake")
FAST_ROUNDS = "4"  # bcrypt cost for tests that are not about hashing
# Strings that are no plain decimal number, though int() or str.isdigit() take them ("²" is a
# digit that int() refuses, "١٢" Arabic-Indic digits int() reads as 12), and one too large for
# any number caas stores: every API must refuse each with a 400 wherever it wants a number.
NOT_NUMBERS = ["²", "١٢", "+1", " 1", "1 ", "1_0", "0x10", "1e3", "1.0", "9" * 30]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def caas_command() -> list[str]:
    exe = shutil.which("caas", path=str(Path(sys.executable).parent)) or shutil.which("caas")
    return [exe] if exe else [sys.executable, "-m", "caas.cli.main"]


class CaasServer:
    """One ``caas up`` process."""

    def __init__(self, data_dir: Path, database_url: str | None = None, env: dict | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.env = {**os.environ, "CAAS_PASSWORD_HASH_ROUNDS": FAST_ROUNDS, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    def start(self, timeout: float = 60) -> "CaasServer":
        args = caas_command() + ["up", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caas up exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"caas up did not answer /healthz in {timeout}s:\n{self.log_path.read_text()}")

    @property
    def admin_password(self) -> str:
        return (self.data_dir / "admin-password").read_text().strip()

    def server_errors(self) -> int:
        text = httpx.get(self.url + "/metrics", timeout=5).text
        return sum(int(n) for code, n in re.findall(r'code="(\d+)"\} (\d+)', text) if code.startswith("5"))

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.log.close()

    def os_env(self, user: str = "admin", password: str | None = None, project: str = "admin") -> dict:
        """Environment for the real ``openstack`` CLI, as a sourced openrc would give."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({"OS_AUTH_URL": self.url + "/identity/v3", "OS_USERNAME": user,
                    "OS_PASSWORD": password if password is not None else self.admin_password,
                    "OS_PROJECT_NAME": project, "OS_USER_DOMAIN_NAME": "Default",
                    "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
                    "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public"})
        return env


# ---- PostgreSQL -------------------------------------------------------------------------
def _start_private_postgres(base: Path) -> tuple[str, callable]:
    bindir = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
                   if (p / "initdb").exists()), None) if Path("/usr/lib/postgresql").exists() else None
    if bindir is None:
        pytest.skip("PostgreSQL tests need CAAS_TEST_POSTGRES_URL or initdb/pg_ctl installed "
                    "(apt-get install postgresql)")
    base.mkdir(parents=True, exist_ok=True)
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    pgdata, port = base / "data", free_port()
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-l", str(base / "log"),
                             "-o", f"-k {base} -p {port} -c listen_addresses=''", "start"],
                   check=True, stdout=subprocess.DEVNULL)

    def stop() -> None:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL)
    return f"postgresql+psycopg://postgres@/postgres?host={base}&port={port}", stop


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory):
    url = os.environ.get("CAAS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    base = Path(tempfile.mkdtemp(prefix="caas-pg-"))
    url, stop = _start_private_postgres(base)
    try:
        yield url
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server and return its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(server_url)
    name = f"caas_test_{uuid.uuid4().hex[:12]}"
    q = u.query
    conninfo = {"user": u.username or "postgres", "dbname": u.database or "postgres",
                "host": q.get("host") or u.host or "localhost", "port": q.get("port") or u.port or 5432}
    if u.password:
        conninfo["password"] = u.password
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return u.set(database=name).render_as_string(hide_password=False)


# ---- servers ----------------------------------------------------------------------------
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """A running caas on the module's backend; asserts at the end that it gave no 5xx."""
    db_url = None
    if request.param == "postgresql":
        db_url = fresh_database(request.getfixturevalue("postgres_server_url"))
    srv = CaasServer(tmp_path_factory.mktemp("caas") / "data", db_url).start()
    srv.backend = request.param
    yield srv
    errors = srv.server_errors()
    code = srv.stop()
    assert errors == 0, f"the server answered {errors} requests with a 5xx; see {srv.log_path}"
    assert code == 0, f"caas up exited with {code} on SIGTERM"


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory):
    srv = CaasServer(tmp_path_factory.mktemp("caas") / "data").start()
    yield srv
    errors = srv.server_errors()
    srv.stop()
    assert errors == 0


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} gave {response.status_code}: {response.read()!r}")


def client_for(srv: CaasServer, token: str | None = None) -> httpx.Client:
    headers = {"X-Auth-Token": token} if token else {}
    return httpx.Client(base_url=srv.url, headers=headers, timeout=30, event_hooks={"response": [_no_5xx]})


def password_auth(user: str, password: str, project: str | None = "admin", domain: str | None = None) -> dict:
    body: dict = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    elif domain:
        body["auth"]["scope"] = {"domain": {"id": domain}}
    return body


def issue_token(srv: CaasServer, user: str = "admin", password: str | None = None,
                project: str | None = "admin", domain: str | None = None) -> str:
    with client_for(srv) as c:
        r = c.post("/identity/v3/auth/tokens", json=password_auth(
            user, srv.admin_password if password is None else password, project, domain))
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]


@pytest.fixture(scope="module")
def admin(server) -> httpx.Client:
    """An admin client (project-scoped to admin) on the module's server."""
    with client_for(server, issue_token(server)) as c:
        yield c


def make_member(srv: CaasServer, admin_client: httpx.Client, name: str | None = None,
                password: str = "Secret_123", role: str = "member") -> dict:
    """A user with ``role`` on a project of the same name. Returns ids, names and a token."""
    name = name or f"u{uuid.uuid4().hex[:8]}"
    project = admin_client.post("/identity/v3/projects", json={"project": {"name": name}}).json()["project"]
    user = admin_client.post("/identity/v3/users", json={"user": {"name": name, "password": password}}).json()["user"]
    role_id = admin_client.get("/identity/v3/roles", params={"name": role}).json()["roles"][0]["id"]
    r = admin_client.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role_id}")
    assert r.status_code == 204, r.text
    token = issue_token(srv, name, password, name)
    return {"name": name, "password": password, "user_id": user["id"], "project_id": project["id"],
            "role_id": role_id, "token": token}



@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist's ``--dist loadgroup`` (scripts/test runs two workers): a module's tests
    stay together on one worker, in order (they share the module's servers), and every module
    that makes cs- kernel objects runs on one worker, one after another (one netns caas runs per
    machine, and they check that nothing with the prefix leaks). ``tryfirst``: xdist reads the
    marks in its own hook of the same name."""
    for item in items:
        path = item.path.as_posix()
        group = "netns" if "/tests/virt/" in path or "/test_netns" in path else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
