"""Volume files: ``DIR/volumes/<id>``, one sparse file per volume (mode 0600, in a 0700
directory), as long as the volume is big. Names are volume ids (UUIDs, checked here), never
anything a user chose, so leftovers can be listed and removed."""

from __future__ import annotations

import os
import re
from pathlib import Path

GIB = 1024 ** 3
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

    def create(self, volume_id: str, size_gib: int) -> None:
        """Make (or, after a crash, finish) the sparse file of ``size_gib`` GiB."""
        fd = os.open(self.path(volume_id), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
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
