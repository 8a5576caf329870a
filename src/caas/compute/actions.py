"""Server actions: delete, stop, start and reboot (checked and marked here, done by the build
worker), console output, reset state, update, metadata, and volume attachments."""

from __future__ import annotations

from caas.compute import quotas
from caas.compute.common import require_admin
from caas.compute.models import Server
from caas.compute.build import ServerBuilder
from caas.compute.server_state import check_metadata, get_server, require_writer
from caas.context import AuthContext
from caas.db.base import utcnow
from caas.errors import BadRequest, Conflict, NotFound
from caas.numbers import INT32_MAX, parse_int
from caas.virt.driver import DriverError


class ServerActions:
    """What callers do to servers: records in ``db``; work queued on ``builder``; consoles and
    volume attachments on ``driver``, with ``volume``'s volumes (None: no block storage)."""

    def __init__(self, db, driver, builder: ServerBuilder, volume=None) -> None:
        self.db = db
        self.driver = driver
        self.builder = builder
        self.volume = volume

    def delete_server(self, ctx: AuthContext, server_id: str) -> None:
        require_writer(ctx, "delete")
        with self.db.write() as s:
            row = get_server(s, ctx, server_id, lock=True)
            if row.locked and not ctx.is_admin:
                raise Conflict(f"Instance {server_id} is locked")
            if row.task_state == "deleting":
                return
            row.task_state = "deleting"
            row.updated_at = utcnow()
        self.builder.start_delete(server_id)

    ACTIONS = {"stop": ("active", "powering-off"), "start": ("stopped", "powering-on"),
               "reboot": (("active", "stopped"), "rebooting")}

    def server_action(self, ctx: AuthContext, server_id: str, action: str, hard: bool = False) -> None:
        """os-stop, os-start, reboot: checked and marked now, done on a worker."""
        require_writer(ctx, "action")
        states, task = self.ACTIONS[action]
        states = states if isinstance(states, tuple) else (states,)
        if action == "reboot" and hard:
            task = "rebooting_hard"
        name = {"stop": "stop", "start": "start", "reboot": "reboot"}[action]
        with self.db.write() as s:
            row = get_server(s, ctx, server_id, lock=True)
            if row.locked and not ctx.is_admin:
                raise Conflict(f"Instance {server_id} is locked")
            if row.task_state is not None or row.status not in states or (
                    action == "reboot" and row.status == "stopped" and not hard):
                raise Conflict(f"Cannot '{name}' instance {server_id} while it is in vm_state {row.status}"
                               + (f" and task_state {row.task_state}" if row.task_state else ""))
            row.task_state = task
            row.updated_at = utcnow()
        self.builder.start_power(server_id, action, hard)

    def console_output(self, ctx: AuthContext, server_id: str, length) -> str:
        if length is not None:
            length = parse_int(length, "length", -1, INT32_MAX,
                               message="Invalid input for field/attribute length. It must be an integer >= -1.")
            if length == -1:
                length = None
        with self.db.read() as s:
            row = get_server(s, ctx, server_id)
            if row.status not in ("active", "stopped") or not row.host:
                raise Conflict(f"Instance {server_id} is not ready (vm_state {row.status}); no console yet.")
        try:
            return self.driver.console_output(server_id, length)
        except DriverError as exc:  # e.g. its compute host is down
            raise Conflict(f"The console of instance {server_id} cannot be read: {exc}") from None

    def reset_state(self, ctx: AuthContext, server_id: str, state) -> None:
        require_admin(ctx, "os_compute_api:os-admin-actions:reset_state")
        if state not in ("active", "error"):
            raise BadRequest("Invalid input for field/attribute state. It must be 'active' or 'error'.")
        with self.db.write() as s:
            row = get_server(s, ctx, server_id, lock=True)
            row.status, row.task_state = state, None

    def update_server(self, ctx: AuthContext, server_id: str, changes: dict) -> Server:
        """Set a server's ``name``, ``description``, ``access_ipv4``/``access_ipv6`` (the keys
        given, already checked by the API)."""
        require_writer(ctx, "update")
        with self.db.write() as s:
            row = get_server(s, ctx, server_id, lock=True)
            for attr, value in changes.items():
                setattr(row, attr, value)
            row.updated_at = utcnow()
            return row

    def server_metadata(self, ctx: AuthContext, server_id: str) -> dict:
        with self.db.read() as s:
            return dict(get_server(s, ctx, server_id).metadata_ or {})

    def set_server_metadata(self, ctx: AuthContext, server_id: str, values, replace: bool) -> dict:
        require_writer(ctx, "update_metadata")
        with self.db.write() as s:
            row = get_server(s, ctx, server_id, lock=True)
            current = {} if replace else dict(row.metadata_ or {})
            if not isinstance(values, dict):
                raise BadRequest("Malformed request body: metadata must be an object.")
            current.update(values)
            row.metadata_ = check_metadata(current, quotas.limit(s, row.project_id, "metadata_items"))
            row.updated_at = utcnow()
            return dict(row.metadata_)

    def delete_server_metadata(self, ctx: AuthContext, server_id: str, key: str) -> None:
        require_writer(ctx, "delete_metadata")
        with self.db.write() as s:
            row = get_server(s, ctx, server_id, lock=True)
            current = dict(row.metadata_ or {})
            if key not in current:
                raise NotFound("Metadata item was not found")
            del current[key]
            row.metadata_ = current

    def _volumes(self):
        if self.volume is None:
            raise NotFound("The block storage service is not available.")
        return self.volume

    def attach_volume(self, ctx: AuthContext, server_id: str, volume_id) -> dict:
        require_writer(ctx, "attach_volume")
        if not isinstance(volume_id, str) or not volume_id or len(volume_id) > 36:
            raise BadRequest("Invalid input for field/attribute volumeId.")
        with self.db.read() as s:
            row = get_server(s, ctx, server_id)
            if row.status not in ("active", "stopped") or row.task_state is not None:
                raise Conflict(f"Cannot 'attach_volume' instance {server_id} while it is in vm_state {row.status}")
            host = row.host
        attachment = self._volumes().attach(ctx, volume_id, server_id, host)
        try:
            self.driver.attach_volume(server_id, self._volumes().volume_path(volume_id), attachment["device"])
        except DriverError as exc:
            self._volumes().detach(ctx, volume_id, server_id)
            raise Conflict(f"The hypervisor could not attach volume {volume_id}: {exc}") from None
        return attachment

    def detach_volume(self, ctx: AuthContext, server_id: str, volume_id: str) -> None:
        require_writer(ctx, "detach_volume")
        with self.db.read() as s:
            row = get_server(s, ctx, server_id)
            if row.task_state is not None:
                raise Conflict(f"Cannot 'detach_volume' instance {server_id} while it is in task_state "
                               f"{row.task_state}")
        attachment = self._volumes().server_attachment(server_id, volume_id)
        self.driver.detach_volume(server_id, attachment["device"])
        self._volumes().detach(ctx, volume_id, server_id)

    def volume_attachments(self, ctx: AuthContext, server_id: str) -> list[dict]:
        with self.db.read() as s:
            get_server(s, ctx, server_id)
        return self._volumes().server_attachments(server_id) if self.volume is not None else []

    def volume_attachment(self, ctx: AuthContext, server_id: str, volume_id: str) -> dict:
        with self.db.read() as s:
            get_server(s, ctx, server_id)
        try:
            return self._volumes().server_attachment(server_id, volume_id)
        except NotFound:
            raise NotFound(f"Volume {volume_id} is not attached to instance {server_id}.") from None
