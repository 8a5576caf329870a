"""``--os-cloud NAME`` on every ``caas cluster`` and ``caas node`` command: no caas server; the
cluster service runs in the command's own process against cloud NAME of the user's clouds.yaml
(the openstack CLI's files: ``OS_CLIENT_CONFIG_FILE``, ./clouds.yaml,
~/.config/openstack/clouds.yaml, and secure.yaml as openstacksdk finds it).

``Standalone`` is what such a command runs in: the cloud's journal (SQLite, ``caas.db``) in the
client home, ``$CAAS_CLIENT_HOME/NAME`` (default ``~/.local/share/caas/clients/NAME``, 0700),
held by one command at a time (its lock file: a second command waits ``LOCK_WAIT`` s, then
fails saying which command holds it); a ``caas.portal.Portal`` of the cloud, checked (one line
saying why it cannot be worked with) and served by uvicorn on 127.0.0.1 (an ephemeral port, in
a thread) for this process only; and a ``ClusterClient`` on the user's own session, whose token
the portal validates as any portal does. The commands run unchanged through it: the real API
handlers, the same engine.

Work that outlives a command (``--no-wait``, Ctrl-C, SIGTERM) stays in the journal and is
resumed by the next command with ``--os-cloud`` for the same cloud, before it does anything
else, with the cluster's application credential (``resume_pending``): an interrupted create is
made again from nothing (``caas.clusters.restart``), an add likewise for its nodes, a removal or
a delete is finished. The engine's log goes to ``caas.log`` in the client home.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Callable, Iterator, Optional

import typer

from caas.cli import clusters as commands
from caas.cli.client import ClusterClient
from caas.cli.local import CLIError, config_dir, key_path, private_dir

ENV_HOME = "CAAS_CLIENT_HOME"
ENV_LOCK_WAIT = "CAAS_CLIENT_LOCK_WAIT"
LOCK_WAIT = 10.0  # seconds a command waits for another one of the same cloud to end
_SAFE_CLOUD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ACTIVE: list["Standalone"] = []  # the service the running command is served by (adopt needs it)

OsCloudOption = Annotated[Optional[str], typer.Option(
    "--os-cloud", metavar="NAME",
    help="No caas server: run the cluster service in this command against cloud NAME of your clouds.yaml "
         "(journal in $CAAS_CLIENT_HOME/NAME, default ~/.local/share/caas/clients/NAME).")]


def client_home(cloud: str, environ: dict | None = None) -> Path:
    """The data dir of cloud ``cloud``'s journal; CLIError (2) when the name is no safe file name."""
    env = os.environ if environ is None else environ
    if not _SAFE_CLOUD.fullmatch(cloud or ""):
        raise CLIError(f"--os-cloud {cloud[:80]!r}: a cloud name here is letters, digits, '.', '_' and '-' "
                       "(it names the directory of its journal)", 2)
    base = Path(env.get(ENV_HOME) or "~/.local/share/caas/clients").expanduser()
    return base / cloud


def _lock(home: Path, cloud: str):
    """The journal's lock, waited for ``$CAAS_CLIENT_LOCK_WAIT`` (default LOCK_WAIT) s at most."""
    from caas.lockfile import Held, hold

    try:
        wait = float(os.environ.get(ENV_LOCK_WAIT) or LOCK_WAIT)
    except ValueError:
        raise CLIError(f"{ENV_LOCK_WAIT} must be a number of seconds") from None
    holder = f"pid {os.getpid()}: caas {' '.join(a for a in sys.argv[1:3] if not a.startswith('-'))}"
    deadline, said = time.monotonic() + wait, False
    while True:
        try:
            return hold(home / "caas.lock", holder)  # the lock of caas up --data-dir too
        except Held as held:
            if time.monotonic() >= deadline:
                raise CLIError(f"another caas command is working with the clusters of cloud {cloud} ({held.holder}); "
                               "run this one when it has ended") from None
            if not said:
                print(f"waiting for another caas command on cloud {cloud} ({held.holder})", file=sys.stderr,
                      flush=True)
                said = True
            time.sleep(0.2)


def _log_to(path: Path) -> logging.Handler:
    """The engine's log (and every library's warnings) to ``path``, never to the terminal."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    logging.getLogger("caas").setLevel(logging.INFO)
    return handler


class Standalone:
    """One command's cluster service for cloud ``cloud`` (see the module's docstring)."""

    def __init__(self, cloud: str) -> None:
        self.cloud = cloud
        self.home = client_home(cloud)
        self._stack = contextlib.ExitStack()
        self.portal = None
        self.client: ClusterClient | None = None

    # ---- start --------------------------------------------------------------------------
    def start(self) -> ClusterClient:
        """Lock, journal, the cloud checked, the API served: the client the commands use.
        CLIError (1) saying why in one line when the cloud cannot be worked with."""
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self.client

    def _start(self) -> None:
        from caas.config import Settings
        from caas.portal import Portal, PortalError

        private_dir(self.home)
        self._stack.enter_context(_lock(self.home, self.cloud))
        handler = _log_to(self.home / "caas.log")
        self._stack.callback(logging.getLogger().removeHandler, handler)
        try:
            settings = Settings(data_dir=self.home, portal=True, cluster_cloud=self.cloud, driver="fake",
                                host="127.0.0.1", port=0)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        self._migrate(settings.db_url)
        try:
            self.portal = Portal(settings)
            self._stack.callback(self._report_pending)  # once its work has stopped
            self._stack.callback(self.portal.shutdown)
            self.portal.secrets.setup()
            self.portal.check()
        except PortalError as exc:
            raise CLIError(str(exc)) from None
        # the work stops first, as caas up's on_exit: it must not fail on the API going away
        self._stack.callback(self.portal.clusters.engine.stopping.set)
        url = self._serve()
        self.client = ClusterClient(self.portal.clusters.access.admin().session, url)

    @staticmethod
    def _migrate(db_url: str) -> None:
        from caas.db import migrate

        if not migrate.is_current(db_url):
            try:
                migrate.upgrade(db_url)
            except Exception as exc:  # noqa: BLE001 - one line, not Alembic's traceback
                raise CLIError(f"cannot bring the journal {db_url} up to date: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:300]}") from None

    def _serve(self) -> str:
        """The portal's app on 127.0.0.1 (an ephemeral port) in a thread; its base URL."""
        import socket

        import uvicorn

        from caas.api.app import create_app
        from caas.server import KEEP_ALIVE

        sock = self._stack.enter_context(socket.socket())
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        config = uvicorn.Config(create_app(self.portal, dashboard_ui=False), log_level="warning", access_log=False,
                                lifespan="off", ws="none", log_config=None, timeout_keep_alive=KEEP_ALIVE,
                                server_header=False)
        server = uvicorn.Server(config)  # in a thread: it installs no signal handler
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="caas-client-api",
                                  daemon=True)
        thread.start()
        self._stack.callback(thread.join, 15)
        self._stack.callback(setattr, server, "should_exit", True)
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise CLIError("the in-process cluster service did not start (see "
                               f"{self.home / 'caas.log'})")
            time.sleep(0.01)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def close(self) -> None:
        self._stack.close()

    # ---- work left by earlier commands --------------------------------------------------
    def token(self) -> str:
        return self.portal.clusters.access.admin().session.get_token()

    def resume_pending(self) -> None:
        """Finish (or roll back) what earlier commands left in the journal, saying so on
        stderr, and wait for it: the command then finds its clusters idle."""
        from caas.clusters import restart

        service = self.portal.clusters
        pending = restart.pending(service.db)
        if not pending:
            return
        token = self.token()
        jobs = {}
        pool = cf.ThreadPoolExecutor(len(pending), thread_name_prefix="caas-client-resume")
        try:
            for c in pending:
                _say(f"cluster {c.name}: resuming its {c.operation}, left unfinished by an earlier caas command")
                user_key = restart.user_key(service, c, key_path(config_dir(), c.id))
                jobs[pool.submit(restart.resume, service.engine, c.id, token, user_key, True)] = c
            for job in cf.as_completed(jobs):
                job.result()
                _say(restart.outcome(service.engine.journal, jobs[job]))
        except BaseException:  # Ctrl-C, SIGTERM: the work stops at its next step, recorded
            service.engine.stopping.set()
            raise
        finally:
            pool.shutdown(wait=True)

    def adopt(self, ref: str) -> str:
        """``caas.clusters.adopt`` with the user's token; the cluster's id. CLIError saying why not."""
        from caas.clusters import adopt
        from caas.errors import CaasError

        try:
            return adopt.adopt(self.portal.clusters, self.portal.tokens.validate(self.token()), ref)
        except CaasError as exc:
            raise CLIError(exc.message) from None

    def _report_pending(self) -> None:
        """Say which clusters' work this command leaves for the next one."""
        from caas.clusters import restart

        if self.client is None:  # it never served: nothing was asked of it
            return
        for c in restart.pending(self.portal.clusters.db):
            _say(f"cluster {c.name}: its {c.operation} is not finished; the next caas command with --os-cloud "
                 f"{self.cloud} resumes it (its journal: {self.home / 'caas.db'})")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM as Ctrl-C: the command ends through its cleanup, leaving the work recorded (a
    second SIGTERM does not cut that cleanup short)."""
    raised = []

    def interrupt(signum, frame):
        if not raised:
            raised.append(signum)
            raise KeyboardInterrupt()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def serving(cloud: str) -> Iterator[Standalone]:
    """Run the commands of this process against cloud ``cloud`` with no server: the client seam
    (``clusters.make_client``) gives the in-process service's client meanwhile."""
    standalone = Standalone(cloud)
    previous = (commands.make_client, commands.STOPPED_WAITING)
    with _sigterm_interrupts():
        try:
            client = standalone.start()
            _ACTIVE.append(standalone)
            commands.make_client = lambda: client
            commands.STOPPED_WAITING = ("stopped waiting; the {operation} of cluster {name} stops with this command "
                                        f"and the next caas command with --os-cloud {cloud} resumes it")
            standalone.resume_pending()
            yield standalone
        finally:
            if standalone in _ACTIVE:
                _ACTIVE.remove(standalone)
            commands.make_client, commands.STOPPED_WAITING = previous
            standalone.close()


@commands.cli_errors
def adopt(ref: commands.ClusterArg, fmt: commands.FormatOption = commands.Format.table) -> None:
    """Rebuild a cluster's entry in this machine's journal from the cloud alone (its tags and its
    servers' metadata), after the journal was lost: with --os-cloud only."""
    if not _ACTIVE:
        raise CLIError("caas cluster adopt works with --os-cloud NAME only: a caas server keeps its own journal", 2)
    cluster_id = _ACTIVE[-1].adopt(ref)
    cluster = commands.make_client().get_cluster(cluster_id)
    key = key_path(config_dir(), cluster_id)
    if key.is_file():
        note = f"its generated private key is still in {key} (caas cluster ssh {cluster['name']})"
    elif cluster.get("keypair_generated"):
        note = (f"its generated private key is not on this machine: copy it from the one that created the cluster "
                f"to {key} (mode 0600) to log in with caas cluster ssh")
    else:
        note = f"log in with your key pair {cluster.get('key_name')}"
    _say(f"adopted cluster {cluster['name']} ({cluster_id}): {note}; caas no longer logs in to its nodes (their "
         "cluster key is not in the cloud): ready is servers")
    commands.show_cluster(cluster, fmt)


def with_os_cloud(fn: Callable) -> Callable:
    """``fn`` (a typer command) with the option ``--os-cloud NAME`` added: given, ``fn`` runs
    inside ``serving(NAME)``; setup failures are one ``caas: error:`` line and exit 1 (2 for a
    name that is no safe file name)."""
    signature = inspect.signature(fn, eval_str=True)
    if "os_cloud" in signature.parameters:
        return fn

    def command(*args, os_cloud: Optional[str] = None, **kwargs):
        if os_cloud is None:
            return fn(*args, **kwargs)
        try:
            with serving(os_cloud):
                return fn(*args, **kwargs)
        except CLIError as exc:
            typer.echo(f"caas: error: {exc.message}", err=True)
            raise typer.Exit(code=exc.code) from None
        except KeyboardInterrupt:  # outside the commands' own waiting (which says what it stopped)
            typer.echo("caas: error: interrupted", err=True)
            raise typer.Exit(code=130) from None

    params = list(signature.parameters.values())
    params.append(inspect.Parameter("os_cloud", inspect.Parameter.KEYWORD_ONLY, default=None,
                                    annotation=OsCloudOption))
    command.__signature__ = signature.replace(parameters=params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__, command.__doc__, command.__module__ = fn.__name__, fn.__doc__, fn.__module__
    return command


def add_os_cloud(*apps: typer.Typer) -> None:
    """Give every command of ``apps`` the option ``--os-cloud`` (``with_os_cloud``)."""
    for app in apps:
        for info in app.registered_commands:
            info.callback = with_os_cloud(info.callback)
