"""The image file store: one file per image under the data dir (``settings.image_dir``).

``ImageStore.receive`` writes a stream of blocks to ``tmp/<id>`` while hashing it (MD5 for
Glance's ``checksum``, SHA-512 for ``os_hash_value``; the two digests run in parallel, as
hashlib releases the GIL) and renames it to ``<id>`` once complete, so a file under its final
name is always whole. Nothing is held in memory beyond the block being written. Files are 0600
in a 0700 directory; names are image ids (UUIDs) only, never anything a user typed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from caas.errors import BadRequest, PayloadTooLarge

HASH_ALGO = "sha512"
READ_BLOCK = 1024 * 1024
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# SHA-512 of every upload runs here, beside the MD5 and the write in the upload's own thread.
_hashers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="caas-image-hash")


@dataclass(frozen=True)
class StoredData:
    size: int
    checksum: str  # md5 hex
    hash_value: str  # sha512 hex
    virtual_size: int | None


def virtual_size(disk_format: str | None, head: bytes, size: int) -> int | None:
    """The disk size a guest sees, where the format says so cheaply: raw is its size, qcow2
    states it in its header; other formats are left unknown (null), as Glance does without
    its format inspectors."""
    if disk_format == "raw":
        return size
    if disk_format == "qcow2" and len(head) >= 32 and head[:4] == b"QFI\xfb":
        return struct.unpack(">Q", head[24:32])[0]
    return None


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def setup(self) -> None:
        for d in (self.root, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)

    def path(self, image_id: str) -> Path:
        if not _UUID.match(image_id):  # ids come from the database; this is a second fence
            raise ValueError(f"not an image id: {image_id!r}")
        return self.root / image_id

    def receive(self, image_id: str, blocks: Iterable[bytes], *, limit: int, expected_size: int | None,
                disk_format: str | None) -> StoredData:
        """Store the blocks as the image's file. ``limit``: the most bytes accepted (413 beyond);
        ``expected_size``: what the client announced, if it did (400 on a mismatch). On any
        error nothing is left behind."""
        final = self.path(image_id)
        tmp = self.tmp / image_id
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.new(HASH_ALGO)
        size = 0
        head = b""
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            try:
                for block in blocks:
                    size += len(block)
                    if size > limit:
                        raise PayloadTooLarge(f"The image is larger than the limit of {limit} bytes.")
                    if len(head) < 512:
                        head += block[:512 - len(head)]
                    pending = _hashers.submit(sha.update, block)
                    try:
                        md5.update(block)
                        _write_all(fd, block)
                    finally:
                        pending.result()
            finally:
                os.close(fd)
            if expected_size is not None and size != expected_size:
                raise BadRequest(f"The image data is {size} bytes, not the {expected_size} announced.")
            os.replace(tmp, final)
        except BaseException:
            _unlink(tmp)
            raise
        return StoredData(size, md5.hexdigest(), sha.hexdigest(), virtual_size(disk_format, head, size))

    def open(self, image_id: str) -> BinaryIO | None:
        """The image's file for reading, or None if there is none."""
        try:
            return open(self.path(image_id), "rb", buffering=0)
        except FileNotFoundError:
            return None

    def delete(self, image_id: str, partial: bool = False) -> None:
        """Remove the image's file; with ``partial``, also an upload's unfinished file (which
        otherwise belongs to the upload under way: it removes it itself if it fails)."""
        _unlink(self.path(image_id))
        if partial:
            _unlink(self.tmp / image_id)

    def held(self) -> set[str]:
        """Ids of every image with a file here, whole or partial (for the reconciler)."""
        names = {p.name for p in self.root.iterdir() if p.is_file()}
        names |= {p.name for p in self.tmp.iterdir() if p.is_file()}
        return {n for n in names if _UUID.match(n)}


def _write_all(fd: int, block: bytes) -> None:
    view = memoryview(block)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PayloadTooLarge("Image storage media is full.") from None
        raise


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
