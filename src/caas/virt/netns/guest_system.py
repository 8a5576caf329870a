"""caas-init's system calls and mounts (see guest_init): ``Sys`` (what Python's os module
lacks, through ctypes) and the instance's root, /proc and /dev, mounted before pivot_root.
Imported by the transient stages only (never by PID 1), before pivot_root."""

import ctypes
import json
import os
import stat

from guest_init import Failure, log

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
# Docker's default capabilities minus MKNOD: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID
# SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT AUDIT_WRITE SETFCAP.
KEEP_CAPS = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31)


class Sys:
    """The system calls Python 3.11's os module lacks, through ctypes."""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        arch = os.uname().machine
        self.nr_pivot = SYS_PIVOT_ROOT[arch]
        self.nr_capset = SYS_CAPSET[arch]
        with open("/proc/sys/kernel/cap_last_cap") as f:
            self.cap_last = int(f.read())
        self.libc.syscall.restype = ctypes.c_long

    def _ok(self, result, what):
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, "%s: %s" % (what, os.strerror(err)))

    def mount(self, source, target, fstype, flags=0, data=None):
        enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
        self._ok(self.libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
                 "mount %s on %s" % (fstype or source, target))

    def bind(self, source, target, readonly=False, flags=0):
        self.mount(source, target, None, MS_BIND | flags)
        if readonly:
            self.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)

    def setns(self, path, nstype):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._ok(self.libc.setns(fd, nstype), "setns " + path)
        finally:
            os.close(fd)

    def unshare(self, flags):
        self._ok(self.libc.unshare(flags), "unshare")

    def sethostname(self, name):
        raw = name.encode()
        self._ok(self.libc.sethostname(raw, len(raw)), "sethostname")

    def pivot_root(self, new_root):
        """Make ``new_root`` the root and detach the old one (the "pivot_root . ." idiom)."""
        os.chdir(new_root)
        self._ok(self.libc.syscall(self.nr_pivot, b".", b"."), "pivot_root")
        self._ok(self.libc.umount2(b".", MNT_DETACH), "detach the old root")
        os.chdir("/")

    def drop_caps(self):
        """Shrink the bounding, permitted, effective and inheritable sets to KEEP_CAPS (and clear
        the ambient set): everything exec'd afterwards, as root too, gets KEEP_CAPS at most."""
        for cap in range(self.cap_last + 1):
            if cap not in KEEP_CAPS:
                self._ok(self.libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability %d" % cap)
        self.libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        mask = 0
        for cap in KEEP_CAPS:
            mask |= 1 << cap
        u32 = ctypes.c_uint32
        header = (u32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (u32 * 6)(mask & 0xFFFFFFFF, mask & 0xFFFFFFFF, 0, mask >> 32, mask >> 32, 0)
        self._ok(self.libc.syscall(self.nr_capset, header, data), "capset")


# --- mounts (before pivot_root; every path is inside the merged root) ---------------------

def _safe_dir(root, rel, mode=0o755):
    """``root/rel`` as a real directory: the upper layer is the instance's, so a symlink there
    (made on an earlier boot) would send a mount elsewhere; it is replaced by a directory."""
    path = root
    for part in rel.strip("/").split("/"):
        path = path + "/" + part
        if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
            os.unlink(path)
        if not os.path.isdir(path):
            os.mkdir(path, mode)
    return path


PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
PROC_MASKED_FILES = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats", "timer_stats")
PROC_MASKED_DIRS = ("acpi", "asound", "scsi")


def mount_root(sysc, boot):
    """The instance's root at boot["merged"], with /proc /sys /dev /run /mnt/config in it."""
    m = boot["merged"]
    options = "lowerdir=%s,upperdir=%s,workdir=%s" % (boot["lower"], boot["upper"], boot["work"])
    # nodev: no device node of the image or the host disk works, only those of our /dev.
    sysc.mount("overlay", m, "overlay", MS_NODEV, options)
    mount_proc(sysc, m)
    sysc.mount("sysfs", _safe_dir(m, "sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount_dev(sysc, m, boot)
    half = max(16, int(boot.get("memory_mb", 512)) // 2)
    sysc.mount("tmpfs", _safe_dir(m, "run"), "tmpfs", MS_NOSUID | MS_NODEV,
               "mode=755,size=%dm" % max(8, half // 4))
    for rel, mode in (("sshd", 0o755), ("caas", 0o700), ("lock", 0o1777)):
        os.mkdir(m + "/run/" + rel, mode)
        os.chmod(m + "/run/" + rel, mode)
    sysc.bind(boot["config_dir"], _safe_dir(m, "mnt/config"), readonly=True,
              flags=MS_NOSUID | MS_NODEV | MS_NOEXEC)
    log("root filesystem mounted (%s image), config drive at /mnt/config"
        % ("host" if boot["lower"] == "/" else "tar"))


def mount_proc(sysc, m):
    """A proc of the instance's PID namespace; the knobs and windows onto the host read-only
    or masked (as Docker does)."""
    proc = _safe_dir(m, "proc")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    sysc.mount("proc", proc, "proc", flags)
    for name in PROC_READONLY:
        path = proc + "/" + name
        if os.path.exists(path):
            sysc.bind(path, path, readonly=True, flags=flags | MS_REC)
    for name in PROC_MASKED_FILES:
        if os.path.isfile(proc + "/" + name):
            sysc.bind("/dev/null", proc + "/" + name)
    for name in PROC_MASKED_DIRS:
        if os.path.isdir(proc + "/" + name):
            sysc.mount("tmpfs", proc + "/" + name, "tmpfs", flags | MS_RDONLY, "size=0")


DEV_NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
             ("urandom", 1, 9), ("tty", 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))


def _valid_node(node):
    path, kind = str(node["path"]), node["kind"]
    rel = path[5:] if path.startswith("/dev/") else ""
    if not rel or kind not in ("c", "b") or ".." in rel.split("/") or rel.startswith("/"):
        raise Failure("bad device node %r" % (node,))
    return rel, (0o20000 if kind == "c" else 0o60000), os.makedev(int(node["major"]), int(node["minor"]))


def mount_dev(sysc, m, boot):
    """A fresh /dev: the usual nodes, devpts, shm, the console, and the devices given to the
    instance (PCI passthrough, attached volumes) from the state dir's devices.json."""
    dev = _safe_dir(m, "dev")
    sysc.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m")
    for name, major, minor in DEV_NODES:
        os.mknod(dev + "/" + name, 0o20666, os.makedev(major, minor))
        os.chmod(dev + "/" + name, 0o666)
    for name, target in DEV_LINKS:
        os.symlink(target, dev + "/" + name)
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(dev + "/" + name, 0o755)
    sysc.mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620,gid=5")
    half = max(16, int(boot.get("memory_mb", 512)) // 2)
    sysc.mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=%dm" % half)
    sysc.mount("mqueue", dev + "/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    console = dev + "/console"
    os.close(os.open(console, os.O_WRONLY | os.O_CREAT, 0o600))
    sysc.bind(boot["console"], console)
    for node in _devices(boot):
        rel, kind, rdev = _valid_node(node)
        if "/" in rel:
            _safe_dir(dev, rel.rsplit("/", 1)[0])
        os.mknod(dev + "/" + rel, kind | 0o660, rdev)
        log("device %s" % node["path"])


def _devices(boot):
    try:
        with open(boot["devices_file"]) as f:
            devices = json.load(f)
    except FileNotFoundError:
        return []
    return list(devices.get("pci", [])) + list(devices.get("block", {}).values())


# --- shares (before pivot_root) -----------------------------------------------------------

def share_target(root, target):
    """``root`` + ``target``, a cloud-config mount point, made safe to mount on: ``target``
    must be an absolute, normalised path other than "/" (else None). Every component that
    exists must be a real directory, never a symlink: an absolute symlink in the image or the
    instance's upper layer would resolve to the HOST's tree before pivot_root (refused, None);
    missing ones are made (0755, root). Nothing of the instance runs during setup, so nothing
    can swap a component between this walk and the mount."""
    if (not isinstance(target, str) or not target.startswith("/") or target == "/" or "\x00" in target
            or len(target) > 4096 or os.path.normpath(target) != target or target.startswith("//")):
        return None
    path = root
    for part in target.strip("/").split("/"):
        path = path + "/" + part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            os.chmod(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):  # a symlink (lstat does not follow it) or a file
            return None
    return path


def mount_shares(sysc, root, shares, cloud):
    """Bind each share named in cloud-config ``mounts`` (an entry whose first field is the
    export of one of ``shares``, the list the driver gave this boot) at the entry's second
    field inside ``root``, read-only when the share is (or the entry's options say ``ro``).
    Everything else is logged and ignored: entries naming no share given, bad mount points.
    On every boot: the mounts live in the instance's mount namespace only."""
    entries = (cloud or {}).get("mounts")
    if entries is None:
        return
    if not isinstance(entries, list):
        log("cloud-config mounts: not a list, ignored")
        return
    given = {str(s.get("export")): s for s in shares if isinstance(s, dict)}
    for n, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) < 2 or not all(isinstance(v, str) for v in entry[:2]):
            log("cloud-config mounts[%d]: not a list of a source and a mount point, ignored" % n)
            continue
        share = given.get(entry[0])
        if share is None:
            log("cloud-config mounts[%d]: %r is not a share given to this instance, ignored" % (n, entry[0][:200]))
            continue
        try:
            target = share_target(root, entry[1])
        except OSError as e:
            log("cloud-config mounts[%d]: cannot make the mount point %r: %s" % (n, entry[1][:200], e))
            continue
        if target is None:
            log("cloud-config mounts[%d]: mount point %r refused (it must be an absolute, normalised path whose "
                "existing components are directories, not symlinks)" % (n, entry[1][:200]))
            continue
        options = entry[3].split(",") if len(entry) > 3 and isinstance(entry[3], str) else []
        readonly = bool(share.get("read_only")) or "ro" in options
        try:
            sysc.bind(str(share["source"]), target, readonly=readonly, flags=MS_NOSUID | MS_NODEV)
        except OSError as e:
            log("cloud-config mounts[%d]: %s" % (n, e))
            continue
        log("share %s mounted at %s (%s)" % (entry[0], entry[1], "ro" if readonly else "rw"))


def read_shares(boot):
    """The shares the driver gave this boot (its shares file), [] when none."""
    try:
        with open(boot.get("shares_file") or "/nonexistent") as f:
            shares = json.load(f)
    except (OSError, ValueError):
        return []
    return shares if isinstance(shares, list) else []


# --- network (before pivot_root, with the host's ip) --------------------------------------
