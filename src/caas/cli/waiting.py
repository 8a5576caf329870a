"""Waiting for a cluster: ``wait_for`` polls it until ACTIVE (or gone), with a live status
line on a terminal (rich, imported then) and plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from caas.cli.client import ClusterAPIError, ClusterClient
from caas.cli.local import safe_id
from caas.cli.output import status_line

POLL_INTERVAL = 0.5
DEFAULT_TIMEOUT = 1800.0


class WaitFailed(Exception):
    """The wait ended without the state waited for; ``gone``: the cluster disappeared."""

    def __init__(self, cluster: dict, reason: str, gone: bool = False) -> None:
        super().__init__(reason)
        self.cluster = cluster
        self.reason = reason
        self.gone = gone


class Progress:
    """A live status line on a terminal; elsewhere a plain line whenever status, step or
    node counts change."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console

        self.stream = stream
        self.console = Console(file=stream, highlight=False)
        self.live = self.console.is_terminal
        self.status = None
        self.last_key: tuple | None = None
        self.last_line = ""

    def update(self, cluster: dict, elapsed: float) -> None:
        from rich.text import Text

        self.last_line = status_line(cluster, elapsed)
        if self.live:
            if self.status is None:
                self.status = self.console.status(Text(self.last_line))
                self.status.start()
            else:
                self.status.update(Text(self.last_line))
            return
        key = tuple(cluster.get(k) for k in ("status", "step", "nodes_ready", "node_count"))
        if key != self.last_key:
            self.last_key = key
            print(self.last_line, file=self.stream, flush=True)

    def close(self) -> None:
        from rich.text import Text

        if self.status is not None:
            self.status.stop()
            self.console.print(Text(self.last_line))


def wait_for(client: ClusterClient, cluster: dict, *, gone: bool = False, timeout: float = DEFAULT_TIMEOUT,
             stream: TextIO | None = None, interval: float = POLL_INTERVAL,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict | None:
    """Poll the cluster every ``interval`` seconds until it is ACTIVE (or, with ``gone``, until
    GET answers 404: then None). ``cluster`` is the action's answer, shown first and never
    judged: the status that counts is the one polled after it. WaitFailed when the cluster
    goes to ERROR or DEGRADED (a node down), disappears while it should become ACTIVE, or
    ``timeout`` passes."""
    progress = Progress(stream or sys.stdout)
    ref = safe_id(cluster.get("id"))
    start = clock()
    try:
        progress.update(cluster, 0)
        while True:
            sleep(interval)
            try:
                cluster = client.get_cluster(ref)
            except ClusterAPIError as exc:
                if exc.status != 404:
                    raise
                if gone:
                    return None
                raise WaitFailed(cluster, f"cluster {cluster.get('name')} is gone", gone=True) from exc
            elapsed = clock() - start
            progress.update(cluster, elapsed)
            if cluster.get("status") in ("ERROR", "DEGRADED"):  # settled, not ACTIVE: say why
                raise WaitFailed(cluster, f"cluster {cluster.get('name')} is {cluster.get('status')}: "
                                          f"{cluster.get('status_reason') or 'no reason given'}")
            if not gone and cluster.get("status") == "ACTIVE":
                return cluster
            if elapsed >= timeout:
                raise WaitFailed(cluster, f"timed out after {timeout:g}s waiting for cluster {cluster.get('name')} "
                                          f"(status {cluster.get('status')}, step {cluster.get('step')})")
    finally:
        progress.close()
