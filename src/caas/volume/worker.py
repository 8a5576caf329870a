"""The background work behind a volume's statuses, and the crash reconciler.

Create, delete and extend answer at once (``creating``, ``deleting``, ``extending``); a worker
thread then makes, removes or grows the sparse file and records the outcome. A crash at any
point leaves a row in one of those statuses or a file without a row; ``reconcile`` (run on
every start, before serving) finishes the one and removes the other.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO, Callable

from sqlalchemy import select

from caas.db import Database
from caas.db.base import utcnow
from caas.volume.models import Volume
from caas.volume.store import VolumeStore

if TYPE_CHECKING:
    from caas.image.service import ImageService

log = logging.getLogger("caas.volume")

# Statuses a crash can leave half done.
IN_FLIGHT = ("creating", "deleting", "extending")


class VolumeWorker:
    """The worker threads of one volume service: ``host`` is its Cinder host (the reconciler
    touches only its own volumes); ``images``, where volumes made from images get their bytes."""

    def __init__(self, db: Database, store: VolumeStore, host: str, images: "ImageService | None",
                 workers: int = 4) -> None:
        self.db = db
        self.store = store
        self.host = host
        self.images = images
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caas-volume")

    def reconcile(self) -> None:
        """Run at start, before serving: finish what a crash left half done on this data dir
        (create, delete or extend), remove files that no volume owns, and mark ``error`` an
        ``available`` volume whose file has gone."""
        with self.db.read() as s:
            pending = s.execute(select(Volume.id, Volume.status).where(
                Volume.host == self.host, Volume.status.in_(IN_FLIGHT))).all()
        for volume_id, status in pending:
            log.warning("volume %s was %s when caas stopped; finishing it", volume_id, status)
            {"creating": self.finish_create, "deleting": self.finish_delete,
             "extending": self.finish_extend}[status](volume_id)
        held = sorted(self.store.held())
        for start in range(0, len(held), 500):
            chunk = held[start:start + 500]
            with self.db.read() as s:
                known = set(s.scalars(select(Volume.id).where(Volume.id.in_(chunk))))
            for volume_id in chunk:
                if volume_id not in known:
                    log.warning("removing %s: no volume owns it", self.store.path(volume_id))
                    self.store.delete(volume_id)
        held_now = self.store.held()
        with self.db.write() as s:
            for vol in s.scalars(select(Volume).where(Volume.host == self.host,
                                                      Volume.status.in_(("available", "in-use")))):
                if vol.id in held_now:
                    continue
                log.warning("the file of volume %s (%s) is missing", vol.id, vol.status)
                if vol.status == "available":
                    vol.status = "error"
                    vol.updated_at = utcnow()

    def shutdown(self) -> None:
        """Let the background work under way finish (what is left, the reconciler finishes)."""
        self._pool.shutdown(wait=True)

    def submit(self, fn: Callable[[str], None], volume_id: str) -> None:
        """Run ``fn(volume_id)`` on a worker thread (its failure is logged)."""
        def run() -> None:
            try:
                fn(volume_id)
            except Exception:  # noqa: BLE001 - a worker must log, never die silently
                log.exception("background work on volume %s failed", volume_id)
        self._pool.submit(run)

    def _open_source(self, vol: Volume) -> tuple[BinaryIO | None, bool]:
        """The open file whose bytes the new volume starts with (None for an empty volume), and
        whether the volume is then bootable (from an image: yes; a copy: as its source).
        OSError if the source's file (or the image's) is gone."""
        if vol.source_volid:
            with self.db.read() as s:
                source = s.get(Volume, vol.source_volid)
            if source is None:
                raise FileNotFoundError(f"source volume {vol.source_volid} is gone")
            return open(self.store.path(source.id), "rb", buffering=0), source.bootable
        image_id = vol.image_metadata_dict.get("image_id")
        if image_id is None:
            return None, False
        fh = self.images.store.open(image_id) if self.images is not None else None
        if fh is None:
            raise FileNotFoundError(f"the data of image {image_id} is gone")
        return fh, True

    def finish_create(self, volume_id: str) -> None:
        """Make the file of a ``creating`` volume (empty, or a copy of its source): ``available``,
        or ``error`` when that fails."""
        with self.db.read() as s:
            vol = s.get(Volume, volume_id)
            if vol is None or vol.status != "creating":
                return
            size = vol.size
        bootable = False
        try:
            source, bootable = self._open_source(vol)
            try:
                self.store.create(volume_id, size, source)
            finally:
                if source is not None:
                    source.close()
            ok = True
        except (OSError, ValueError) as exc:
            log.error("cannot create the file of volume %s (%s GiB): %s", volume_id, size, exc)
            ok = False
        with self.db.write() as s:
            vol = s.get(Volume, volume_id, with_for_update=True)
            if vol is None:  # deleted meanwhile (a forced delete): leave no file behind
                self.store.delete(volume_id)
                return
            if vol.status != "creating":
                return
            if not ok:
                self.store.delete(volume_id)
            vol.status = "available" if ok else "error"
            vol.bootable = vol.bootable or (ok and bootable)
            vol.updated_at = utcnow()

    def finish_delete(self, volume_id: str) -> None:
        """Remove the file of a ``deleting`` volume, then its row (``error_deleting`` if the
        file stays)."""
        with self.db.write() as s:
            vol = s.get(Volume, volume_id, with_for_update=True)
            if vol is None or vol.status != "deleting":
                return
            try:
                self.store.delete(volume_id)
            except OSError as exc:
                log.error("cannot remove the file of volume %s: %s", volume_id, exc)
                vol.status = "error_deleting"
                vol.updated_at = utcnow()
                return
            s.delete(vol)

    def finish_extend(self, volume_id: str) -> None:
        """Grow the file of an ``extending`` volume to ``new_size``: ``available`` with the new
        size, or ``error_extending``."""
        with self.db.read() as s:
            vol = s.get(Volume, volume_id)
            if vol is None or vol.status != "extending":
                return
            target = vol.new_size
        ok = target is not None
        if ok:
            try:
                self.store.resize(volume_id, target)
            except (OSError, ValueError) as exc:
                log.error("cannot extend the file of volume %s to %s GiB: %s", volume_id, target, exc)
                ok = False
        with self.db.write() as s:
            vol = s.get(Volume, volume_id, with_for_update=True)
            if vol is None or vol.status != "extending":
                return
            if ok:
                vol.size = target
            vol.new_size = None
            vol.status = "available" if ok or target is None else "error_extending"
            vol.updated_at = utcnow()
