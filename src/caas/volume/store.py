"""Volume files: ``DIR/volumes/<id>``, one sparse file per volume (mode 0600, in a 0700
directory), as long as the volume is big. Names are volume ids (UUIDs, checked here), never
anything a user chose, so leftovers can be listed and removed. A volume made from an image or
from another volume starts with a copy of that file's bytes; the copy keeps holes holes (it
reads only the source's data extents and skips blocks of zeros), so it stays sparse."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import BinaryIO

GIB = 1024 ** 3
COPY_BLOCK = 1024 * 1024
_ZEROS = bytes(COPY_BLOCK)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_volume_id(value: str) -> bool:
    return bool(_UUID.match(value))


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def setup(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def path(self, volume_id: str) -> Path:
        """The file of ``volume_id``; ValueError for anything that is not a volume id."""
        if not is_volume_id(volume_id):
            raise ValueError(f"not a volume id: {volume_id!r}")
        return self.root / volume_id

    def create(self, volume_id: str, size_gib: int, source: BinaryIO | None = None) -> None:
        """Make (or, after a crash, make again) the sparse file of ``size_gib`` GiB; with
        ``source`` (an open file), holding its bytes from offset 0 (at most ``size_gib`` GiB of
        them: the caller checked that they fit) and zeros after them."""
        fd = os.open(self.path(volume_id), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            if source is not None:
                os.ftruncate(fd, 0)  # what an interrupted copy wrote goes: the copy starts again
                copy_sparse(source.fileno(), fd, size_gib * GIB)
            os.ftruncate(fd, size_gib * GIB)
        finally:
            os.close(fd)

    def resize(self, volume_id: str, size_gib: int) -> None:
        """Grow the file to ``size_gib`` GiB (it must exist: FileNotFoundError otherwise)."""
        fd = os.open(self.path(volume_id), os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_size < size_gib * GIB:
                os.ftruncate(fd, size_gib * GIB)
        finally:
            os.close(fd)

    def delete(self, volume_id: str) -> None:
        self.path(volume_id).unlink(missing_ok=True)

    def exists(self, volume_id: str) -> bool:
        return self.path(volume_id).exists()

    def held(self) -> set[str]:
        """Ids of every volume with a file here (for the reconciler)."""
        try:
            return {p.name for p in self.root.iterdir() if is_volume_id(p.name)}
        except FileNotFoundError:
            return set()


def _data_extents(fd: int, end: int):
    """(start, stop) of the regions of ``fd`` below ``end`` that may hold data (SEEK_DATA and
    SEEK_HOLE; the whole range where the file system cannot tell)."""
    pos = 0
    while pos < end:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
            stop = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole from pos on
                return
            if exc.errno != errno.EINVAL:
                raise
            start, stop = pos, end  # no SEEK_DATA here: read everything
        if start >= end:
            return
        yield start, min(stop, end)
        pos = stop


def copy_sparse(src: int, dst: int, limit: int) -> int:
    """Copy the first ``limit`` bytes of ``src`` (or all, if it is shorter) to the same offsets
    of ``dst``, writing neither the source's holes nor whole blocks of zeros (so ``dst``, if it
    was empty, stays sparse there). Returns the bytes read."""
    end = min(os.fstat(src).st_size, limit)
    done = 0
    for start, stop in _data_extents(src, end):
        offset = start
        while offset < stop:
            block = os.pread(src, min(COPY_BLOCK, stop - offset), offset)
            if not block:  # the source shrank meanwhile
                return done
            if block != _ZEROS[:len(block)]:
                view = memoryview(block)
                at = offset
                while view:
                    written = os.pwrite(dst, view, at)
                    view, at = view[written:], at + written
            offset += len(block)
            done += len(block)
    return done
