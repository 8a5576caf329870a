"""The first process of a test host: ``python -m caas.testhost.init FD HOSTNAME``, started by
``unshare`` in the test host's new network, mount, UTS, IPC and PID namespaces (it is pid 1 there).

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


def main(argv: list[str]) -> int:
    fd, hostname = int(argv[0]), argv[1]
    try:
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
