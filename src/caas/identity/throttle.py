"""Failed-login throttling: after a budget of failures, a key waits before its next attempt.

A key names what is counted: ``("user", domain, name)``, ``("addr", "192.0.2.7")``; its first
element, the kind, chooses its ``Budget``. A login attempt is claimed for all its keys at once
(``begin``), before the password is checked, so that parallel guesses cannot all pass a check
made before any of them failed; the claim then ends as ``failed``, ``succeeded`` or ``released``
(no verdict: the check itself could not be made).

After ``limit`` failures of a key, its next attempt waits ``delay`` seconds from the last
failure, and each further failure multiplies the wait by ``factor``, up to ``max_delay``. While
a key waits, ``begin`` refuses with ``TooManyRequests`` and counts nothing (a refused attempt
tries no password). A key's failures are forgotten ``forget`` seconds after its last one; a
success forgets them only for budgets with ``reset_on_success`` (a user's own counter, not a
client address's: logging in to one's own account must not buy more guesses at others).

Keystone's PCI-DSS lockout is the budget ``Budget(limit=lockout_failure_attempts,
delay=lockout_duration, max_delay=lockout_duration, factor=1, forget=lockout_duration)``: locked
for the duration after the last failure, then counted from zero.

The state is in memory, per process: several API processes (sharing one PostgreSQL) each keep
their own counts. Each kind tracks at most ``max_keys`` keys, the ones that failed least
recently going first, so that sprayed names cannot grow memory without bound, nor push the
client addresses out. Thread-safe.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Mapping

from caas.errors import TooManyRequests

Key = tuple[Hashable, ...]


@dataclass(frozen=True)
class Budget:
    """How many failures a kind of key gets, and how long it waits after them."""

    limit: int = 5              # failures before the first wait
    delay: float = 1.0          # the first wait, in seconds
    max_delay: float = 300.0    # the longest wait
    factor: float = 2.0         # each further failure multiplies the wait by this
    forget: float = 900.0       # failures are forgotten this long after the last one
    reset_on_success: bool = True

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("a throttle's limit must be at least 1 failure")
        if not 0 < self.delay <= self.max_delay:
            raise ValueError("a throttle's delay must be positive and at most its max_delay")
        if self.factor < 1:
            raise ValueError("a throttle's factor must be at least 1")
        if self.forget < self.max_delay:
            # else a key would be forgotten while it still waits
            raise ValueError("a throttle's forget time must be at least its max_delay")

    def wait_after(self, failures: int) -> float:
        """The wait after ``failures`` failures (0 below the limit)."""
        if failures < self.limit:
            return 0.0
        exponent = failures - self.limit
        if self.factor > 1 and exponent >= math.log(self.max_delay / self.delay, self.factor):
            return self.max_delay  # without computing factor ** (thousands)
        return min(self.max_delay, self.delay * self.factor ** exponent)


@dataclass
class _Entry:
    failures: int = 0
    failed_at: float = 0.0  # the last failure, or when the entry was made
    pending: int = 0        # attempts claimed and not yet ended


class Throttle:
    """Failure counts of keys, each kind with its ``Budget``; see the module's docstring."""

    def __init__(self, budgets: Mapping[str, Budget], max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys < 1:
            raise ValueError("a throttle must track at least one key")
        self.budgets = dict(budgets)
        self.max_keys = max_keys
        self.clock = clock
        self._lock = threading.Lock()
        # per kind, ordered by last failure (oldest first): expiry and eviction from the front
        self._entries: dict[str, OrderedDict[Key, _Entry]] = {kind: OrderedDict() for kind in self.budgets}

    def wait(self, keys: Iterable[Key]) -> float:
        """Seconds until an attempt with ``keys`` may be made (0: now)."""
        with self._lock:
            now = self.clock()
            return max((self._wait(key, now) for key in keys), default=0.0)

    def begin(self, keys: Iterable[Key]) -> None:
        """Claim an attempt for every key, or raise ``TooManyRequests`` (its ``retry_after``:
        the longest wait of the keys) and claim nothing. The caller must end the attempt with
        ``failed``, ``succeeded`` or ``released``."""
        keys = list(keys)
        with self._lock:
            now = self.clock()
            wait = max((self._wait(key, now) for key in keys), default=0.0)
            if wait > 0:
                raise TooManyRequests(f"Too many failed logins: try again in {describe(wait)}.", retry_after=wait)
            for key in keys:
                self._entry(key, now).pending += 1

    def failed(self, keys: Iterable[Key]) -> None:
        """The attempt failed (a wrong password): one failure more for every key."""
        with self._lock:
            now = self.clock()
            for key in keys:
                entry = self._entry(key, now)
                entry.pending = max(0, entry.pending - 1)
                entry.failures += 1
                entry.failed_at = now
                self._table(key).move_to_end(key)

    def succeeded(self, keys: Iterable[Key]) -> None:
        """The attempt succeeded: keys whose budget resets on success are forgotten."""
        with self._lock:
            for key in keys:
                self._end(key, reset=self.budgets[key[0]].reset_on_success)

    def released(self, keys: Iterable[Key]) -> None:
        """The attempt ended without a verdict (the password could not be checked)."""
        with self._lock:
            for key in keys:
                self._end(key, reset=False)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(table) for table in self._entries.values())

    # -- under the lock --------------------------------------------------------------------
    def _table(self, key: Key) -> OrderedDict[Key, _Entry]:
        try:
            return self._entries[key[0]]
        except (KeyError, IndexError):
            raise ValueError(f"no throttle budget for the key {key!r}") from None

    def _wait(self, key: Key, now: float) -> float:
        table = self._table(key)
        entry = table.get(key)
        if entry is None:
            return 0.0
        budget = self.budgets[key[0]]
        if self._expired(entry, budget, now):
            del table[key]
            return 0.0
        wait = entry.failed_at + budget.wait_after(entry.failures) - now
        if wait > 0:
            return wait
        if entry.pending and entry.failures + entry.pending >= budget.limit:
            # the attempts under way decide whether a wait begins: none more until they end
            return budget.delay
        return 0.0

    def _entry(self, key: Key, now: float) -> _Entry:
        table = self._table(key)
        entry = table.get(key)
        if entry is None:
            self._sweep(key[0], now)
            entry = table[key] = _Entry(failed_at=now)
        return entry

    def _end(self, key: Key, reset: bool) -> None:
        table = self._table(key)
        entry = table.get(key)
        if entry is None:
            return  # evicted meanwhile
        entry.pending = max(0, entry.pending - 1)
        if reset:
            entry.failures = 0
        if not entry.pending and not entry.failures:
            del table[key]

    @staticmethod
    def _expired(entry: _Entry, budget: Budget, now: float) -> bool:
        return not entry.pending and now - entry.failed_at >= budget.forget

    def _sweep(self, kind: str, now: float) -> None:
        """Drop the kind's forgotten entries from the front; if it is still full, its least
        recently failed entry makes room."""
        table, budget = self._entries[kind], self.budgets[kind]
        for _ in range(len(table)):  # each entry looked at once at most
            key, entry = next(iter(table.items()))
            if now - entry.failed_at < budget.forget:
                break
            if entry.pending:
                table.move_to_end(key)  # under way: looked at again later
            else:
                del table[key]
        while len(table) >= self.max_keys:
            table.popitem(last=False)


def describe(seconds: float) -> str:
    """A wait for people: ``1 second``, ``42 seconds``, ``5 minutes`` (rounded up)."""
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{math.ceil(whole / 60)} minutes"
