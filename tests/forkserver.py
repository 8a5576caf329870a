"""Warm processes for the tests: ``caas up`` servers and ``openstack`` commands forked from a
process that has made their imports once, instead of a new interpreter for each.

A new ``caas up`` spends about 1.5 s of CPU on imports before it does anything; a new
``openstack`` command about 1.3 s. The suite starts some hundred of each, on two cores. A fork
server imports them once per test process (``ForkServer("caas")``, ``ForkServer("openstack")``)
and forks a child per command: a process of its own, with the stdin, stdout and stderr it is
given, exactly the environment it is given, its own pid to signal, and its exit status, which
runs the program's own entry point (``caas.cli.main.main``, ``openstackclient.shell.main``) and
exits as the interpreter does, up to the end of its atexit functions and the flush of stdout and
stderr (``_exit``). What differs from a new process is what the imports left in memory, and
nothing else: the fork server runs no thread, opens no connection and reads no setting before it
forks (it reads what is installed: the CLI's entry points, which cliff and stevedore cache).

The price of a fork was, at first, most of that of a new process (0.55 s of CPU per ``openstack``
command against 1.3 s): each child's garbage collections and its interpreter's teardown walked
every object the imports had made, copying the fork server's memory page by page. The fork
server now freezes its objects out of the collector (``gc.freeze``, as for pre-fork servers)
before it forks, and a child ends with ``os._exit`` once its program has ended as above: about
0.09 s per command. ``tests/test_up.py`` and each CLI sequence's first command
still start the real scripts as new processes, and ``CAAS_TEST_FORK=0`` starts every one anew.

This file is also the fork server itself: ``python forkserver.py KIND FD``, with ``FD`` one end
of a SOCK_SEQPACKET Unix socket. A request is a JSON message (``argv``, ``env``, ``cwd``) with
three file descriptors (stdin, stdout, stderr); the answer is ``{"pid": N}`` once the child runs,
and ``{"exited": N, "status": S}`` when it has ended (S as ``Popen.returncode`` gives it).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

BIN = Path(sys.executable).parent


# ---- the fork server --------------------------------------------------------------------
def _preload_caas() -> None:
    """Import every module of caas that ``caas up`` may use (not the migrations, which caas runs
    in a process of their own), and the cloud client its cluster layer uses."""
    import pkgutil

    import caas
    import openstack.connection  # noqa: F401 - the point is the import

    for mod in pkgutil.walk_packages(caas.__path__, "caas."):
        if ".migrations" not in mod.name:
            try:
                __import__(mod.name)
            except Exception:  # noqa: BLE001 - left to fail where a command imports it
                pass
    _preload_entry_points()


def _preload_openstack() -> None:
    """Import the CLI's shell and every command module it can run (each command imports one)."""
    from importlib.metadata import distributions

    sys.argv = [str(BIN / "openstack")]  # cliff names its program after it when first imported
    import openstackclient.shell  # noqa: F401 - the point is the import

    for ep in (ep for d in distributions() for ep in d.entry_points):
        if ep.group.startswith("openstack.") and ep.group != "openstack.cli.base":
            try:
                ep.load()
            except Exception:  # noqa: BLE001 - left to fail where a command imports it
                pass
    import cliff.command

    # what each command would otherwise find on first use: the installed distributions by
    # module (cliff, for a command's help epilog)
    cliff.command._get_distributions_by_modules()
    _preload_entry_points()


def _preload_entry_points() -> None:
    """Read the installed entry points into stevedore's cache (every plugin lookup of the CLIs,
    keystoneauth's and openstacksdk's reads it)."""
    import stevedore._cache

    stevedore._cache._c._get_data_for_path(None)


# caas's programs (pyproject.toml's scripts): the fork server of kind "caas" runs each by name
CAAS_PROGRAMS = {"caas": "caas.cli.main:main", "os_cluster": "caas.cli.os_commands:os_cluster_main",
                 "os_node": "caas.cli.os_commands:os_node_main"}


def _run_caas(argv: list[str]) -> int:
    import importlib

    module, _, function = CAAS_PROGRAMS[Path(argv[0]).name].partition(":")
    return getattr(importlib.import_module(module), function)()


def _run_openstack(argv: list[str]):
    from openstackclient.shell import main

    return main(argv[1:])


KINDS = {"caas": (_preload_caas, _run_caas), "openstack": (_preload_openstack, _run_openstack)}


def serve(kind: str, fd: int) -> dict | None:
    """Answer requests on the socket ``fd`` until it closes (then None). In a forked child,
    return its request, with its stdin, stdout and stderr in place."""
    KINDS[kind][0]()
    gc.collect()
    gc.freeze()  # the children's collections never walk (and so never copy) what the imports made
    sock = socket.socket(fileno=fd)
    children: dict[int, int] = {}  # pidfd -> pid
    while True:
        ready, _, _ = select.select([sock, *children], [], [])
        for r in ready:
            if r is not sock:
                pid = children.pop(r)
                os.close(r)
                _, status = os.waitpid(pid, 0)
                sock.send(json.dumps({"exited": pid, "status": os.waitstatus_to_exitcode(status)}).encode())
                continue
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 3)
            if not msg:
                return None
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                sock.close()
                for pidfd in children:
                    os.close(pidfd)
                for target, f in enumerate(fds):
                    os.dup2(f, target)
                    os.close(f)
                return json.loads(msg)
            for f in fds:
                os.close(f)
            children[os.pidfd_open(pid)] = pid
            sock.send(json.dumps({"pid": pid}).encode())


def _become(kind: str, request: dict) -> None:
    """In the child: take the request's environment, directory and argv, run the program and
    exit with its status (``_exit``)."""
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
    if os.environ.get("PYTHONUNBUFFERED"):
        sys.stdout.reconfigure(write_through=True)
        sys.stderr.reconfigure(write_through=True)
    sys.argv = list(request["argv"])
    try:
        code = KINDS[kind][1](sys.argv)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:  # noqa: BLE001 - reported as the interpreter reports it, status 1
        sys.excepthook(*sys.exc_info())
        code = 1
    _exit(code)


def _exit(code) -> None:
    """End as the interpreter ends a program that exits with ``code`` (``sys.exit``'s
    argument), without its teardown of every module and object: wait for the non-daemon
    threads, run the atexit functions, flush stdout and stderr, then ``os._exit``."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # what Py_FinalizeEx does first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit((code or 0) & 0xFF)


# ---- the tests' side --------------------------------------------------------------------
class ForkedProcess:
    """A child of a fork server, as much of ``subprocess.Popen`` as the tests use."""

    def __init__(self, args: list[str], pid: int) -> None:
        self.args, self.pid = args, pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, status: int) -> None:
        self.returncode = status
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """One fork server of ``kind`` ("caas" or "openstack") for this test process, and the
    thread that reads its answers."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, __file__, kind, str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self._lock = threading.Lock()  # one request at a time
        self._registry = threading.Lock()  # _children and _early, shared with the reader
        self._pids: queue.Queue = queue.Queue()
        self._children: dict[int, ForkedProcess] = {}
        self._early: dict[int, int] = {}  # exits read before their spawn registered the child
        threading.Thread(target=self._read, name=f"forkserver-{kind}", daemon=True).start()

    def spawn(self, argv: list[str], env: dict, stdin=None, stdout=None, stderr=None,
              cwd: str | None = None) -> ForkedProcess:
        """Fork ``argv`` (its program's path first) with exactly ``env``; ``stdin``,
        ``stdout``, ``stderr`` are open files (None: /dev/null; ``subprocess.STDOUT`` for
        stderr: where stdout goes)."""
        with open(os.devnull, "r+b") as null, self._lock:
            err = (stdout or null) if stderr == subprocess.STDOUT else (stderr or null)
            files = [stdin or null, stdout or null, err]
            request = json.dumps({"argv": [str(a) for a in argv], "env": dict(env), "cwd": cwd}).encode()
            socket.send_fds(self.sock, [request], [f.fileno() for f in files])
            pid = self._pids.get(timeout=60)
        child = ForkedProcess(list(argv), pid)
        with self._registry:
            early = self._early.pop(pid, None)
            if early is None:
                self._children[pid] = child
        if early is not None:
            child._exited(early)
        return child

    def run(self, argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
        """``argv`` to its end, as ``subprocess.run(argv, env=env, stdin=DEVNULL,
        capture_output=True, text=True, timeout=timeout)`` does."""
        import locale
        import tempfile

        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            child = self.spawn(argv, env, stdout=out, stderr=err)
            try:
                status = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read().decode(locale.getpreferredencoding(False))
                             .replace("\r\n", "\n").replace("\r", "\n"))
        return subprocess.CompletedProcess(list(argv), status, *texts)

    def _read(self) -> None:
        while True:
            try:
                msg = self.sock.recv(1 << 16)
            except OSError:
                return
            if not msg:
                return
            answer = json.loads(msg)
            if "pid" in answer:
                self._pids.put(answer["pid"])
                continue
            pid, status = answer["exited"], answer["status"]
            with self._registry:
                child = self._children.pop(pid, None)
                if child is None:
                    self._early[pid] = status
            if child is not None:
                child._exited(status)


class FirstAnew:
    """Runs a module's commands of ``kind`` as ``subprocess.run(argv, env=env, stdin=DEVNULL,
    capture_output=True, text=True, timeout=timeout)`` does: the first as a new process (the
    real script, as a user starts it), the others forked from the warm ``kind``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.started = False

    def __call__(self, argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
        if self.started and forking():
            return fork_server(self.kind).run(argv, env, timeout)
        self.started = True
        return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)


_servers: dict[str, ForkServer] = {}
_servers_lock = threading.Lock()


def forking() -> bool:
    """Whether the tests fork their processes from warm ones (CAAS_TEST_FORK=0: never)."""
    return os.environ.get("CAAS_TEST_FORK", "1") != "0"


def fork_server(kind: str) -> ForkServer:
    """This test process's fork server of ``kind``, started on first use."""
    with _servers_lock:
        if kind not in _servers or _servers[kind].proc.poll() is not None:
            _servers[kind] = ForkServer(kind)
        return _servers[kind]


if __name__ == "__main__":
    _kind = sys.argv[1]
    _request = serve(_kind, int(sys.argv[2]))
    if _request is not None:
        _become(_kind, _request)
