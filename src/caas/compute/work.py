"""The compute workers: work on a server (build, delete, power) runs on a thread pool, one job
at a time per server and in the order submitted, and a job that fails is logged and reported
to the ``on_failure`` its submitter gave (which records it on the server) instead of killing
its worker."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

log = logging.getLogger("caas.compute")


class ServerWork:
    """``workers`` threads, and a lock per server that its work holds."""

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="caas-compute")
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock_for(self, server_id: str) -> threading.Lock:
        """The lock that work on ``server_id`` holds while it runs."""
        with self._guard:
            return self._locks.setdefault(server_id, threading.Lock())

    def forget(self, server_id: str) -> None:
        """Drop the lock of a server that is gone."""
        with self._guard:
            self._locks.pop(server_id, None)

    def submit(self, server_id: str, fn: Callable, *args, on_failure: Callable[[str], None]) -> None:
        """Run ``fn(server_id, *args)`` on a worker, after any earlier work on that server;
        ``on_failure(server_id)`` runs there (under the server's lock) if ``fn`` raised."""
        def job():
            with self.lock_for(server_id):
                try:
                    fn(server_id, *args)
                except Exception:  # noqa: BLE001 - a worker must never die silently
                    log.exception("compute work %s on server %s failed", fn.__name__, server_id)
                    on_failure(server_id)
        self.pool.submit(job)

    def shutdown(self) -> None:
        """Finish the work in progress; queued work is dropped."""
        self.pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ServerWork"]
