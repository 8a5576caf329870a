"""Worker pools: the threads that run the APIs' synchronous handlers, one pool per layer.

Why more than one: a handler of the cluster API calls the cloud APIs of this same process over
HTTP (through openstacksdk, as it would call any OpenStack). If both ran on one pool, enough
cluster calls at once would hold every thread while each waits for a cloud call that needs a
thread too: a deadlock that never clears. So the pools form a chain that only points one way
(the dashboard, on the event loop, waits on both; cluster handlers wait on the cloud pool;
cloud handlers wait on no request at all), and no request ever waits on a thread of its own
pool held by a request that waits on it.

Overload degrades instead of hanging: a pool lets at most ``max_waiting`` requests queue for a
thread, for at most ``max_wait`` seconds each; past either, the request is refused at once with
``Overloaded`` (503 with Retry-After, in the API's own format), having done nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import anyio
import anyio.to_thread

from caas.errors import ServiceUnavailable


class Overloaded(ServiceUnavailable):
    """Every thread of the pool is busy and the queue is full (or was too slow): nothing was
    done; try again after ``retry_after`` seconds."""

    def __init__(self, pool: str, retry_after: int) -> None:
        super().__init__(f"The {pool} service is busy; nothing was done. Try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass
class WorkerPool:
    """``threads`` handlers at a time; more wait in a bounded queue (see the module)."""

    name: str
    threads: int
    max_waiting: int
    max_wait: float
    retry_after: int = 2
    _slots: Any = field(default=None, init=False, repr=False)
    _threads: Any = field(default=None, init=False, repr=False)

    def _limiters(self):
        # anyio's limiters belong to the event loop that serves: made on first use, there.
        if self._slots is None:
            self._slots = anyio.CapacityLimiter(self.threads)
            self._threads = anyio.CapacityLimiter(self.threads)
        return self._slots, self._threads

    def stats(self) -> dict:
        """Busy threads and queued requests (for /metrics)."""
        if self._slots is None:
            return {"busy": 0, "waiting": 0}
        st = self._slots.statistics()
        return {"busy": st.borrowed_tokens, "waiting": st.tasks_waiting}

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on one of the pool's threads; ``Overloaded`` when it cannot get one in
        time. Once started, the handler runs to its end (it is never abandoned mid-way)."""
        slots, threads = self._limiters()
        if slots.statistics().tasks_waiting >= self.max_waiting:
            raise Overloaded(self.name, self.retry_after)
        # Only the wait for a thread is bounded: a deadline around the handler itself would
        # throw away an answer whose work was done.
        with anyio.move_on_after(self.max_wait) as waiting:
            await slots.acquire()
        if waiting.cancelled_caught:
            raise Overloaded(self.name, self.retry_after)
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=threads)
        finally:
            slots.release()
