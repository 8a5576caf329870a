"""Exclusive lock files: ``hold(path, holder)`` takes a flock for the caller's lifetime (the
open file is the lock) and writes who holds it; ``Held`` names the holder when taken."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


class Held(Exception):
    """The lock is held; ``holder`` is what its holder wrote."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def hold(path: Path, holder: str) -> IO[str]:
    """Lock ``path`` (created if missing) without waiting, write ``holder`` into it and return
    the open file (closing it releases the lock); Held if another process has it."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        text = fh.read().strip() or "another process"
        fh.close()
        raise Held(text) from None
    fh.seek(0)
    fh.truncate()
    fh.write(holder + "\n")
    fh.flush()
    return fh
