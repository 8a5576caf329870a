"""Share directories: ``DIR/shares/<id>``, one directory per share (mode 0755, as the root of
a fresh NFS export: the instances' root writes, and makes directories for its users), in a
0700 parent. Names are share ids (UUIDs the service makes, checked
here), never anything a user chose, so leftovers can be listed and removed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_share_id(value: str) -> bool:
    return bool(_UUID.match(value))


class ShareStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def setup(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def path(self, share_id: str) -> Path:
        """The directory of ``share_id``; ValueError for anything that is not a share id."""
        if not is_share_id(share_id):
            raise ValueError(f"not a share id: {share_id!r}")
        return self.root / share_id

    def create(self, share_id: str) -> None:
        """Make (or, after a crash, keep) the share's directory."""
        path = self.path(share_id)
        if path.is_symlink():
            path.unlink()
        path.mkdir(mode=0o755, exist_ok=True)
        os.chmod(path, 0o755)

    def delete(self, share_id: str) -> None:
        """Remove the directory and everything in it (idempotent). Symlinks inside are removed,
        never followed (shutil.rmtree does not follow them)."""
        path = self.path(share_id)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)

    def held(self) -> list[str]:
        """The share ids that have a directory here."""
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir() if is_share_id(p.name)]
