"""Root filesystems of instances.

An instance's root is an overlay mounted by its init *inside the instance's own mount
namespace* (private propagation), so nothing appears in the host's mount table and nothing has
to be unmounted when the instance dies: lowerdir is the image's root (``/`` for the built-in host
image, an unpacked tar archive otherwise), upperdir/workdir live in the instance's state dir.

Host secrets are hidden in the *upper* layer before the first boot (``prepare_upper``): opaque
directories over /root, /home, /tmp, /var/lib ... (empty in the instance, and what the instance
writes there persists like on a VM disk), whiteouts over the host's SSH host keys, and fresh
/etc/shadow and /etc/gshadow without any password hash. The instance cannot undo that: removing
an opaque directory or a whiteout in the merged view only ever hides more of the lower layer.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from caas.virt.driver import DriverError

HOST_ROOTFS = "host"
# Host directories whose content never shows in a host-image instance.
HIDDEN_DIRS = ("root", "home", "tmp", "var/tmp", "run", "var/log", "var/lib", "mnt", "media",
               "srv", "etc/ssl/private", "etc/munge")
FRESH_ACCOUNT_FILES = ("etc/shadow", "etc/gshadow")
_IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PREPARED = ".prepared"  # marker in the instance state dir: upper layer prepared


# --- lower layers -------------------------------------------------------------------------

def _describe(head: bytes) -> str | None:
    """What a non-tar image file is, from its first bytes."""
    if head.startswith(b"QFI\xfb"):
        return "a qcow2 VM disk"
    if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
        return "a VMDK VM disk"
    if head.startswith(b"conectix"):
        return "a VHD VM disk"
    if head.startswith(b"<<< Oracle VM VirtualBox Disk Image"):
        return "a VDI VM disk"
    if len(head) >= 0x8006 and head[0x8001:0x8006] == b"CD001":
        return "an ISO image"
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        return "a raw disk image (it has a boot sector)"
    return None


def _refuse(image: Mapping, what: str) -> DriverError:
    return DriverError("the netns driver runs root-filesystem images (the host image or a tar "
                       f"archive); image {image.get('name') or image.get('id')} is {what}")


def is_host_image(image: Mapping) -> bool:
    return (image.get("properties") or {}).get("caas_rootfs") == HOST_ROOTFS


def lower_for(image: Mapping, image_file: Path | None, cache_dir: Path) -> Path:
    """The lower layer for ``image``: "/" for the host image, else the tar archive unpacked once
    into ``cache_dir/<image id>``. DriverError for anything that is not a root filesystem."""
    if is_host_image(image):
        return Path("/")
    image_id = str(image.get("id") or "")
    if not _IMAGE_ID.match(image_id):
        raise DriverError(f"bad image id {image_id!r}")
    if image_file is None or not Path(image_file).is_file():
        raise _refuse(image, "not the host image and has no data")
    target = cache_dir / image_id
    if target.is_dir():
        return target
    with open(image_file, "rb") as f:
        head = f.read(0x8006)
    what = _describe(head)
    if what is not None:
        raise _refuse(image, what)
    if not tarfile.is_tarfile(image_file):
        raise _refuse(image, f"neither a tar archive nor a known disk format "
                             f"(disk_format {image.get('disk_format')!r})")
    unpack(Path(image_file), target)
    return target


def _rootfs_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "tar" filter (no absolute paths, nothing outside ``dest``, links checked) but
    keeping the original mode bits (setuid su/ping, sticky /tmp matter in a root filesystem),
    and skipping device nodes: a node in a lower layer would give the instance raw host devices."""
    if member.ischr() or member.isblk():
        return None
    checked = tarfile.tar_filter(member, dest)
    return checked.replace(mode=member.mode & 0o7777, deep=False)


def unpack(archive: Path, target: Path) -> None:
    """Unpack a root-filesystem tar (gzip/xz/bzip2 too) to ``target`` atomically: into a temp dir
    next to it, then renamed; a concurrent unpack of the same image loses the rename race."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".unpack-{target.name}-", dir=target.parent))
    try:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, numeric_owner=True, filter=_rootfs_filter)
        except (tarfile.TarError, OSError) as e:
            raise DriverError(f"cannot unpack image archive: {e}") from e
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --- the upper layer ----------------------------------------------------------------------

def _rel(path: Path | str) -> str:
    return os.path.normpath(str(path)).lstrip("/")


def _mkdir_like(upper: Path, lower: Path, rel: str) -> Path:
    """Make ``upper/rel`` and its parents with the owner and mode of the lower directories
    (an upper dir's attributes win in the merged view)."""
    path = upper
    for part in Path(rel).parts:
        path = path / part
        low = lower / path.relative_to(upper)
        if path.is_dir() and not path.is_symlink():
            continue
        path.mkdir()
        try:
            st = low.stat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, stat.S_IMODE(st.st_mode))
    return path


def _opaque(upper: Path, lower: Path, rel: str) -> None:
    low = lower / rel
    if low.is_symlink() or not low.is_dir():
        return  # nothing to hide (a symlink such as /var/run -> /run resolves to hidden parts)
    d = _mkdir_like(upper, lower, rel)
    os.setxattr(d, "trusted.overlay.opaque", b"y")


def _whiteout(upper: Path, lower: Path, rel: str) -> None:
    parent = _mkdir_like(upper, lower, str(Path(rel).parent))
    node = parent / Path(rel).name
    if not node.exists() and not node.is_symlink():
        os.mknod(node, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _fresh_accounts(upper: Path, lower: Path, rel: str) -> None:
    """A copy of shadow/gshadow with every password field "*" (no hash; not "!", which sshd
    treats as a locked account and refuses key logins for)."""
    src = lower / rel
    if not src.is_file():
        return
    lines = []
    for line in src.read_text(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) > 1:
            fields[1] = "*"
        lines.append(":".join(fields))
    parent = _mkdir_like(upper, lower, str(Path(rel).parent))
    dst = parent / Path(rel).name
    st = src.stat()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))


def _ssh_host_keys(lower: Path) -> list[str]:
    ssh = lower / "etc/ssh"
    return sorted(f"etc/ssh/{p.name}" for p in ssh.glob("ssh_host_*")) if ssh.is_dir() else []


def _outermost(rels: Sequence[str]) -> list[str]:
    """The paths not inside another one: a hidden dir inside a hidden dir would show up as an
    empty directory in it."""
    paths = sorted({Path(r) for r in rels if r and r != "."})
    return [str(p) for p in paths if not any(q in p.parents for q in paths)]


def prepare_upper(upper: Path, lower: Path, hidden: Sequence[Path], host_image: bool) -> None:
    """Fill a new upper layer so that host secrets are invisible (see the module docstring).

    For every image: whiteouts over the image's SSH host keys (each instance makes its own).
    For the host image also: opaque dirs over HIDDEN_DIRS and ``hidden`` (caas's data dir; the
    state and cache dirs belong there) and fresh account files. Call once, before the first boot.
    """
    upper.mkdir(parents=True, exist_ok=True)
    for rel in _ssh_host_keys(lower):
        _whiteout(upper, lower, rel)
    if not host_image:
        return
    for rel in _outermost([*HIDDEN_DIRS, *(_rel(h) for h in hidden)]):
        _opaque(upper, lower, rel)
    for rel in FRESH_ACCOUNT_FILES:
        _fresh_accounts(upper, lower, rel)
