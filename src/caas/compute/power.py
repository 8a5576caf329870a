"""Power-state sync: the record of each server aligned with what the driver reports, at start
and periodically (Nova's ``_sync_power_states``), so that caas never goes on calling a server
ACTIVE whose instance is gone.

``decide`` is the rule, pure: Nova's ``_sync_instance_power_state`` for the states caas has,
with one change. The power state always follows the driver; an ACTIVE server whose instance
is not running becomes SHUTOFF (Nova calls its stop API, which ends the same way), with the
driver's power state: ``Shutdown``, or ``Crashed`` when the instance stopped without being
asked. Where Nova keeps a server ACTIVE whose instance the hypervisor does not have at all
(NOSTATE: "unexpectedly not found", logged and ignored), caas makes it SHUTOFF with power
state ``Shutdown``: nothing runs (after ``caas cleanup --all``, say), and ``server start``
boots it again. A SHUTOFF server whose instance runs is powered off (Nova's force_stop).
Servers with a task in progress, building or in ERROR are left alone, as in Nova.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import select

from caas.compute.models import Server
from caas.compute.server_state import record_error
from caas.compute.work import ServerWork
from caas.db.base import utcnow
from caas.virt.driver import NOSTATE, POWER_STATE_NAMES, RUNNING, SHUTDOWN, DriverError

log = logging.getLogger("caas.compute")


@dataclass(frozen=True)
class Decision:
    """What a server's record becomes; ``power_off``: the driver must stop the instance."""

    vm_state: str
    power_state: int
    power_off: bool = False


def decide(vm_state: str, db_power: int, observed: int) -> Decision | None:
    """The record of a server in ``vm_state`` (no task in progress) with ``db_power`` once the
    driver reports ``observed``; None when it stays as it is."""
    if vm_state == "active":
        if observed == RUNNING:
            return None if db_power == RUNNING else Decision("active", RUNNING)
        return Decision("stopped", SHUTDOWN if observed == NOSTATE else observed)
    if vm_state == "stopped":
        if observed == RUNNING:
            return Decision("stopped", SHUTDOWN, power_off=True)
        # Not running, as recorded: only a record that says Running is corrected (a server
        # stopped before the driver told Shutdown from Crashed keeps what it has).
        return Decision("stopped", SHUTDOWN if observed == NOSTATE else observed) if db_power == RUNNING else None
    return None


class PowerSync:
    """The servers' records in ``db`` kept in step with ``driver`` every
    ``settings.power_sync_interval`` seconds, on their ``work`` queues (``start``, ``stop``)."""

    def __init__(self, db, settings, driver, work: ServerWork) -> None:
        self.db = db
        self.settings = settings
        self.driver = driver
        self.work = work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: set[str] = set()
        self._guard = threading.Lock()

    def start(self) -> None:
        """Sync every server now, in this thread (at start, before the API serves: nothing is
        listed before it is checked), then every ``power_sync_interval`` seconds (0: never)."""
        self.sync_power_states(inline=True)
        interval = self.settings.power_sync_interval
        if interval > 0:
            self._thread = threading.Thread(target=self._power_loop, args=(interval,),
                                            name="caas-power-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the periodic sync (waiting for a round in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _power_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sync_power_states()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("power-state sync failed")

    def sync_power_states(self, inline: bool = False) -> int:
        """Compare every idle ACTIVE or SHUTOFF server with the driver (one call for all of
        them); each that differs is synced on its own worker queue, after any work on it, or
        here with ``inline``. Returns how many differed."""
        with self.db.read() as s:
            rows = list(s.execute(select(Server.id, Server.status, Server.power_state).where(
                Server.task_state.is_(None), Server.status.in_(("active", "stopped")), Server.host.is_not(None))))
        if not rows:
            return 0
        observed = self.driver.power_states([sid for sid, _, _ in rows])
        differ = [sid for sid, vm_state, power in rows
                  if decide(vm_state, power, observed.get(sid, NOSTATE)) is not None]
        for sid in differ:
            if inline:
                with self.work.lock_for(sid):
                    self._sync_power(sid)
                continue
            with self._guard:
                if sid in self._pending:
                    continue
                self._pending.add(sid)
            self.work.submit(sid, self._sync_power, on_failure=self._failed)
        return len(differ)

    def _failed(self, server_id: str) -> None:
        """A sync that raised: the server is ERROR (as any work on it that fails)."""
        record_error(self.db, server_id)

    def _sync_power(self, server_id: str) -> None:
        """One server, under its lock: the record and the driver read again, then aligned."""
        with self._guard:
            self._pending.discard(server_id)
        with self.db.write() as s:
            # locked: an action asked for meanwhile waits, then sees the state found here
            row = s.get(Server, server_id, with_for_update=True)
            if row is None or row.task_state is not None:
                return
            observed = self.driver.power_states([server_id]).get(server_id, NOSTATE)
            decision = decide(row.status, row.power_state, observed)
            if decision is None:
                return
            if decision.vm_state != row.status:
                log.warning("server %s: the driver reports power state %s while it is %s: now %s", server_id,
                            POWER_STATE_NAMES.get(observed, observed), row.status, decision.vm_state)
            row.status, row.power_state = decision.vm_state, decision.power_state
            row.updated_at = utcnow()
        if decision.power_off:
            try:
                self.driver.power_off(server_id)
            except DriverError as exc:  # the next round sees it running and tries again
                log.warning("server %s: could not power off an instance that should be stopped: %s",
                            server_id, exc)
