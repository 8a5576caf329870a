"""Share domain logic (a Manila v2 subset): shares (create, list, show, update, delete,
metadata), their one export location each, and access rules of type ``ip``; quotas in
``quotas``. ``mounts_for`` is the interface of the compute service: which shares an instance
with given addresses may mount.

A share is a row first and a directory second. Create answers at once with ``creating`` (the
row, with its quota claim, in one transaction); a worker thread then makes the directory
``DIR/shares/<id>`` and sets ``available`` (``error`` if that fails). Delete sets ``deleting``
and a worker removes the directory, then the row (with its rules and metadata). A crash at any
point leaves a row in one of those two statuses or a directory without a row; ``reconcile``
(run on every start) finishes the one and removes the other. The directory's name is the
share's id, a UUID made here: no user string ever becomes part of a path.

The size is recorded and counted in the quota, not enforced on the bytes written: the
directories share the file system of caas's data dir.

An export location is ``<address>:/shares/<id>``, the address being that of the cloud's
network node as instances reach it (the external network's gateway, else 127.0.0.1); it is
what the guest names in cloud-config ``mounts`` and what the netns driver matches to bind the
directory in the instance.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.context import AuthContext
from caas.db import Database
from caas.db.base import utcnow
from caas.errors import BadRequest, NotFound
from caas.share import policy
from caas.share.models import Share, ShareAccessRule, ShareMetadata, uuid_str
from caas.share.quotas import claim
from caas.share.store import ShareStore

log = logging.getLogger("caas.share")

PROTOCOLS = ("NFS",)
ACCESS_TYPES = ("ip",)
ACCESS_LEVELS = ("rw", "ro")
AVAILABILITY_ZONE = "nova"
# The one share type (every share has it); its id is fixed so that every caas agrees on it.
DEFAULT_TYPE = {"id": "5f3ad2a6-8a5c-5b0e-9d4a-3c1f0e2b7d61", "name": "default", "description": "Default share type",
                "is_public": True,
                "extra_specs": {"driver_handles_share_servers": "False", "snapshot_support": "False",
                                "create_share_from_snapshot_support": "False",
                                "revert_to_snapshot_support": "False", "mount_snapshot_support": "False"},
                "required_extra_specs": {"driver_handles_share_servers": "False"}}
# Manila's statuses a share may be deleted in.
DELETABLE = ("available", "error", "inactive")
DB_MAX_INT = 0x7FFFFFFF
# Columns a list may sort by (Manila's sort keys; ``name`` is display_name).
SORT_KEYS = {"created_at": Share.created_at, "updated_at": Share.updated_at, "name": Share.name,
             "display_name": Share.name, "size": Share.size, "status": Share.status, "id": Share.id,
             "project_id": Share.project_id, "share_proto": Share.share_proto}


def iso(when: dt.datetime | None) -> str | None:
    """Manila's timestamps: naive UTC with microseconds, ``2024-01-31T12:00:00.000000``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None


def invalid_input(reason: str) -> BadRequest:
    return BadRequest(f"Invalid input received: {reason}.", kind="InvalidInput")


def not_found(share_id: str) -> NotFound:
    return NotFound(f"Share {share_id} could not be found.", kind="ShareNotFound")


def rule_not_found(access_id: str) -> NotFound:
    return NotFound(f"Access rule {access_id} not found.", kind="AccessRuleNotFound")


@dataclass
class ShareQuery:
    """A list request, parsed by the API: exact ``name`` and ``status``, ``all_tenants`` (for
    admins), paging by ``limit`` and ``offset``, sorted by ``sort_key`` then id."""

    name: str | None = None
    status: str | None = None
    all_tenants: bool = False
    limit: int = 1000
    offset: int = 0
    sort_key: str = "created_at"
    sort_dir: str = "desc"


def check_metadata(metadata: dict) -> None:
    """Manila's checks of metadata pairs (check_metadata_properties), in its words."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise BadRequest("Invalid input received: metadata keys and values must be strings.")
        if not key:
            raise BadRequest("Metadata property key is blank.", kind="InvalidMetadata")
        if len(key) > 255:
            raise BadRequest("Metadata property key is greater than 255 characters.", kind="InvalidMetadataSize")
        if not value:
            raise BadRequest("Metadata property value is blank.", kind="InvalidMetadata")
        if len(value) > 1023:
            raise BadRequest("Metadata property value is greater than 1023 characters.",
                             kind="InvalidMetadataSize")


def parse_access_to(access_to: str, allow_ipv6: bool) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network an ``ip`` rule names (an address is a /32 or /128), as Manila validates it
    (host bits set is an error); IPv6 only from microversion 2.38 (``allow_ipv6``)."""
    try:
        return ipaddress.ip_network(access_to) if allow_ipv6 else ipaddress.IPv4Network(access_to)
    except ValueError as exc:
        raise BadRequest(str(exc)[:300]) from None


class ShareService:
    def __init__(self, db: Database, settings: Settings, export_address: Callable[[], str | None] | None = None,
                 workers: int = 2) -> None:
        self.db = db
        self.settings = settings
        self.store = ShareStore(settings.share_dir)
        # Manila's host@backend#pool; the reconciler of this process touches only its own.
        self.host = f"{socket.gethostname()}@dir#{settings.share_dir}"[:255]
        self._export_address = export_address or (lambda: None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caas-share")

    # ---- first start, background work and crash recovery ----------------------------------
    def bootstrap(self) -> None:
        """The share directory and the crash reconciler. Idempotent."""
        self.store.setup()
        self.reconcile()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def reconcile(self) -> None:
        """Finish what a crash left half done (create, delete) and remove directories that no
        share owns."""
        with self.db.read() as s:
            pending = s.execute(select(Share.id, Share.status).where(
                Share.host == self.host, Share.status.in_(("creating", "deleting")))).all()
        for share_id, status in pending:
            log.warning("share %s was %s when caas stopped; finishing it", share_id, status)
            (self.finish_create if status == "creating" else self.finish_delete)(share_id)
        held = self.store.held()
        with self.db.read() as s:
            known = set(s.scalars(select(Share.id).where(Share.id.in_(held)))) if held else set()
        for share_id in held:
            if share_id not in known:
                log.warning("removing the directory of share %s, which no longer exists", share_id)
                self.store.delete(share_id)

    def finish_create(self, share_id: str) -> None:
        try:
            self.store.create(share_id)
            status = "available"
        except OSError as exc:
            log.error("share %s: cannot make its directory: %s", share_id, exc)
            status = "error"
        with self.db.write() as s:
            share = s.get(Share, share_id, with_for_update=True)
            if share is not None and share.status == "creating":
                share.status, share.updated_at = status, utcnow()

    def finish_delete(self, share_id: str) -> None:
        try:
            self.store.delete(share_id)
        except OSError as exc:
            log.error("share %s: cannot remove its directory: %s", share_id, exc)
            with self.db.write() as s:
                share = s.get(Share, share_id, with_for_update=True)
                if share is not None:
                    share.status, share.updated_at = "error_deleting", utcnow()
            return
        with self.db.write() as s:
            share = s.get(Share, share_id, with_for_update=True)
            if share is not None:
                s.delete(share)

    # ---- who sees what ---------------------------------------------------------------------
    @staticmethod
    def _get(s: Session, ctx: AuthContext, share_id: str, lock: bool = False) -> Share:
        """The share if the caller may see it (its project's, or any for admins); 404
        otherwise, so that other projects' ids are indistinguishable from unknown ones."""
        share = s.get(Share, share_id, with_for_update=lock) if share_id and len(share_id) <= 36 else None
        if share is None or not (ctx.is_admin or share.project_id == ctx.project_id):
            raise not_found(share_id[:100])
        return share

    @staticmethod
    def _target(share: Share) -> dict:
        return {"project_id": share.project_id}

    # ---- the share type --------------------------------------------------------------------
    @staticmethod
    def share_type(ctx: AuthContext, name_or_id: str | None = "default") -> dict:
        """The share type ``name_or_id`` names (None, the default's name or id); 404 otherwise."""
        if name_or_id in (None, DEFAULT_TYPE["id"], DEFAULT_TYPE["name"]):
            return DEFAULT_TYPE
        raise NotFound(f"Share type {str(name_or_id)[:100]} not found.", kind="ShareTypeNotFound")

    # ---- shares ----------------------------------------------------------------------------
    def create_share(self, ctx: AuthContext, size, share_proto, name: str | None = None,
                     description: str | None = None, metadata: dict | None = None,
                     is_public: bool = False, availability_zone: str | None = None,
                     share_type: str | None = None) -> Share:
        """A new share of ``size`` GiB in the caller's project, ``creating`` until its
        directory exists. The quota claim and the row are one transaction under the project's
        lock."""
        policy.enforce(ctx, "share:create", {"project_id": ctx.project_id})
        if not isinstance(share_proto, str) or share_proto.upper() not in PROTOCOLS:
            raise invalid_input(f"Invalid share protocol provided: {str(share_proto)[:64]}. It is either disabled or "
                                f"unsupported. Available protocols: {list(PROTOCOLS)}")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= DB_MAX_INT:
            raise invalid_input(f"Share size '{str(size)[:64]}' must be an integer and greater than 0")
        if is_public:
            raise invalid_input("public shares are not supported by this cloud")
        if availability_zone not in (None, AVAILABILITY_ZONE):
            raise BadRequest(f"Availability zone {str(availability_zone)[:64]} could not be found.",
                             kind="AvailabilityZoneNotFound")
        check_metadata(metadata or {})
        self.share_type(ctx, share_type)
        with self.db.write() as s:
            claim(s, ctx.project_id, size)
            share = Share(id=uuid_str(), project_id=ctx.project_id, user_id=ctx.user_id, name=name,
                          description=description, size=size, share_proto=share_proto.upper(), status="creating",
                          is_public=False, export_id=uuid_str(), host=self.host, created_at=utcnow(),
                          updated_at=None)
            share.meta = [ShareMetadata(key=k, value=v) for k, v in sorted((metadata or {}).items())]
            share.rules = []
            s.add(share)
            s.flush()
        self._pool.submit(self.finish_create, share.id)
        return share

    def show_share(self, ctx: AuthContext, share_id: str) -> Share:
        with self.db.read() as s:
            share = self._get(s, ctx, share_id)
            policy.enforce(ctx, "share:get", self._target(share))
            return share

    def list_shares(self, ctx: AuthContext, q: ShareQuery) -> list[Share]:
        """The caller's project's shares (every project's for an admin with all_tenants),
        filtered, sorted and paged."""
        policy.enforce(ctx, "share:get_all", {"project_id": ctx.project_id})
        column = SORT_KEYS[q.sort_key]
        order = column.asc() if q.sort_dir == "asc" else column.desc()
        stmt = select(Share)
        if not (q.all_tenants and policy.allowed(ctx, "share:list_all_projects")):
            stmt = stmt.where(Share.project_id == ctx.project_id)
        if q.name is not None:
            stmt = stmt.where(Share.name == q.name)
        if q.status is not None:
            stmt = stmt.where(Share.status == q.status)
        stmt = stmt.order_by(order, Share.id.asc() if q.sort_dir == "asc" else Share.id.desc())
        with self.db.read() as s:
            return list(s.scalars(stmt.offset(q.offset).limit(q.limit)))

    def update_share(self, ctx: AuthContext, share_id: str, changes: dict) -> Share:
        """Set ``name`` and/or ``description`` (each None to clear it)."""
        with self.db.write() as s:
            share = self._get(s, ctx, share_id, lock=True)
            policy.enforce(ctx, "share:update", self._target(share))
            for key in ("name", "description"):
                if key in changes:
                    setattr(share, key, changes[key])
            share.updated_at = utcnow()
            s.flush()
            return share

    def delete_share(self, ctx: AuthContext, share_id: str) -> None:
        """``deleting`` now; the directory and the row (rules, metadata) go in the background.
        Refused (400, Manila's InvalidShare) unless available, error or inactive."""
        with self.db.write() as s:
            share = self._get(s, ctx, share_id, lock=True)
            policy.enforce(ctx, "share:delete", self._target(share))
            if share.status not in DELETABLE:
                raise BadRequest(f"Invalid share: Share status must be one of {DELETABLE}.", kind="InvalidShare")
            share.status, share.updated_at = "deleting", utcnow()
        self._pool.submit(self.finish_delete, share_id)

    def reset_task_state(self, ctx: AuthContext, share_id: str, task_state) -> None:
        """Manila's admin action. No share here ever has a task (migrations are not served):
        only ``None`` is a state it may be reset to (400 otherwise)."""
        with self.db.read() as s:
            share = self._get(s, ctx, share_id)
        policy.enforce(ctx, "share:reset_task_state", self._target(share))
        if task_state is not None:
            raise invalid_input(f"task state {str(task_state)[:64]!r} is not used by this cloud (shares have no tasks)")

    # ---- metadata --------------------------------------------------------------------------
    def get_metadata(self, ctx: AuthContext, share_id: str) -> dict[str, str]:
        with self.db.read() as s:
            share = self._get(s, ctx, share_id)
            policy.enforce(ctx, "share:get_share_metadata", self._target(share))
            return share.metadata_dict

    def get_metadata_item(self, ctx: AuthContext, share_id: str, key: str) -> str:
        found = self.get_metadata(ctx, share_id)
        if key not in found:
            raise NotFound(f"Metadata item was not found: {key[:255]}", kind="MetadataItemNotFound")
        return found[key]

    def update_metadata(self, ctx: AuthContext, share_id: str, metadata: dict, replace: bool = False) -> dict:
        """Merge ``metadata`` into the share's (or replace it all); returns the result."""
        check_metadata(metadata)
        with self.db.write() as s:
            share = self._get(s, ctx, share_id, lock=True)
            policy.enforce(ctx, "share:update_share_metadata", self._target(share))
            merged = dict(metadata) if replace else {**share.metadata_dict, **metadata}
            share.meta = [ShareMetadata(share_id=share.id, key=k, value=v) for k, v in sorted(merged.items())]
            share.updated_at = utcnow()
            s.flush()
            return merged

    def delete_metadata_item(self, ctx: AuthContext, share_id: str, key: str) -> None:
        with self.db.write() as s:
            share = self._get(s, ctx, share_id, lock=True)
            policy.enforce(ctx, "share:delete_share_metadata", self._target(share))
            item = next((m for m in share.meta if m.key == key), None)
            if item is None:
                raise NotFound(f"Metadata item was not found: {key[:255]}", kind="MetadataItemNotFound")
            share.meta.remove(item)
            share.updated_at = utcnow()

    # ---- export locations ------------------------------------------------------------------
    def export_path(self, share_id: str) -> str:
        """The export location of a share: ``<address>:/shares/<id>``."""
        return f"{self._export_address() or '127.0.0.1'}:/shares/{share_id}"

    def export_locations(self, ctx: AuthContext, share_id: str) -> list[dict]:
        """The share's export locations (one; none until it is available): ``id``, ``path``,
        ``preferred``, ``share_instance_id`` (the share's id: one instance each),
        ``is_admin_only``, ``created_at``, ``updated_at``."""
        with self.db.read() as s:
            share = self._get(s, ctx, share_id)
            policy.enforce(ctx, "share_export_location:index", self._target(share))
            if share.status != "available":
                return []
            return [{"id": share.export_id, "path": self.export_path(share.id), "preferred": True,
                     "share_instance_id": share.id, "is_admin_only": False, "created_at": iso(share.created_at),
                     "updated_at": iso(share.updated_at)}]

    def export_location(self, ctx: AuthContext, share_id: str, export_id: str) -> dict:
        found = next((e for e in self.export_locations(ctx, share_id) if e["id"] == export_id), None)
        if found is None:
            raise NotFound(f"Export location '{export_id[:100]}' not found.", kind="ExportLocationNotFound")
        return found

    # ---- access rules ----------------------------------------------------------------------
    def allow_access(self, ctx: AuthContext, share_id: str, access_type: str, access_to: str,
                     access_level: str | None = None, allow_ipv6: bool = True) -> ShareAccessRule:
        """A new rule letting ``access_to`` (an address or network) mount the share at
        ``access_level`` (default ``rw``); active at once. 400 for an access type other than
        ``ip``, a bad address, an unknown level, or a rule the share has already."""
        level = "rw" if access_level is None else access_level
        if access_type not in ACCESS_TYPES:
            raise BadRequest(f"Invalid or unsupported share access type: {str(access_type)[:64]}.",
                             kind="InvalidShareAccessType")
        parse_access_to(access_to, allow_ipv6)
        if level not in ACCESS_LEVELS:
            raise BadRequest(f"Invalid or unsupported share access level: {str(level)[:64]}.",
                             kind="InvalidShareAccessLevel")
        with self.db.write() as s:
            share = self._get(s, ctx, share_id, lock=True)
            policy.enforce(ctx, "share:allow_access", self._target(share))
            if share.status != "available":
                raise BadRequest("Invalid share: Share status must be available.", kind="InvalidShare")
            if any(r.access_type == access_type and r.access_to == access_to for r in share.rules):
                raise BadRequest(f"Share access {access_type}:{access_to} exists.", kind="ShareAccessExists")
            now = utcnow()
            rule = ShareAccessRule(id=uuid_str(), share_id=share.id, access_type=access_type, access_to=access_to,
                                   access_level=level, state="active", created_at=now, updated_at=now)
            share.rules.append(rule)
            s.flush()
            return rule

    def deny_access(self, ctx: AuthContext, share_id: str, access_id) -> None:
        """Remove the share's rule ``access_id`` (404 when the share has no such rule)."""
        with self.db.write() as s:
            share = self._get(s, ctx, share_id, lock=True)
            policy.enforce(ctx, "share:deny_access", self._target(share))
            rule = next((r for r in share.rules if r.id == access_id), None)
            if rule is None:
                raise rule_not_found(str(access_id)[:100])
            share.rules.remove(rule)

    def access_rules(self, ctx: AuthContext, share_id: str) -> list[ShareAccessRule]:
        with self.db.read() as s:
            share = self._get(s, ctx, share_id)
            policy.enforce(ctx, "share:access_get_all", self._target(share))
            return list(share.rules)

    def access_rule(self, ctx: AuthContext, access_id: str) -> ShareAccessRule:
        """One rule by id, if the caller sees its share (404 otherwise)."""
        with self.db.read() as s:
            rule = s.get(ShareAccessRule, access_id) if access_id and len(access_id) <= 36 else None
            share = s.get(Share, rule.share_id) if rule is not None else None
            if share is None or not (ctx.is_admin or share.project_id == ctx.project_id):
                raise NotFound(f"Share access rule {access_id[:100]} not found.", kind="AccessRuleNotFound")
            policy.enforce(ctx, "share:access_get", self._target(share))
            return rule

    # ---- the interface of the compute service (in-process) ---------------------------------
    def mounts_for(self, project_id: str, addresses: Iterable[str]) -> list[dict]:
        """The shares an instance of ``project_id`` with ``addresses`` (its fixed IPs) may
        mount: every ``available`` share of that project with an active rule whose network
        contains one of the addresses, as ``{"export": <export location path>, "source": <the
        share's directory on this host>, "read_only": bool}`` (read-only unless a matching
        rule is ``rw``), sorted by export. Shares of other projects never: tenant networks of
        two projects may use the same addresses."""
        ips = []
        for address in addresses:
            try:
                ips.append(ipaddress.ip_address(address))
            except ValueError:
                continue
        if not ips:
            return []
        with self.db.read() as s:
            shares = list(s.scalars(select(Share).where(Share.project_id == project_id,
                                                        Share.status == "available")))
        out = []
        for share in shares:
            levels = set()
            for rule in share.rules:
                if rule.access_type != "ip" or rule.state != "active":
                    continue
                try:
                    network = ipaddress.ip_network(rule.access_to, strict=False)
                except ValueError:
                    continue
                if any(ip.version == network.version and ip in network for ip in ips):
                    levels.add(rule.access_level)
            if levels:
                out.append({"export": self.export_path(share.id), "source": str(self.store.path(share.id)),
                            "read_only": "rw" not in levels})
        return sorted(out, key=lambda m: m["export"])
