"""The real ``openstack`` CLI (python-openstackclient) for the end-to-end tests, three ways.

``osc_process`` runs it as a process, as a user does: an interpreter and the whole client stack
start for each call (about 1.3 s of CPU before any work). ``osc_forked`` runs it as a process
forked from a warm one that has made those imports once per test process (tests/forkserver.py):
the CLI's own entry point in a process of its own, with its own stdin, stdout, stderr,
environment and exit status, for the price of a fork. Each service keeps
one sequence on them (see the README's "Tests" section), through a ``Sequence``: its first call
is a new process, the first call of each other command (``image set``, ``security group rule
create``: the CLI's own name for it) a forked one, and the repeats with other arguments run in
the test process. Their stdin is empty (/dev/null), so that a command that reads stdin when it
is no terminal (``image create`` without ``--file``) reads the same whoever runs the tests.

``osc`` runs the same CLI as a library in the test process, through its own shell entry point
(``openstackclient.shell.main(argv)``, which builds an ``OpenStackShell`` and runs ``argv``),
and gives what the process would have given: a ``subprocess.CompletedProcess`` with its stdout
and stderr text and its exit status. What the process would not share is kept apart per call:
the environment (the shell reads OS_* from ``os.environ`` when it builds its parser and its
cloud config, so ``os.environ`` is exactly ``env`` during the call), stdin (empty, as above),
``sys.argv`` (argparse names the program after it, as in "usage: openstack ..."), the root
logger (each run adds a console handler writing to stderr and sets levels), the warning
filters, and ``sys.exit`` (argparse exits with 2 on a bad option). A lock makes calls from
threads take turns.

Both fail the test on a non-zero exit unless ``check=False``, showing the command's output.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.forkserver import fork_server, forking

OPENSTACK = shutil.which("openstack", path=str(Path(sys.executable).parent)) or shutil.which("openstack")
requires_cli = pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed")

_LOCK = threading.Lock()


def osc_process(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``openstack ARGS`` as a new process with environment ``env``."""
    proc = subprocess.run([OPENSTACK, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    return _checked(proc, check)


def osc_forked(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``openstack ARGS`` as a process forked from this test process's warm CLI (a fork server,
    tests/forkserver.py), with environment ``env``: what ``osc_process(env, *args)`` gives.
    With CAAS_TEST_FORK=0, ``osc_process`` itself."""
    if not forking():
        return osc_process(env, *args, check=check)
    return _checked(fork_server("openstack").run([OPENSTACK, *args], env, timeout=120), check)


def osc(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``openstack ARGS`` in this process, with environment ``env``: the stdout, stderr and exit
    status that ``osc_process(env, *args)`` gives."""
    out, err = io.StringIO(), io.StringIO()
    with _LOCK, _environment(env), _argv([OPENSTACK or "openstack", *args]), _own_logging(), \
            _process_warnings(), _stdin_from(os.devnull), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = _run_shell(list(args))
    return _checked(subprocess.CompletedProcess([OPENSTACK, *args], code, out.getvalue(), err.getvalue()), check)


def osc_json(env: dict, *args: str):
    """``openstack ARGS -f json`` in this process, parsed."""
    return json.loads(osc(env, *args, "-f", "json").stdout)


def osc_process_json(env: dict, *args: str):
    """``openstack ARGS -f json`` as a process, parsed."""
    return json.loads(osc_process(env, *args, "-f", "json").stdout)


class Sequence:
    """A seed sequence as a user types it, one process per kind of command: the sequence's first
    call runs as a new process (``osc_process``), the first call of each other command as a
    forked one (``osc_forked``), their repeats with other arguments in the test process
    (``osc``, which answers as the process does)."""

    def __init__(self) -> None:
        self.ran: set[str] = set()

    def __call__(self, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        name = command_name(args)
        if name in self.ran:
            return osc(env, *args, check=check)
        first = not self.ran
        self.ran.add(name)
        return (osc_process if first else osc_forked)(env, *args, check=check)

    def json(self, env: dict, *args: str):
        """``ARGS -f json``, parsed."""
        return json.loads(self(env, *args, "-f", "json").stdout)


def command_name(args: tuple[str, ...]) -> str:
    """The CLI's name for the command ``args`` run (``"flavor delete"``), after the global
    options before it (``--os-compute-api-version 2.37``), as cliff finds it."""
    args = list(args)
    while args and args[0].startswith("-"):
        del args[:1 if "=" in args[0] else 2]
    return _commands().find_command(args)[1]


@functools.cache
def _commands():
    """Every command of the installed ``openstack`` CLI (its entry point groups). Under the
    CLI's own ``sys.argv``: cliff names its program after ``sys.argv[0]`` when first imported
    (``App.NAME``, in "usage: openstack image list")."""
    from importlib.metadata import distributions

    with _argv([OPENSTACK or "openstack"]):
        from cliff.commandmanager import CommandManager

        manager = CommandManager("openstack.cli")
        for group in sorted({ep.group for d in distributions() for ep in d.entry_points
                             if ep.group.startswith("openstack.")}):
            manager.add_command_group(group)
    return manager


def _checked(proc: subprocess.CompletedProcess, check: bool) -> subprocess.CompletedProcess:
    if check:
        assert proc.returncode == 0, f"openstack {' '.join(proc.args[1:])} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _run_shell(argv: list[str]) -> int:
    """What the ``openstack`` script does, ``sys.exit(main())``, with the exit status returned."""
    from openstackclient.shell import main

    _forget_clients()
    try:
        return _exit_status(main(argv))
    except SystemExit as exc:
        return _exit_status(exc.code)


def _forget_clients() -> None:
    """osc-lib caches each service's client (image, volume, ...) in a ``ClientCache`` descriptor
    on the ``ClientManager`` class, for the whole process: the next shell would reuse the last
    one's client, its session and its user. A process starts with none."""
    from osc_lib.clientmanager import ClientCache
    from openstackclient.common.clientmanager import ClientManager

    for cls in ClientManager.__mro__:
        for attribute in vars(cls).values():
            if isinstance(attribute, ClientCache):
                attribute._handle = None


def _exit_status(code) -> int:
    """The process's exit status after ``sys.exit(code)`` (a message goes to stderr, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _environment(env: dict) -> Iterator[None]:
    """``os.environ`` is exactly ``env`` inside, and as it was after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _stdin_from(path: str) -> Iterator[None]:
    """``sys.stdin`` reads ``path`` inside (the shell reads image data from a stdin that is no
    terminal; pytest's own refuses to be read)."""
    saved = sys.stdin
    with open(path) as stdin:
        sys.stdin = stdin
        try:
            yield
        finally:
            sys.stdin = saved


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def _process_warnings() -> Iterator[None]:
    """A new interpreter's warning filters inside (it ignores deprecations outside __main__;
    pytest shows them all), and the test's own after."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        yield


@contextlib.contextmanager
def _own_logging() -> Iterator[None]:
    """The shell's logging starts as in a new process (no root handler: pytest's capture is set
    aside) and leaves nothing behind: its console handler goes, every logger's level comes back."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {name: logger.level for name, logger in logging.Logger.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    root_level = root.level
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))

