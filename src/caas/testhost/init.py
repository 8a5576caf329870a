"""The first process of a test host: ``python -m caas.testhost.init init FD HOSTNAME PROCS...``,
started by ``unshare`` in the test host's new network, mount, UTS, IPC and PID namespaces (it is
pid 1 there); it joins the test host's cgroup (writing to each ``cgroup.procs`` file PROCS).
``python -m caas.testhost.init join PROCS... -- COMMAND...`` joins a cgroup and becomes COMMAND
(``exec`` and the agent enter the test host's namespaces with nsenter, which keeps the caller's
cgroup): 127 with a message if COMMAND is not found, as nsenter.

It makes the mount namespace the test host's own where a netns driver inside would otherwise
share the machine's files: a fresh tmpfs on /run (so /run/netns, the namespaces ``ip netns``
names, and /run/caas-netns.lock, the driver's one-per-machine lock, are the test host's), sets
the host name, writes ``ok`` (or the error) on file descriptor FD and closes it, then reaps
orphans until it is killed. Its death ends the PID namespace: the kernel kills every process of
the test host, and with the last of them go its network, mount and UTS namespaces.

Standard library only: it starts in each ``up``, and pid 1 of a namespace must start fast.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys


def _reap(*_: object) -> None:
    """Collect every exited child (orphans of the test host are re-parented to us)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _prepare(hostname: str) -> None:
    """The mounts and the host name; CalledProcessError or OSError if the kernel refuses."""
    # unshare made the mounts private (--propagation private): nothing here reaches the machine.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "caas-testhost-run", "/run"],
                   check=True, capture_output=True, timeout=10)
    for d in ("/run/netns", "/run/lock"):
        os.makedirs(d, exist_ok=True)
    socket.sethostname(hostname)


def _join(procs: list[str]) -> None:
    for path in procs:
        with open(path, "w") as f:
            f.write("0")  # 0: the writing process itself (no pid to translate between namespaces)


def _become(argv: list[str]) -> int:
    """``join PROCS... -- COMMAND...``: join the cgroup, then exec COMMAND."""
    cut = argv.index("--")
    command = argv[cut + 1:]
    try:
        _join(argv[:cut])
    except OSError as exc:
        print(f"testhost: cannot join the test host's cgroup: {exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"testhost: failed to execute {command[0]}: {exc.strerror}", file=sys.stderr)
    return 127


def main(argv: list[str]) -> int:
    if argv[0] == "join":
        return _become(argv[1:])
    fd, hostname, procs = int(argv[1]), argv[2], argv[3:]
    try:
        _join(procs)
        _prepare(hostname)
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        os.write(fd, f"error: {exc} {err.decode(errors='replace').strip()}\n".encode())
        return 1
    os.write(fd, b"ok\n")
    os.close(fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):  # nothing of the caller's terminal or pipes stays open
        os.dup2(devnull, std)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # pid 1 ignores signals it does not handle
    _reap()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
