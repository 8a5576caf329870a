"""What the server parts share: the states and their API names, hostnames and host ids, the
metadata rules, the context compute acts in on the other services, the lookup of a caller's
server, and how a server is put in ERROR. The parts: boot.py (a request checked and recorded),
build.py (the worker: schedule, ports, spawn, teardown, delete, power), actions.py (stop,
start, reboot, console, update, metadata, volumes), queries.py (show and list); servers.py
composes them into ``Servers``."""

from __future__ import annotations

import hashlib
import logging
import re

from sqlalchemy.orm import Session

from caas.compute import quotas
from caas.compute.common import isotime
from caas.compute.models import Server
from caas.context import AuthContext, Ref
from caas.db.base import utcnow
from caas.errors import BadRequest, Forbidden, NotFound
from caas.virt.driver import NOSTATE as POWER_NOSTATE

log = logging.getLogger("caas.compute")

# Nova's vm_state -> API status (task states that override it are in status_of()).
STATUS = {"building": "BUILD", "active": "ACTIVE", "stopped": "SHUTOFF", "error": "ERROR", "deleted": "DELETED",
          "paused": "PAUSED", "suspended": "SUSPENDED"}
VM_STATE = {v: k for k, v in STATUS.items()}
KNOWN_STATUSES = set(STATUS.values()) | {"REBOOT", "HARD_REBOOT"}
HOSTNAME_BAD = re.compile(r"[^a-z0-9-]+")
METADATA_LIMIT = 255
UNEXPECTED = "An unexpected error stopped the operation; see the caas log."


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


def get_server(s: Session, ctx: AuthContext, server_id: str, lock: bool = False) -> Server:
    """A server of the caller's project (any for admins); 404 otherwise."""
    row = s.get(Server, server_id, with_for_update=lock) if server_id and len(server_id) <= 36 else None
    if row is None or not (ctx.is_admin or row.project_id == ctx.project_id):
        raise NotFound(f"Instance {server_id} could not be found.")
    return row


def set_error(row: Server, message: str, code: int = 500) -> None:
    """Put ``row`` in ERROR with a fault that says why."""
    row.status, row.task_state, row.power_state = "error", None, POWER_NOSTATE
    row.fault = {"code": code, "message": message[:255], "details": message, "created": isotime(utcnow())}
    row.updated_at = utcnow()


def record_error(db, server_id: str, message: str = UNEXPECTED) -> None:
    """Put the server in ERROR (unless it is gone or being deleted); never raises: it runs
    when work on the server already failed, and the log has the first error."""
    try:
        with db.write() as s:
            row = s.get(Server, server_id)
            if row is not None and row.task_state != "deleting":
                set_error(row, message)
    except Exception:  # noqa: BLE001 - already failing; the log has the first error
        log.exception("could not record the failure of server %s", server_id)
