"""Shared fixtures: a real ``caas up`` process on a free loopback port (or, for a module marked
``inprocess``, the same app served in the test process), HTTP clients that fail the test on any
5xx, and helpers to make users.

Backends: the ``server`` fixture runs on SQLite; a module where the backend matters (claims,
locks, concurrency, quotas) asks for both with ``pytestmark = pytest.mark.backends("sqlite",
"postgresql")``.

PostgreSQL: ``CAAS_TEST_POSTGRES_URL`` (set by .ci/run, a server URL such as
``postgresql+psycopg://postgres@/postgres?host=/tmp/pg``) or, failing that, a throwaway
cluster started here with initdb/pg_ctl when they are installed. Each server gets its own
database, a copy of one migrated once per test process (a template), as a SQLite server gets a
copy of a migrated file: ``caas up`` then finds its schema current and skips the migrations.

Processes: each ``caas up`` is forked from a warm one of this test process (tests/forkserver.py:
the imports once, not for each start); ``tests/test_up.py`` starts the real script anew, and
``CAAS_TEST_FORK=0`` starts every server anew.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.forkserver import fork_server, forking

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


@functools.cache
def sqlite_template() -> Path:
    """A SQLite file migrated to every head, once per test process (each xdist worker has its
    own); removed at exit."""
    from caas.db import migrate

    base = Path(tempfile.mkdtemp(prefix="caas-template-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    migrate.upgrade(f"sqlite:///{base / 'caas.db'}")
    return base / "caas.db"


def seed_data_dir(data_dir: Path) -> None:
    """Give a new data dir the migrated template database (a data dir that has one keeps it)."""
    if not (data_dir / "caas.db").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template(), data_dir / "caas.db")


class CaasServer:
    """One ``caas up`` process. Unless ``template`` is false, a new SQLite data dir starts from
    the migrated template (``sqlite_template``), as a PostgreSQL database from ``fresh_database``
    does: the migrations ran once, and ``tests/test_up.py`` keeps a first start that runs them."""

    transport = None  # its clients connect to its port

    def __init__(self, data_dir: Path, database_url: str | None = None, env: dict | None = None,
                 template: bool = True, args: list[str] = ()) -> None:
        """``args``: more options of ``caas up`` (``["--cloud", "caas"]``: a portal)."""
        self.data_dir = data_dir
        self.args = list(args)
        if template and not database_url:
            seed_data_dir(data_dir)
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
        args += self.args
        if "--agent-port" not in args:  # port + 1 (the default) may be another test's
            args += ["--agent-port", "0"]
        self.log = open(self.log_path, "ab")
        if forking():  # forked from this test process's warm caas (tests/forkserver.py)
            self.proc = fork_server("caas").spawn(args, self.env, stdout=self.log, stderr=subprocess.STDOUT)
        else:
            self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caas up exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1, verify=TLS).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"caas up did not answer /healthz in {timeout}s:\n{self.log_path.read_text()}")

    @property
    def admin_password(self) -> str:
        return (self.data_dir / "admin-password").read_text().strip()

    def server_errors(self) -> int:
        return _count_5xx(httpx.get(self.url + "/metrics", timeout=5, verify=TLS).text)

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


def start_portal(cloud: CaasServer, data_dir: Path, env: dict | None = None) -> CaasServer:
    """``caas up --cloud caas`` in front of ``cloud``: the portal of that caas as "the cloud",
    through the clouds.yaml its start wrote (its admin, for the portal's start check only)."""
    return CaasServer(data_dir, env={"OS_CLIENT_CONFIG_FILE": str(cloud.data_dir / "clouds.yaml"), **(env or {})},
                      args=["--cloud", "caas"]).start()


@pytest.fixture(scope="module")
def cloud_and_portal(request, tmp_path_factory):
    """A caas as "the cloud" and its portal (``start_portal``), whose environment adds the
    module's ``PORTAL_ENV``; asserts at the end that neither gave a 5xx."""
    cloud = CaasServer(tmp_path_factory.mktemp("cloud") / "data").start()
    try:
        portal = start_portal(cloud, tmp_path_factory.mktemp("portal") / "data",
                              getattr(request.module, "PORTAL_ENV", {}))
    except BaseException:
        cloud.stop()
        raise
    yield cloud, portal
    try:
        finish_server(portal)
    finally:
        finish_server(cloud)


# ---- PostgreSQL -------------------------------------------------------------------------
# A throwaway server's settings (.ci/run starts its server with the same): nothing waits for the
# disk. The tests kill caas, never PostgreSQL, so its durability is not under test; about a
# third of a PostgreSQL module's time went to fsync (commits, CREATE DATABASE ... TEMPLATE).
THROWAWAY_PG = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


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
                             "-o", f"-k {base} -p {port} -c listen_addresses='' {THROWAWAY_PG}", "start"],
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


def _conninfo(url) -> dict:
    """psycopg's connection arguments for a SQLAlchemy URL."""
    q = url.query
    info = {"user": url.username or "postgres", "dbname": url.database or "postgres",
            "host": q.get("host") or url.host or "localhost", "port": q.get("port") or url.port or 5432}
    if url.password:
        info["password"] = url.password
    return info


def _create_database(server_url: str, template: str | None = None) -> str:
    """A new database on the server (a copy of ``template`` if given); its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(server_url)
    name = f"caas_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**_conninfo(u), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return u.set(database=name).render_as_string(hide_password=False)


@functools.cache
def _postgres_template(server_url: str) -> str:
    """The name of a database migrated to every head, once per test process and server."""
    from sqlalchemy.engine import make_url

    from caas.db import migrate

    url = _create_database(server_url)
    migrate.upgrade(url)  # disposes its engine: CREATE DATABASE ... TEMPLATE wants no session on it
    return make_url(url).database


def fresh_database(server_url: str, migrated: bool = True) -> str:
    """A database of its own on the server, for one caas: a copy of the migrated template, or
    empty with ``migrated=False``. Returns its SQLAlchemy URL."""
    return _create_database(server_url, _postgres_template(server_url) if migrated else None)


# ---- servers ----------------------------------------------------------------------------
BACKENDS = ["sqlite", "postgresql"]


class _PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport into an ASGI app: httpx's ASGI transport, run on one event
    loop (an anyio blocking portal) for every client of the app, as uvicorn serves it on one
    (the app's anyio limiters belong to the loop that first serves, api/pools.py)."""

    def __init__(self, app, portal) -> None:
        self._asgi = httpx.ASGITransport(app, raise_app_exceptions=False, client=("127.0.0.1", 50000))
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as a stream the async transport reads too
        status, headers, body = self._portal.call(self._send, request)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    async def _send(self, request: httpx.Request):
        response = await self._asgi.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.stream])
        return response.status_code, response.headers, body


def _count_5xx(metrics: str) -> int:
    """The responses with a 5xx status in a /metrics text."""
    return sum(int(n) for code, n in re.findall(r'code="(\d+)"\} (\d+)', metrics) if code.startswith("5"))


class InProcessServer:
    """What ``caas up`` serves, in the test process: the same lock, ``prepare`` (schema, keys,
    bootstrap, client files) and ``create_app``, without a process. Clients reach the app through
    ``transport`` (``client_for`` passes it). The port its URLs name is held bound and never
    listens: the cluster layer, which calls the cloud over HTTP, finds nothing there (its tests
    keep a real ``caas up``), and no other server can take the port meanwhile."""

    transport: httpx.BaseTransport

    def __init__(self, data_dir: Path, database_url: str | None = None, **settings) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.settings = settings  # more Settings fields (a portal's: portal=True, cluster_cloud=NAME)
        self.log_path = "the test's captured log (in process)"
        self._stack = contextlib.ExitStack()

    def start(self) -> "InProcessServer":
        import anyio.from_thread

        from caas.api.app import create_app
        from caas.config import Settings
        from caas.server import lock_data_dir, prepare

        if not self.database_url:
            seed_data_dir(self.data_dir)
        sock = self._stack.enter_context(socket.socket())
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        settings = Settings(data_dir=self.data_dir, port=self.port, database_url=self.database_url,
                            password_hash_rounds=int(FAST_ROUNDS), **self.settings)
        self._stack.callback(lock_data_dir(settings).close)
        try:
            self.cloud = prepare(settings)
        except BaseException:
            self._stack.close()  # the lock and the port, as a caas up that refuses to start
            raise
        self._stack.callback(self.cloud.shutdown)
        self._stack.callback(self.cloud.clusters.engine.stopping.set)  # first, as caas up's on_exit
        portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        self.transport = _PortalTransport(create_app(self.cloud), portal)
        self.url = settings.base_url
        return self

    admin_password = CaasServer.admin_password

    def server_errors(self) -> int:
        with httpx.Client(base_url=self.url, transport=self.transport) as c:
            return _count_5xx(c.get("/metrics").text)

    def stop(self) -> int:
        """Shut the cloud down as ``caas up`` does on SIGTERM; 0, the exit code it would give."""
        self._stack.close()
        return 0


def start_server(request, tmp_path_factory, backend: str = "sqlite"):
    """A new caas on ``backend`` for the requesting module: served in process when the module
    is marked ``inprocess``, else a ``caas up`` process."""
    db_url = fresh_database(request.getfixturevalue("postgres_server_url")) if backend == "postgresql" else None
    kind = InProcessServer if request.node.get_closest_marker("inprocess") else CaasServer
    srv = kind(tmp_path_factory.mktemp("caas") / "data", db_url).start()
    srv.backend = backend
    return srv


def finish_server(srv) -> None:
    """Stop a server, asserting that it answered no request with a 5xx and exited 0."""
    errors = srv.server_errors()
    code = srv.stop()
    assert errors == 0, f"the server answered {errors} requests with a 5xx; see {srv.log_path}"
    assert code == 0, f"caas up exited with {code} on SIGTERM"


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): the backends the module's `server` runs on "
                                       "(sqlite, postgresql); SQLite alone when unmarked")
    config.addinivalue_line("markers", "inprocess: the module's `server` and `sqlite_server` serve the "
                                       "app in the test process (no `caas up` process, no listening port)")


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    """``server`` runs on the backends the module's ``backends`` mark names, else on SQLite (its
    own argument ``caas_backend``: a module that defines its own ``server`` is left alone).
    ``tryfirst``: before the test's own parametrize marks, as a parametrized fixture's params
    are, so that pytest keeps the module's tests in their order."""
    if "caas_backend" in metafunc.fixturenames:
        mark = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("caas_backend", list(mark.args) if mark else ["sqlite"], indirect=True, scope="module")


@pytest.fixture(scope="module")
def caas_backend(request) -> str:
    """The backend of the module's ``server`` (``pytest_generate_tests`` gives the values)."""
    return request.param


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, caas_backend):
    """A running caas on the module's backend; asserts at the end that it gave no 5xx."""
    srv = start_server(request, tmp_path_factory, caas_backend)
    yield srv
    finish_server(srv)


@pytest.fixture(scope="module")
def sqlite_server(request, tmp_path_factory):
    srv = start_server(request, tmp_path_factory)
    yield srv
    finish_server(srv)


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} gave {response.status_code}: {response.read()!r}")


# One TLS context for every httpx client of a test process. The tests speak plain HTTP to
# loopback and never use it, but httpx builds one (loading certifi's bundle, about 30 ms of CPU)
# for each client and each module-level call that is not handed one: some thousands per run.
TLS = ssl.create_default_context()


def client_for(srv: CaasServer, token: str | None = None) -> httpx.Client:
    headers = {"X-Auth-Token": token} if token else {}
    return httpx.Client(base_url=srv.url, headers=headers, timeout=30, event_hooks={"response": [_no_5xx]},
                        transport=srv.transport, verify=TLS)


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


def _group(item) -> str:
    path = item.path.as_posix()
    return "netns" if "/tests/virt/" in path or "/test_netns" in path else item.module.__name__


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist's ``--dist loadgroup`` (scripts/test runs three workers): a module's
    tests stay together on one worker, in order (they share the module's servers), and every
    module that makes cs- kernel objects runs on one worker, one after another (one netns caas
    runs per machine, and they check that nothing with the prefix leaks). ``tryfirst``: xdist
    reads the marks in its own hook of the same name.

    The groups come in the order the workers take them (scripts/test turns xdist's own
    reordering off): the netns group first, as it is the longest and runs on one worker only
    (last, it kept the run going for minutes after the other workers were done), then the
    others by their count of tests, most first, as xdist orders them (the slowest modules
    first measured no better: 622 s against 609 and 610)."""
    groups = {item: _group(item) for item in items}
    sizes = collections.Counter(groups.values())
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item]))
    position = {item: i for i, item in enumerate(items)}
    items.sort(key=lambda item: (groups[item] != "netns", -sizes[groups[item]], groups[item], position[item]))
