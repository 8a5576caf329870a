"""Running the cloud: ``serve`` prepares the data dir (lock, schema, keys, bootstrap, client
files) and serves the app on one port, and the agent API of the compute hosts (api/hosts.py)
over TLS on a second one, until SIGTERM or SIGINT.

Refuses clearly, without a traceback, when another caas holds the data dir or the port is
taken (``StartupError``).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys

from caas.config import Settings
from caas.errors import CaasError

KEEP_ALIVE = 75  # seconds an idle HTTP connection stays open (nginx's default; uvicorn's is 5)


class StartupError(Exception):
    """A reason not to start, said to the user as is."""


def lock_data_dir(settings: Settings):
    from caas.lockfile import Held, hold

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    try:
        return hold(settings.lock_file, f"pid {os.getpid()}, port {settings.port}")
    except Held as held:
        raise StartupError(f"caas is already running with data dir {settings.data_dir} ({held.holder}); "
                           "stop it first or choose another --data-dir") from None


def bind(settings: Settings) -> socket.socket:
    return bind_to(settings.host, settings.port, "--port")


IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def bind_guests(settings: Settings) -> socket.socket | None:
    """The listener the instances reach caas on (``Settings.guest_bind``): the external
    network's gateway, which its bridge carries once the driver has made it (a free bind)."""
    where = settings.guest_bind
    return bind_to(where[0], where[1], "--port", freebind=True) if where else None


def bind_to(host: str, port: int, option: str, freebind: bool = False) -> socket.socket:
    """A listening socket on ``host:port``; a StartupError naming ``option`` when it cannot be.
    ``freebind``: on an address this machine may not have yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if freebind:
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is already in use; "
                               f"is caas (or something else) already running? Choose another {option}") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def prepare(settings: Settings):
    """Schema, keys and first-start state. Returns the Cloud (a Portal with ``settings.portal``)."""
    from caas.cloud import Cloud
    from caas.db import migrate
    from caas.identity.bootstrap import write_client_files

    # Migrations run in a child process (as keystone-manage db_sync would), so the server
    # never holds Alembic in memory; a database at every head already needs no child (its
    # interpreter is most of a restart's time). The URL goes through the environment, not
    # argv, so a password in it is not visible in the process list.
    if not migrate.is_current(settings.db_url):
        _migrate_in_child(settings.db_url)
    if settings.portal:
        return prepare_portal(settings)
    from caas.virt.driver import DriverError

    try:
        cloud = Cloud(settings)  # the netns driver checks the host and takes its lock here
        cloud.keys.setup()
        cloud.secrets.setup()
        cloud.bootstrap()
    except CaasError as exc:
        raise StartupError(exc.message) from None
    except DriverError as exc:
        raise StartupError(str(exc)) from None
    write_client_files(settings)
    return cloud


def prepare_portal(settings: Settings):
    """The Portal of ``settings.cluster_cloud``, its cloud checked (a StartupError saying why
    it cannot be worked with) and its pending cluster work resumed."""
    from caas.portal import Portal, PortalError

    try:
        portal = Portal(settings)
        portal.secrets.setup()
        portal.bootstrap()
    except PortalError as exc:
        raise StartupError(str(exc)) from None
    return portal


def _migrate_in_child(db_url: str) -> None:
    """``migrate.upgrade`` in a child interpreter; a StartupError saying why when it fails."""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", "import os, caas.db.migrate as m; m.upgrade(os.environ['CAAS_MIGRATE_URL'])"],
                          env={**os.environ, "CAAS_MIGRATE_URL": db_url},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        # The exception line of the traceback says why (e.g. connection refused).
        lines = [ln for ln in proc.stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", ln)]
        detail = lines[-1] if lines else (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise StartupError(f"cannot bring the database {_safe_url(db_url)} up to date: {detail}")


def cleanup_kernel(settings: Settings, everything: bool) -> list[str]:
    """``caas cleanup``: what the driver ``settings`` names (netns, for the CLI) made that the
    database no longer owns (all of it with ``everything``, which needs caas stopped), through
    the driver protocol's ``cleanup``. Returns the names removed."""
    import tempfile

    from caas.db import migrate
    from caas.db.engine import Database
    from caas.virt import driver_for
    from caas.virt.driver import DriverError
    from caas.cloud import server_ids
    from caas.network.topology import TopologyFeed

    fresh = not settings.database_url and not (settings.data_dir / "caas.db").exists()
    lock = None
    if everything and settings.data_dir.exists():
        lock = lock_data_dir(settings)  # refuses while caas runs
    elif not everything and fresh:
        raise StartupError(f"no caas database in {settings.data_dir}; use --all to remove every cs- object")
    with tempfile.TemporaryDirectory(prefix="caas-cleanup-") as tmp:
        url = f"sqlite:///{tmp}/empty.db" if fresh else settings.db_url
        try:
            migrate.upgrade(url)
            db = Database(url)
            try:
                driver = driver_for(settings, db)  # netns refuses while a netns caas runs
                try:
                    TopologyFeed(db, driver.apply_network, server_ids).push()  # what the database still owns
                    return driver.cleanup(everything)
                finally:
                    driver.stop()
            finally:
                db.dispose()
        except DriverError as exc:
            raise StartupError(str(exc)) from None
        finally:
            if lock is not None:
                lock.close()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for a message
        return "(unparseable URL)"


def banner(settings: Settings) -> str:
    d = settings.data_dir
    if settings.portal:
        bin_dir = os.path.dirname(sys.executable)  # the install's scripts (os_cluster), beside its python
        return (f"caas is serving clusters on {settings.base_url} for cloud {settings.cluster_cloud} (database "
                f"{'SQLite' if settings.db_url.startswith('sqlite') else 'PostgreSQL'}); its users log in with "
                "their own credentials of that cloud\n"
                f"  users, with that cloud's openrc sourced (or OS_CLOUD): CAAS_URL={settings.base_url} "
                f"{bin_dir}/os_cluster list\n"
                "  so that their CLIs find it in the cloud's catalog, as an admin of that cloud: openstack service "
                f"create --name caas caas && openstack endpoint create caas public {settings.base_url}/caas/v1\n"
                f"  dashboard: {settings.base_url}/dashboard (log in with the cloud's user, password and project)\n"
                f"  health: {settings.base_url}/healthz")
    return (f"caas is serving on {settings.base_url} (driver {settings.driver}, database "
            f"{'SQLite' if settings.db_url.startswith('sqlite') else 'PostgreSQL'})\n"
            f"  admin credentials: {d / 'admin-openrc'} (source it) or "
            f"OS_CLIENT_CONFIG_FILE={d / 'clouds.yaml'} with --os-cloud caas\n"
            f"  try: . {d / 'admin-openrc'} && openstack token issue\n"
            f"  dashboard: {settings.base_url}/dashboard (user admin, password in {d / 'admin-password'})\n"
            f"  health: {settings.base_url}/healthz\n"
            f"  compute hosts: caas host add NAME, then caas host join TOKEN on the new machine")


def _server_class():
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after a graceful shutdown, so the process would die by the
        signal; we shut down just as gracefully and then exit 0. ``on_exit`` runs first: cluster
        work must know that the API is going away before its calls to it start failing. With
        ``signals`` false the server leaves the signals alone (the agent listener: the main
        server's ``also`` are told to exit with it)."""

        on_exit = None
        signals = True
        also: tuple = ()

        def handle_exit(self, sig, frame):
            if self.on_exit is not None:
                self.on_exit()
            for other in self.also:
                other.should_exit = True
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self):
            if not self.signals:
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _agent_server(settings: Settings, cloud, log_level: str):
    """The agent API's server and its socket (None, None for a portal): TLS with the
    certificate of the data dir; its URL is written to the data dir for ``caas host add``."""
    if settings.portal:
        return None, None
    import uvicorn

    from caas.api.hosts import create_agent_app
    from caas.hosts.tls import ensure_certificate

    host, port = settings.agent_bind
    sock = bind_to(host, port, "--agent-port")
    cert, key = ensure_certificate(settings.data_dir, host)
    config = uvicorn.Config(create_agent_app(cloud.hosts), log_level=log_level, access_log=False, lifespan="off",
                            ws="none", timeout_graceful_shutdown=5, server_header=False,
                            timeout_keep_alive=KEEP_ALIVE, ssl_certfile=str(cert), ssl_keyfile=str(key))
    server = _server_class()(config)
    server.signals = False
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else (f"[{host}]" if ":" in host else host)
    settings.agent_url_file.write_text(f"https://{shown}:{sock.getsockname()[1]}\n")
    return server, sock


def _run(server, socks, agent, agent_sock) -> None:
    """Serve the API's listeners and the agents' in one event loop until a signal stops them."""
    import asyncio

    if agent is None:
        server.run(sockets=socks)
        return
    server.also = (agent,)

    async def both():
        await asyncio.gather(server.serve(sockets=socks), agent.serve(sockets=[agent_sock]))

    # the event loop uvicorn's own run would choose (uvloop where installed): on the default
    # asyncio loop every answer waited some 40 ms for the client's delayed ACK
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(both())


def serve(settings: Settings, log_level: str = "warning") -> None:
    import uvicorn

    lock = lock_data_dir(settings)
    sock = bind(settings)
    if settings.port == 0:  # an ephemeral port: the catalog must name the real one
        settings = settings.with_(port=sock.getsockname()[1])
    cloud = prepare(settings)
    from caas.api.app import create_app

    app = create_app(cloud)
    # X-Forwarded-For and -Proto only from the proxies named (uvicorn trusts 127.0.0.1 unless
    # told otherwise): the login throttle counts the client address, which a client must not pick.
    # No WebSocket route exists, so uvicorn loads no WebSocket protocol (a few MiB less).
    # Idle keep-alive connections stay open KEEP_ALIVE seconds, not uvicorn's 5: a client that
    # reuses a pooled connection as the server closes it gets a reset (the openstack CLI's
    # --wait polls, the cluster layer's openstacksdk), and 5 s of idling is common under load.
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off", ws="none",
                            timeout_graceful_shutdown=10, server_header=False, timeout_keep_alive=KEEP_ALIVE,
                            proxy_headers=bool(settings.trusted_proxies),
                            forwarded_allow_ips=settings.trusted_proxies or None)
    server = _server_class()(config)
    agent, agent_sock, guest_sock = None, None, None
    server.on_exit = cloud.clusters.engine.stopping.set
    if not settings.portal:
        def on_exit():  # cluster work first (as above), and the agents' long polls answer at once
            cloud.clusters.engine.stopping.set()
            cloud.host_commands.close()
        server.on_exit = on_exit
    try:
        agent, agent_sock = _agent_server(settings, cloud, log_level)
        guest_sock = bind_guests(settings)
        print(banner(settings), flush=True)
        _run(server, [sock] + ([guest_sock] if guest_sock else []), agent, agent_sock)
    finally:
        cloud.shutdown()
        sock.close()
        if guest_sock is not None:
            guest_sock.close()
        if agent_sock is not None:
            agent_sock.close()
        lock.close()
    print("caas stopped", file=sys.stderr, flush=True)
