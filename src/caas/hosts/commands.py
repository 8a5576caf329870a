"""The driver calls for agent hosts, as a queue in the controller's database: ``CommandQueue``
records a command (``submit``), hands the pending ones of a host to its agent (``fetch``, a
long poll: it waits until one comes), records the agent's answer (``complete``) and wakes the
caller waiting for it (``wait``). It also records which agent host runs which instance.

Restarts: a command is recorded before it can be sent and answered by id, so a result sent
twice counts once; commands the agent had fetched go back to ``pending`` when the agent
registers again (it restarted; its own journal answers those it had done without running them
again); commands never sent when the controller stopped are cancelled at its start (their
callers are gone, and compute resumes its work from its own record), and agent hosts are down
until their next heartbeat."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import delete, select, update

from caas.compute.models import ComputeHost, Server
from caas.db.base import utcnow
from caas.errors import BadRequest, NotFound
from caas.hosts.models import HostCommand, HostInstance
from caas.virt.driver import DriverError

KINDS = {"spawn", "destroy", "power_off", "power_on", "reboot", "power_states", "console_output", "running"}
MAX_FETCH = 50


class CommandQueue:
    """See the module. ``timeout``: seconds a caller waits for an answer at most."""

    def __init__(self, db, timeout: float = 120.0) -> None:
        self.db = db
        self.timeout = timeout
        self._changed = threading.Condition()
        self.closing = False

    def close(self) -> None:
        """The controller stops: long polls in progress return at once (with nothing)."""
        self.closing = True
        with self._changed:
            self._changed.notify_all()

    # ---- instances ---------------------------------------------------------------------------
    def host_of(self, instance_id: str) -> str | None:
        with self.db.read() as s:
            return s.scalar(select(HostInstance.host).where(HostInstance.instance_id == instance_id))

    def hosts_of(self, instance_ids) -> dict[str, str]:
        ids = list(instance_ids)
        with self.db.read() as s:
            return dict(s.execute(select(HostInstance.instance_id, HostInstance.host)
                                  .where(HostInstance.instance_id.in_(ids))).all()) if ids else {}

    def instances(self) -> dict[str, str]:
        with self.db.read() as s:
            return dict(s.execute(select(HostInstance.instance_id, HostInstance.host)).all())

    def place(self, instance_id: str, host: str) -> None:
        with self.db.write() as s:
            row = s.get(HostInstance, instance_id)
            if row is None:
                s.add(HostInstance(instance_id=instance_id, host=host))
            else:
                row.host = host

    def forget(self, instance_id: str) -> None:
        with self.db.write() as s:
            s.execute(delete(HostInstance).where(HostInstance.instance_id == instance_id))

    # ---- the controller's side ---------------------------------------------------------------
    def is_agent_host(self, name: str) -> bool:
        with self.db.read() as s:
            return bool(s.scalar(select(ComputeHost.agent).where(ComputeHost.name == name)))

    def check_up(self, host: str) -> None:
        """DriverError unless ``host`` is an agent host that is up."""
        with self.db.read() as s:
            up = s.scalar(select(ComputeHost.up).where(ComputeHost.name == host, ComputeHost.agent.is_(True)))
        if up is None:
            raise DriverError(f"compute host {host} is not joined (caas host list)")
        if not up:
            raise DriverError(f"compute host {host} is down: its agent has not reported lately")

    def call(self, host: str, kind: str, args: dict):
        """Run ``kind`` on ``host``'s agent and return its value; DriverError with the agent's
        reason, or at once when the host is down (and when it goes down while waiting)."""
        self.check_up(host)
        cid = str(uuid.uuid4())
        with self.db.write() as s:
            s.add(HostCommand(id=cid, host=host, kind=kind, args=args, status="pending"))
        with self._changed:
            self._changed.notify_all()
        return self.wait(cid, host)

    def wait(self, cid: str, host: str):
        deadline = time.monotonic() + self.timeout
        while True:
            with self.db.read() as s:
                result = s.scalar(select(HostCommand.result).where(HostCommand.id == cid))
            if result is not None:
                if result.get("ok"):
                    return result.get("value")
                raise DriverError(str(result.get("error") or f"the agent of {host} failed"))
            if time.monotonic() > deadline:
                raise DriverError(f"compute host {host} did not answer {self.timeout:g} s")
            self.check_up(host)
            with self._changed:
                self._changed.wait(0.5)

    def reset(self) -> int:
        """At the controller's start: cancel the commands nobody waits for any more and no agent
        has (see the module), and take every agent host as down until it is heard from (its
        next heartbeat): nothing waits at start on an agent that cannot answer yet. Returns how
        many commands were cancelled."""
        with self.db.write() as s:
            s.execute(update(ComputeHost).where(ComputeHost.agent.is_(True)).values(up=False, updated_at=utcnow()))
            return s.execute(update(HostCommand).where(HostCommand.status == "pending")
                             .values(status="cancelled", updated_at=utcnow())).rowcount

    # ---- the agent's side --------------------------------------------------------------------
    def requeue(self, host: str) -> None:
        """The agent of ``host`` (re)started: what it had fetched is to be fetched again, and
        each instance recorded on it whose server is gone (deleted while the host was down)
        gets a destroy, unless one is on its way already."""
        with self.db.write() as s:
            s.execute(update(HostCommand).where(HostCommand.host == host, HostCommand.status == "sent")
                      .values(status="pending", updated_at=utcnow()))
            orphans = set(s.scalars(select(HostInstance.instance_id).where(
                HostInstance.host == host, HostInstance.instance_id.not_in(select(Server.id)))))
            queued = {c.args.get("instance_id") for c in s.scalars(select(HostCommand).where(
                HostCommand.host == host, HostCommand.kind == "destroy", HostCommand.status == "pending"))}
            for iid in sorted(orphans - queued):
                s.add(HostCommand(id=str(uuid.uuid4()), host=host, kind="destroy", args={"instance_id": iid},
                                  status="pending"))

    def fetch(self, host: str, wait: float) -> list[dict]:
        """The pending commands of ``host`` (oldest first, marked sent), waiting up to ``wait``
        seconds for one to come."""
        deadline = time.monotonic() + wait
        while True:
            with self.db.write() as s:
                rows = list(s.scalars(select(HostCommand).where(HostCommand.host == host,
                                                                HostCommand.status == "pending")
                                      .order_by(HostCommand.created_at).limit(MAX_FETCH)))
                for row in rows:
                    row.status, row.updated_at = "sent", utcnow()
                out = [{"id": r.id, "kind": r.kind, "args": r.args} for r in rows]
            left = deadline - time.monotonic()
            if out or left <= 0 or self.closing:
                return out
            with self._changed:
                self._changed.wait(min(left, 1.0))

    def complete(self, host: str, body) -> None:
        """Record the agent's answer ``{"id", "ok", "value" | "error"}`` (a repeat counts once)."""
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("ok"), bool):
            raise BadRequest("a result is {\"id\": STRING, \"ok\": BOOLEAN, \"value\": ..., \"error\": STRING}")
        error = body.get("error")
        if error is not None and not isinstance(error, str):
            raise BadRequest("error must be a string")
        with self.db.write() as s:
            row = s.get(HostCommand, body["id"][:36])
            if row is None or row.host != host:
                raise NotFound(f"no command {body['id'][:36]!r} for host {host}")
            if row.status != "done":
                row.status, row.updated_at = "done", utcnow()
                row.result = {"ok": body["ok"], "value": body.get("value"), "error": (error or "")[:2000]}
                if row.kind == "destroy" and body["ok"]:  # gone from its host: forget where it was
                    s.execute(delete(HostInstance).where(HostInstance.instance_id == row.args.get("instance_id")))
        with self._changed:
            self._changed.notify_all()
