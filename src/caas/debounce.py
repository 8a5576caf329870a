"""``Debouncer``: one background thread that runs a piece of work after changes stop, and at
least every so often anyway. The network service's topology feed and the netns driver's
reconciler each run one (both coalesce a burst of changes into one run)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class Debouncer:
    """Runs ``work`` in a thread named ``name``: after ``changed`` once changes have stopped for
    ``debounce`` seconds (at most ten times that after the first), and every ``interval``
    seconds without a change. Runs never overlap; an exception from ``work`` is logged and the
    next change or interval tries again (``failure`` on ``logger``, with the traceback)."""

    def __init__(self, work: Callable[[], object], name: str, debounce: float, interval: float,
                 logger: logging.Logger = log, failure: str = "") -> None:
        self.work, self.name = work, name
        self.debounce, self.interval = debounce, interval
        self.logger, self.failure = logger, failure or f"{name} failed"
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once; a second start while it runs does nothing)."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a run in progress finishes first; at most ``timeout`` is waited)."""
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def changed(self) -> None:
        """Something changed: run soon (changes within ``debounce`` of each other coalesce)."""
        with self._idle:
            self._dirty.set()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no change is pending and no run is under way; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._dirty.is_set() or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            fired = self._dirty.wait(self.interval)
            if self._stopping.is_set():
                return
            with self._idle:
                self._busy = True  # from here settle() waits, the debounce included
            try:
                if fired:
                    self._quiet()
                # Cleared before the work reads its input: a change after this point sets it
                # again and gets a run of its own.
                self._dirty.clear()
                self.work()
            except Exception:  # the thread must survive; the next change or interval retries
                self.logger.exception(self.failure)
            finally:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()

    def _quiet(self) -> None:
        """Wait for changes to stop for ``debounce`` seconds (at most ten times that)."""
        deadline = time.monotonic() + 10 * self.debounce
        while time.monotonic() < deadline:
            self._dirty.clear()
            if not self._dirty.wait(self.debounce):
                return
