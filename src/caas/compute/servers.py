"""Servers, what their parts share: the states and their API names, the per-server work queue
(all work on one server runs in order, on a compute worker thread; a restart resumes what was
left half done), and the lookup of a caller's server. The parts: boot.py (a request checked and
recorded), build.py (the worker: schedule, ports, spawn, teardown, delete, power), actions.py
(stop, start, reboot, console, update, metadata, volumes), queries.py (show and list)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.compute import quotas
from caas.compute.models import Server
from caas.context import AuthContext, Ref
from caas.errors import BadRequest, Forbidden, NotFound

log = logging.getLogger("caas.compute")

# Nova's vm_state -> API status (task states that override it are in status_of()).
STATUS = {"building": "BUILD", "active": "ACTIVE", "stopped": "SHUTOFF", "error": "ERROR", "deleted": "DELETED",
          "paused": "PAUSED", "suspended": "SUSPENDED"}
VM_STATE = {v: k for k, v in STATUS.items()}
KNOWN_STATUSES = set(STATUS.values()) | {"REBOOT", "HARD_REBOOT"}
HOSTNAME_BAD = re.compile(r"[^a-z0-9-]+")
METADATA_LIMIT = 255


def require_writer(ctx: AuthContext, action: str) -> None:
    """Changing servers needs a role other than ``reader`` on the project (AuthContext.may_write)."""
    if not ctx.may_write:
        raise Forbidden(f"Policy doesn't allow os_compute_api:servers:{action} to be performed.")


def status_of(vm_state: str, task_state: str | None) -> str:
    if vm_state == "active" and task_state == "rebooting":
        return "REBOOT"
    if vm_state == "active" and task_state == "rebooting_hard":
        return "HARD_REBOOT"
    return STATUS.get(vm_state, vm_state.upper())


def hostname_for(name: str) -> str:
    """Nova's sanitised hostname: lower case, [a-z0-9-], at most 63 characters."""
    host = HOSTNAME_BAD.sub("-", name.lower().replace("_", "-")).strip("-.")[:63].strip("-")
    return host or "server"


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: the host as seen by one project (sha224 of project + host)."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


def service_context(project_id: str, user_id: str) -> AuthContext:
    """The compute service acting on the cloud's other services for one server (admin rights,
    in the server's project): what it may do was checked against the caller at the API."""
    return AuthContext(token_id="", token=None, user=Ref(user_id, "nova"), user_domain=Ref("default", "Default"),
                       project=Ref(project_id, ""), roles=(Ref("", "admin"),))


def check_metadata(value: dict, limit: int) -> dict:
    """Server metadata by Nova's rules: keys of 1 to 255 characters, string values of at most
    255, at most ``limit`` items (the project's metadata_items quota)."""
    for k, v in value.items():
        if not 1 <= len(k) <= METADATA_LIMIT:
            raise BadRequest(f"Invalid input for field/attribute metadata. Key '{k[:40]}' must be 1 to 255 "
                             "characters.")
        if not isinstance(v, str) or len(v) > METADATA_LIMIT:
            raise BadRequest(f"Invalid input for field/attribute metadata. The value of '{k[:40]}' must be a "
                             "string of at most 255 characters.")
    quotas.check_count("metadata_items", len(value), 0, limit)
    return dict(value)


class ServersMixin:
    # ---- work on the workers (self.work: compute/work.py) ------------------------------
    def _lock_for(self, server_id: str) -> threading.Lock:
        return self.work.lock_for(server_id)

    def _submit(self, server_id: str, fn, *args) -> None:
        """Run ``fn(server_id, *args)`` on a worker, after any earlier work on that server."""
        self.work.submit(server_id, fn, *args)

    def _work_failed(self, server_id: str, fn) -> None:
        """A job that raised: a build is undone (driver, ports, claim), then the server is ERROR."""
        message = "An unexpected error stopped the operation; see the caas log."
        if fn == self._build:
            try:
                self._abort_build(server_id, message)
                return
            except Exception:  # noqa: BLE001 - fall back to recording the failure
                log.exception("could not undo the build of server %s", server_id)
        self._fail(server_id, message)

    def shutdown(self) -> None:
        """Finish the work in progress; queued work is dropped, and the next start resumes it
        from the record (resume_work)."""
        self.stop_power_sync()
        self.work.shutdown()

    def resume_work(self) -> None:
        """At start: finish what a previous run left. Builds are restarted from the record
        (the steps are idempotent), deletes finished, stops and starts settled."""
        with self.db.read() as s:
            pending = list(s.execute(select(Server.id, Server.status, Server.task_state)
                                     .where((Server.task_state.is_not(None)) | (Server.status == "building"))))
        for sid, vm_state, task in pending:
            if task == "deleting":
                self._submit(sid, self._delete)
            elif vm_state == "building":
                self._submit(sid, self._build)
            elif task in ("powering-off",):
                self._submit(sid, self._power, "stop")
            elif task in ("powering-on",):
                self._submit(sid, self._power, "start")
            elif task in ("rebooting", "rebooting_hard"):
                self._submit(sid, self._power, "reboot")
            else:
                with self.db.write() as s:
                    row = s.get(Server, sid)
                    if row is not None:
                        row.task_state = None

    def get_server(self, s: Session, ctx: AuthContext, server_id: str, lock: bool = False) -> Server:
        """A server of the caller's project (any for admins); 404 otherwise."""
        row = s.get(Server, server_id, with_for_update=lock) if server_id and len(server_id) <= 36 else None
        if row is None or not (ctx.is_admin or row.project_id == ctx.project_id):
            raise NotFound(f"Instance {server_id} could not be found.")
        return row
