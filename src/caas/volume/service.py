"""Volume domain logic: volumes (create, list, show, update, delete, extend, metadata, status
resets), the one volume type ``__DEFAULT__``, attachments (the interface the compute service
calls in-process) and quotas (``quotas.QuotaMixin``). The background work and crash
reconciler behind the statuses are ``worker.VolumeWorker``'s; volumes made from images are
checked in ``images``; the refusals are ``faults``.

A volume is a row first and a file second. Create answers at once with ``creating`` (the row,
with its quota claim, in one transaction); a worker thread then makes the sparse file
``DIR/volumes/<id>`` and sets ``available`` (``error`` if that fails). Delete sets ``deleting``
and a worker removes the file, then the row. Extend claims the growth, sets ``extending`` with
``new_size`` and a worker grows the file, then sets ``size`` and ``available`` (or
``error_extending``). A crash at any point leaves a row in one of those three statuses or a file
without a row; ``reconcile`` (run on every start) finishes the one and removes the other.

A volume may start as a copy (Cinder's create from ``imageRef`` or ``source_volid``): the
request is checked against the image or the source volume at once, the row records where the
bytes come from (``source_volid``, or the image's id in its image metadata), and the worker
copies them into the new file (from the start, again, after a crash), then marks the volume
bootable as Cinder does. Only images whose bytes are the disk (disk_format raw or iso, container
bare) are accepted: caas has no qemu-img to convert the others, as Cinder would.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import socket
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from caas import paging
from caas.config import Settings
from caas.db import Database
from caas.db.base import utcnow
from caas.errors import BadRequest, NotFound
from caas.context import AuthContext
from caas.volume import images as volume_images
from caas.volume import policy
from caas.volume.faults import attachment_not_found, invalid_input, invalid_volume, not_found
from caas.volume.models import Volume, VolumeAttachment, VolumeImageMetadata, VolumeMetadata, uuid_str
from caas.volume.quotas import DB_MAX_INT, QuotaMixin, claim, lock
from caas.volume.store import VolumeStore, is_volume_id
from caas.volume.worker import VolumeWorker

if TYPE_CHECKING:
    from caas.image.models import Image
    from caas.image.service import ImageService

log = logging.getLogger("caas.volume")

AVAILABILITY_ZONE = "nova"
# The one volume type; its id is fixed so that every caas (and every restart) agrees on it.
DEFAULT_TYPE_ID = "ac1f3a5e-3cf4-5d2c-9a4e-7b0f1e6d2c30"
DEFAULT_TYPE_NAME = "__DEFAULT__"
DEFAULT_TYPE = {"id": DEFAULT_TYPE_ID, "name": DEFAULT_TYPE_NAME, "description": "Default Volume Type",
                "is_public": True, "extra_specs": {}, "qos_specs_id": None}

# Cinder's volume statuses (what os-reset_status accepts), and those a volume may be deleted in.
STATUSES = ("creating", "available", "deleting", "error", "error_deleting", "error_managing", "managing",
            "attaching", "in-use", "detaching", "maintenance", "restoring-backup", "error_restoring", "reserved",
            "awaiting-transfer", "backing-up", "error_backing-up", "error_extending", "downloading", "uploading",
            "retyping", "extending")
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
MIGRATION_STATUSES = ("migrating", "error", "success", "completing", "none", "starting")
# What a volume may be copied from (Cinder's SRC_VOL_PROCEED_STATUS).
SOURCE_STATUSES = ("available", "in-use")
# Columns a list may filter on (admins: any; others: those the API lets through) and sort by,
# by Cinder's column names (the API's ``name`` is ``display_name``).
COLUMNS = {"id": Volume.id, "display_name": Volume.name, "display_description": Volume.description,
           "size": Volume.size, "status": Volume.status, "availability_zone": Volume.availability_zone,
           "bootable": Volume.bootable, "migration_status": Volume.migration_status,
           "project_id": Volume.project_id, "user_id": Volume.user_id, "host": Volume.host,
           "created_at": Volume.created_at, "updated_at": Volume.updated_at}


def iso(when: dt.datetime | None) -> str | None:
    """Cinder's timestamps: naive UTC with microseconds, ``2024-01-31T12:00:00.000000``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None


def device_names():
    """Devices in the order servers get them: /dev/vdb ... /dev/vdz, /dev/vdaa, /dev/vdab, ...
    (/dev/vda is the root disk)."""
    letters = string.ascii_lowercase
    for suffix in itertools.chain(letters[1:], (a + b for a in letters for b in letters)):
        yield f"/dev/vd{suffix}"


def _device_order(device: str) -> tuple[int, str]:
    return len(device), device


def attachment_dict(att: VolumeAttachment) -> dict:
    """An attachment as the compute service gets it."""
    return {"id": att.id, "attachment_id": att.id, "volume_id": att.volume_id, "server_id": att.server_id,
            "device": att.device, "host_name": att.host, "attached_at": iso(att.attached_at)}


@dataclass
class VolumeQuery:
    """A list request, already parsed by the API: exact-match ``filters`` on COLUMNS (a list
    value is any of), ``metadata`` pairs all of which a volume must have, ``impossible`` when a
    filter can match nothing (an unknown attribute, a size that is not a number), ``sort`` as
    (column, asc|desc) pairs, then Cinder's tie-breakers created_at and id."""

    filters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    impossible: bool = False
    all_tenants: bool = False
    marker: str | None = None
    limit: int = 1000
    offset: int = 0
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])


def _sort_key(value):
    # None sorts first ascending (as MySQL, Cinder's reference database) on both backends.
    return (value is not None, value if value is not None else 0)


class VolumeService(QuotaMixin):
    def __init__(self, db: Database, settings: Settings, workers: int = 4,
                 images: "ImageService | None" = None) -> None:
        self.db = db
        self.settings = settings
        self.images = images  # where volumes made from images get them (none: such creates are refused)
        self.store = VolumeStore(settings.volume_dir)
        pool = str(settings.volume_dir)
        # Cinder's host@backend#pool; the reconciler of this process touches only its own.
        self.host = f"{socket.gethostname()}@sparse#{pool}"[:255]
        self.worker = VolumeWorker(db, self.store, self.host, images, workers)

    # ---- first start and crash recovery --------------------------------------------------
    def bootstrap(self) -> None:
        """The volume directory and the crash reconciler. Idempotent."""
        self.store.setup()
        self.worker.reconcile()

    def shutdown(self) -> None:
        """Let the background work under way finish (what is left, the reconciler finishes)."""
        self.worker.shutdown()

    # ---- who sees what -------------------------------------------------------------------
    @staticmethod
    def _get(s: Session, ctx: AuthContext, volume_id: str, lock: bool = False) -> Volume:
        """The volume if the caller may see it (its project's, or any for admins); 404 otherwise,
        so that other projects' ids are indistinguishable from unknown ones."""
        vol = s.get(Volume, volume_id, with_for_update=lock) if volume_id and len(volume_id) <= 64 else None
        if vol is None or not (ctx.is_admin or vol.project_id == ctx.project_id):
            raise not_found(volume_id)
        return vol

    @staticmethod
    def _target(vol: Volume) -> dict:
        return {"project_id": vol.project_id}

    # ---- volume types --------------------------------------------------------------------
    @staticmethod
    def resolve_type(name_or_id: str | None) -> dict:
        """The volume type a create names (none, empty, or the default's name or id)."""
        if not name_or_id or name_or_id in (DEFAULT_TYPE_NAME, DEFAULT_TYPE_ID):
            return DEFAULT_TYPE
        if is_volume_id(name_or_id):
            raise NotFound(f"Volume type {name_or_id} could not be found.", kind="VolumeTypeNotFound")
        raise NotFound(f"Volume type with name {name_or_id} could not be found.", kind="VolumeTypeNotFoundByName")

    def list_types(self, ctx: AuthContext) -> list[dict]:
        policy.enforce(ctx, "volume_extension:types_get")
        return [DEFAULT_TYPE]

    def show_type(self, ctx: AuthContext, type_id: str) -> dict:
        """By id (``default`` names the default type), as Cinder: never by name."""
        policy.enforce(ctx, "volume_extension:types_get")
        if type_id in (DEFAULT_TYPE_ID, "default"):
            return DEFAULT_TYPE
        raise NotFound(f"Volume type {type_id} could not be found.", kind="VolumeTypeNotFound")

    # ---- volumes -------------------------------------------------------------------------
    def resolve_image(self, ctx: AuthContext, ref: str) -> str:
        """The id of the image ``ref`` names (``images.resolve``: Cinder's reading of imageRef)."""
        return volume_images.resolve(self.images, ctx, ref)

    def create_volume(self, ctx: AuthContext, size: int | None, name: str | None = None,
                      description: str | None = None, metadata: dict[str, str] | None = None,
                      availability_zone: str | None = None, volume_type: str | None = None,
                      source_volid: str | None = None, image_id: str | None = None) -> Volume:
        """A new volume of ``size`` GiB in the caller's project, ``creating`` until its file
        exists. The quota claim (volumes, gigabytes, per_volume_gigabytes) and the row are one
        transaction under the project's lock.

        With ``source_volid`` (a volume the caller sees, else 404; ``available`` or ``in-use``,
        else 400) the volume is a copy of it: ``size`` defaults to the source's and may not be
        smaller. With ``image_id`` (resolved by ``resolve_image``) it holds the image's bytes:
        the image must be active, fit in ``size`` (its size, min_disk, virtual size) and be one
        caas copies (``check_image``). Not both (400)."""
        policy.enforce(ctx, "volume:create", {"project_id": ctx.project_id})
        source = None
        if source_volid is not None:
            with self.db.read() as s:
                source = self._get(s, ctx, source_volid)
        image = volume_images.for_volume(self.images, ctx, image_id) if image_id is not None else None
        if source is not None and image is not None:
            raise invalid_input("May specify only one of backup, imageRef, snapshot, source volume")
        if source is not None:
            self._check_source(source)
            size = size or source.size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= DB_MAX_INT:
            raise invalid_input(f"Volume size '{size}' must be an integer and greater than 0")
        if source is not None and size < source.size:
            raise invalid_input(f"Volume size '{size}'GB cannot be smaller than original volume size  "
                                f"{source.size}GB. They must be >= original volume size.")
        if image is not None:
            volume_images.check_image(image, size)
        self.resolve_type(volume_type)
        zone = availability_zone or AVAILABILITY_ZONE
        if zone != AVAILABILITY_ZONE:
            raise BadRequest(f"Availability zone '{zone}' is invalid.", kind="InvalidAvailabilityZone")
        with self.db.write() as s:
            image_meta = volume_images.image_metadata(image) if image is not None else {}
            if source is not None:
                # Locked and checked again: a delete (which locks it too) may have come first.
                source = self._get(s, ctx, source.id, lock=True)
                self._check_source(source)
                image_meta = source.image_metadata_dict if source.bootable else {}
            claim(s, ctx.project_id, volumes=1, gigabytes=size, size=size)
            vol = Volume(id=uuid_str(), project_id=ctx.project_id, user_id=ctx.user_id, name=name,
                         description=description, size=size, status="creating", availability_zone=zone,
                         bootable=False, host=self.host, source_volid=source.id if source is not None else None,
                         created_at=utcnow(), updated_at=None)
            vol.meta = [VolumeMetadata(key=k, value=v) for k, v in sorted((metadata or {}).items())]
            vol.image_meta = [VolumeImageMetadata(key=k, value=v) for k, v in sorted(image_meta.items())]
            vol.attachments = []
            s.add(vol)
            s.flush()
        self.worker.submit(self.worker.finish_create, vol.id)
        return vol

    @staticmethod
    def _check_source(source: Volume) -> None:
        if source.status not in SOURCE_STATUSES:
            raise invalid_volume(f"Originating source volume status must be one of "
                                 f"'{', '.join(SOURCE_STATUSES)}' values")

    def show_volume(self, ctx: AuthContext, volume_id: str) -> Volume:
        with self.db.read() as s:
            vol = self._get(s, ctx, volume_id)
            policy.enforce(ctx, "volume:get", self._target(vol))
            return vol

    def list_volumes(self, ctx: AuthContext, q: VolumeQuery) -> list[Volume]:
        """The caller's project's volumes (every project's for an admin with all_tenants),
        filtered, sorted and paged as Cinder does (marker: the last id of the previous page)."""
        policy.enforce(ctx, "volume:get_all", {"project_id": ctx.project_id})
        keys = [k for k, _ in q.sort]
        with self.db.read() as s:
            marker = self._get(s, ctx, q.marker) if q.marker else None
            if q.impossible:
                return []
            columns = [Volume.id] + [COLUMNS[k] for k in keys]
            stmt = select(*columns)
            if not (ctx.is_admin and q.all_tenants):
                stmt = stmt.where(Volume.project_id == ctx.project_id)
            for key, value in q.filters.items():
                column = COLUMNS[key]
                stmt = stmt.where(column.in_(value) if isinstance(value, list) else column == value)
            for key, value in q.metadata.items():
                stmt = stmt.where(exists().where(VolumeMetadata.volume_id == Volume.id, VolumeMetadata.key == key,
                                                 VolumeMetadata.value == value))
            rows = [tuple(r) for r in s.execute(stmt)]
            if marker is not None and marker.id not in {r[0] for r in rows}:
                rows.append((marker.id, *[getattr(marker, COLUMNS[k].key) for k in keys]))
            # Sorted here rather than in SQL so that NULLs (names, dates) order alike on both
            # backends; one pass per key, last key first (the sorts are stable).
            for i in range(len(keys) - 1, -1, -1):
                rows.sort(key=lambda r: _sort_key(r[i + 1]), reverse=q.sort[i][1] == "desc")
            ids, _ = paging.page([r[0] for r in rows], marker.id if marker else None, q.limit, key=str,
                                 offset=q.offset)
            found = {v.id: v for v in s.scalars(select(Volume).where(Volume.id.in_(ids)))} if ids else {}
            return [found[i] for i in ids if i in found]

    def update_volume(self, ctx: AuthContext, volume_id: str, changes: dict) -> Volume:
        """Change ``name``, ``description`` and (replacing all of it) ``metadata``."""
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume:update", self._target(vol))
            if vol.status == "maintenance":
                raise invalid_volume("The volume cannot be updated during maintenance.")
            if "name" in changes:
                vol.name = changes["name"]
            if "description" in changes:
                vol.description = changes["description"]
            if "metadata" in changes:
                self._set_metadata(s, vol, changes["metadata"] or {}, replace=True)
            vol.updated_at = utcnow()
            s.flush()
            return vol

    def delete_volume(self, ctx: AuthContext, volume_id: str, force: bool = False) -> None:
        """Mark the volume ``deleting`` (a worker removes its file, then its row). Refused while
        attached, and unless ``force`` (admins), in any status but Cinder's deletable ones."""
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume:delete", self._target(vol))
            if force:
                policy.enforce(ctx, "volume_extension:volume_admin_actions:force_delete", self._target(vol))
            if vol.attachments or (not force and vol.status not in DELETABLE):
                raise invalid_volume(
                    "Volume status must be available or error or error_restoring or error_extending or "
                    "error_managing and must not be migrating, attached, belong to a group, have snapshots, "
                    "awaiting a transfer, or be disassociated from snapshots after volume transfer.")
            vol.status = "deleting"
            vol.new_size = None
            vol.updated_at = utcnow()
        self.worker.submit(self.worker.finish_delete, volume_id)

    def extend_volume(self, ctx: AuthContext, volume_id: str, new_size: int) -> None:
        """Grow an ``available`` volume to ``new_size`` GiB: the growth is claimed against the
        gigabytes quota (and per_volume_gigabytes) with the volume locked; ``extending`` until
        its file has grown."""
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume:extend", self._target(vol))
            if new_size <= vol.size:
                raise BadRequest(f"Invalid input received: New size for extend must be greater than current size. "
                                 f"(current: {vol.size}, extended: {new_size}).", kind="InvalidInput")
            if vol.status != "available":
                raise invalid_volume(f"Volume {vol.id} status must be '{{'status': 'available'}}' to extend, "
                                     f"currently {vol.status}.")
            claim(s, vol.project_id, volumes=0, gigabytes=new_size - vol.size, size=new_size)
            vol.status = "extending"
            vol.new_size = new_size
            vol.updated_at = utcnow()
        self.worker.submit(self.worker.finish_extend, volume_id)

    def set_bootable(self, ctx: AuthContext, volume_id: str, bootable: bool) -> None:
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume_extension:volume_actions:set_bootable", self._target(vol))
            vol.bootable = bootable
            vol.updated_at = utcnow()

    def reset_status(self, ctx: AuthContext, volume_id: str, status: str | None = None,
                     attach_status: str | None = None, migration_status: str | None = None) -> None:
        """Admins set a volume's status in the database, whatever it was (Cinder's
        os-reset_status): ``deleting`` is refused, ``in-use`` needs an attachment, and
        ``attach_status: detached`` removes the attachments."""
        if not (status or attach_status or migration_status):
            raise BadRequest("Must specify 'status', 'attach_status' or 'migration_status' for update.")
        status = status.lower() if status else None
        attach_status = attach_status.lower() if attach_status else None
        migration_status = migration_status.lower() if migration_status else None
        if status and status not in STATUSES:
            raise BadRequest(f"Volume status: {status} is invalid, valid statuses are: {STATUSES}.")
        if attach_status and attach_status not in ("attached", "detached"):
            raise BadRequest(f"Volume attach status: {attach_status} is invalid, valid statuses are: "
                             "['attached', 'detached'].")
        if migration_status and migration_status not in MIGRATION_STATUSES:
            raise BadRequest(f"Volume migration status: {migration_status} is invalid, valid statuses are: "
                             f"{MIGRATION_STATUSES}.")
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume_extension:volume_admin_actions:reset_status", self._target(vol))
            if status == "deleting":
                raise BadRequest(f"Cannot reset-state to {status}")
            if status == "in-use" and not vol.attachments:
                raise BadRequest("Cannot reset-state to in-use because volume does not have any attachments.")
            if status:
                if status != "extending":
                    vol.new_size = None  # an interrupted extend no longer holds its claim
                vol.status = status
            if migration_status:
                vol.migration_status = None if migration_status == "none" else migration_status
            if attach_status == "detached":
                vol.attachments.clear()
            vol.updated_at = utcnow()

    # ---- metadata ------------------------------------------------------------------------
    @staticmethod
    def _set_metadata(s: Session, vol: Volume, metadata: dict[str, str], replace: bool) -> None:
        current = {m.key: m for m in vol.meta}
        if replace:
            for key in [k for k in current if k not in metadata]:
                vol.meta.remove(current.pop(key))
            s.flush()
        for key, value in metadata.items():
            if key in current:
                current[key].value = value
            else:
                vol.meta.append(VolumeMetadata(volume_id=vol.id, key=key, value=value))

    def get_metadata(self, ctx: AuthContext, volume_id: str) -> dict[str, str]:
        return self.show_volume(ctx, volume_id).metadata_dict

    def update_metadata(self, ctx: AuthContext, volume_id: str, metadata: dict[str, str],
                        replace: bool = False) -> dict[str, str]:
        """Merge ``metadata`` into the volume's (or, with ``replace``, make it the whole of
        it); returns all of it."""
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume:update_volume_metadata", self._target(vol))
            self._set_metadata(s, vol, metadata, replace)
            vol.updated_at = utcnow()
            s.flush()
            return vol.metadata_dict

    def get_metadata_item(self, ctx: AuthContext, volume_id: str, key: str) -> str:
        metadata = self.get_metadata(ctx, volume_id)
        if key not in metadata:
            raise NotFound(f"Volume {volume_id} has no metadata with key {key}.", kind="VolumeMetadataNotFound")
        return metadata[key]

    def delete_metadata_item(self, ctx: AuthContext, volume_id: str, key: str) -> None:
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            policy.enforce(ctx, "volume:delete_volume_metadata", self._target(vol))
            item = next((m for m in vol.meta if m.key == key), None)
            if item is None:
                raise NotFound(f"Volume {volume_id} has no metadata with key {key}.", kind="VolumeMetadataNotFound")
            vol.meta.remove(item)
            vol.updated_at = utcnow()

    # ---- attachments: the interface of the compute service (in-process) ------------------
    def attach(self, ctx: AuthContext, volume_id: str, server_id: str, host: str | None) -> dict:
        """Attach a volume to a server, in one transaction with the volume row locked.

        The volume must be visible to ``ctx`` (else NotFound "Volume X could not be found.")
        and ``available`` with no attachment (else BadRequest "Invalid volume: volume X status
        must be available, but current status is: S."). The attachment gets the server's next
        free device among its attachments (/dev/vdb, /dev/vdc, ...; /dev/vda is the root disk)
        and the volume becomes ``in-use``. Returns ``{"id", "attachment_id", "volume_id",
        "server_id", "device", "host_name", "attached_at"}`` (``id`` is the attachment's id;
        ``attached_at`` as Cinder writes times). Attaches to one server are serialised on its
        lock row, so that two of them never pick the same device."""
        if not server_id or len(server_id) > 36:
            raise BadRequest(f"Invalid server id: {server_id[:64]!r}.")
        with self.db.write() as s:
            lock(s, f"server:{server_id}")
            vol = self._get(s, ctx, volume_id, lock=True)
            if vol.status != "available" or vol.attachments:
                raise invalid_volume(f"volume {vol.id} status must be available, but current status is: "
                                     f"{vol.status}.")
            used = set(s.scalars(select(VolumeAttachment.device).where(VolumeAttachment.server_id == server_id)))
            device = next(d for d in device_names() if d not in used)
            att = VolumeAttachment(id=uuid_str(), volume_id=vol.id, server_id=server_id, device=device,
                                   host=host[:255] if host else None, attached_at=utcnow())
            vol.attachments.append(att)
            vol.status = "in-use"
            vol.updated_at = utcnow()
            s.flush()
            return attachment_dict(att)

    def detach(self, ctx: AuthContext, volume_id: str, server_id: str) -> None:
        """Remove the attachment of the volume (visible to ``ctx``, else NotFound) to the server
        (NotFound if it is not attached there); the volume becomes ``available``."""
        with self.db.write() as s:
            vol = self._get(s, ctx, volume_id, lock=True)
            att = next((a for a in vol.attachments if a.server_id == server_id), None)
            if att is None:
                raise attachment_not_found(volume_id, server_id)
            vol.attachments.remove(att)
            if not vol.attachments and vol.status in ("in-use", "attaching", "detaching"):
                vol.status = "available"
            vol.updated_at = utcnow()

    def server_attachments(self, server_id: str) -> list[dict]:
        """The server's attachments (as ``attach`` returns them), by device."""
        with self.db.read() as s:
            atts = list(s.scalars(select(VolumeAttachment).where(VolumeAttachment.server_id == server_id)))
        return [attachment_dict(a) for a in sorted(atts, key=lambda a: _device_order(a.device))]

    def attachments_by_server(self, server_ids: list[str]) -> dict[str, list[dict]]:
        """``server_attachments`` of many servers in one query (for server lists): every id
        asked for is a key, with an empty list when nothing is attached."""
        out: dict[str, list[dict]] = {sid: [] for sid in server_ids}
        with self.db.read() as s:
            for start in range(0, len(server_ids), 500):
                chunk = server_ids[start:start + 500]
                for att in s.scalars(select(VolumeAttachment).where(VolumeAttachment.server_id.in_(chunk))):
                    out[att.server_id].append(att)
        return {sid: [attachment_dict(a) for a in sorted(atts, key=lambda a: _device_order(a.device))]
                for sid, atts in out.items()}

    def server_attachment(self, server_id: str, volume_id: str) -> dict:
        """The attachment of ``volume_id`` to the server; NotFound if it is not attached there."""
        with self.db.read() as s:
            att = s.scalar(select(VolumeAttachment).where(VolumeAttachment.server_id == server_id,
                                                          VolumeAttachment.volume_id == volume_id))
        if att is None:
            raise attachment_not_found(volume_id, server_id)
        return attachment_dict(att)

    def detach_all(self, server_id: str) -> None:
        """Detach every volume of the server (when it is deleted); idempotent."""
        with self.db.write() as s:
            lock(s, f"server:{server_id}")  # the server, then its volumes: the order attach takes them
            atts = sorted(s.scalars(select(VolumeAttachment).where(VolumeAttachment.server_id == server_id)),
                          key=lambda a: a.volume_id)
            for att in atts:
                vol = s.get(Volume, att.volume_id, with_for_update=True)
                if vol is None:
                    continue
                vol.attachments = [a for a in vol.attachments if a.server_id != server_id]
                if not vol.attachments and vol.status in ("in-use", "attaching", "detaching"):
                    vol.status = "available"
                vol.updated_at = utcnow()

    def volume_path(self, volume_id: str) -> Path:
        """The volume's sparse file (for the hypervisor driver); NotFound for a malformed id.
        Whether the volume exists is the caller's business (``server_attachment``)."""
        try:
            return self.store.path(volume_id)
        except ValueError:
            raise not_found(volume_id) from None
