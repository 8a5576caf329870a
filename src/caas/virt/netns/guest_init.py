"""caas-init: the init of a netns instance. Python standard library only; started with the
argument list from ``command()`` (isolated interpreter, no site, this file imported by name).

Three stages, three processes:

``launch BOOT_JSON READY_FD`` (started by the driver, in the host namespaces; transient)
    joins the instance's cgroup (first thing: everything after is inside it), enters the
    instance's network namespace, unshares UTS, IPC, mount (made private at once: nothing
    propagates back to the host) and PID namespaces, forks the instance's PID 1 (a fresh exec of
    this script, so that PID 1 carries none of this stage's imports), writes PID 1's
    host-visible pid and start time to the state dir and exits.

``pid1 READY_FD T0`` with BOOT_JSON in $CAAS_INIT_BOOT (PID 1 of the instance; stays)
    forks the setup process, then only reaps zombies; on SIGTERM it forwards SIGTERM to every
    process of the instance and exits when they are gone (or after a grace period: the kernel
    kills what is left when PID 1 exits). It imports nothing beyond what the interpreter loads
    anyway, to stay small.

setup (a fork of PID 1; transient)
    mounts the root (overlay, fresh /proc, read-only /sys, fresh /dev, /run, the config drive
    read-only at /mnt/config), configures the network with the host's ``ip`` (argument lists,
    every value checked with ``ipaddress``), sets the hostname, pivots into the root, drops
    capabilities to Docker's default set minus MKNOD (so nothing run afterwards, all of it
    image code, can mount, change the network, load modules ...), writes /etc/hostname,
    /etc/hosts and the SSH keys, starts sshd, reports READY on READY_FD once sshd listens (or
    "FAIL <why>"), then runs user_data on the first boot and exits.

Everything goes to stdout, the instance's console log. After ``pivot_root`` nothing new may be
imported (a tar image has no Python), hence the imports at the top of ``setup``.
"""

import os
import sys
import time

import _signal  # the C module: signal.py would import enum, ~1 MB more in PID 1

binascii = ctypes = ipaddress = json = None  # imported by the setup process only

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
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
STOP_GRACE = 8.0
READY_TIMEOUT = 25.0
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
       "LANG": "C.UTF-8", "TERM": "linux", "USER": "root", "LOGNAME": "root"}
BOOT_ENV = "CAAS_INIT_BOOT"
STATE = "/var/lib/caas-init"  # in the instance: user_data marker and script
SSHD = "/usr/sbin/sshd"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
SSHD_CONFIG = """\
# Written by caas-init at every boot.
HostKey {host_key}
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PrintMotd no
Subsystem sftp internal-sftp
"""

T0 = time.monotonic()
# Run as an imported module, not as a script: a script is compiled from source at every start,
# which costs time and leaves ~2 MB of allocator arenas behind in a long-lived PID 1.
# This directory leaves sys.path again at once: its modules must not shadow the stdlib's.
_BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import guest_init; del sys.path[0]; "
              "sys.exit(guest_init.main(sys.argv))")


def command(python, stage, *args):
    """The argument list that runs ``stage`` of this init with ``python`` (isolated, no site)."""
    return [python, "-I", "-S", "-c", _BOOTSTRAP, os.path.dirname(os.path.abspath(__file__)),
            stage, *args]


def log(message):
    """One console line, with the time since the launch like a kernel log."""
    line = "[%9.3f] caas-init: %s\n" % (time.monotonic() - T0, message)
    try:
        os.write(1, line.encode("utf-8", "replace"))
    except OSError:
        pass


# --- stage 1: launch ----------------------------------------------------------------------

def _start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def launch(boot_path, ready_fd):
    """Stage 1 (see the module docstring). Exit status 0 when PID 1 was started."""
    _import_setup_modules()  # this stage is transient: its imports cost nothing later
    try:
        with open(boot_path) as f:
            boot = json.load(f)
        for procs in boot["cgroup_procs"]:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        sysc = Sys()
        sysc.setns(boot["netns_path"], CLONE_NEWNET)
        sysc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID)
        sysc.mount("none", "/", None, MS_REC | MS_PRIVATE)  # before any mount: none leaks out
        pid = os.fork()
        if pid == 0:
            # The boot file's path (in caas's data dir) goes in the environment, not argv:
            # /proc/1/cmdline is readable in the instance, /proc/1/environ is not.
            argv = command(sys.executable, "pid1", str(ready_fd), repr(T0))
            os.execve(sys.executable, argv, {BOOT_ENV: boot_path, "PATH": ENV["PATH"]})
        tmp = boot["pid_file"] + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %s\n" % (pid, _start_time(pid)))
        os.rename(tmp, boot["pid_file"])
    except Exception as e:  # the driver gets the reason on the ready pipe and in the console
        log("launch failed: %s" % e)
        os.write(ready_fd, ("FAIL launch: %s\n" % e).encode())
        return 1
    return 0


# --- stage 2: PID 1 -----------------------------------------------------------------------

def _reap():
    """Reap every exited child; False when there are no children at all."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        return False
    return True


def pid1(boot_path, ready_fd):
    """Stage 2: fork the setup, then reap and wait for the stop signal (never returns)."""
    stop = {_signal.SIGTERM, _signal.SIGINT, _signal.SIGPWR}
    signals = stop | {_signal.SIGCHLD, _signal.SIGHUP}  # SIGHUP: taken and ignored
    # Blocked signals are queued even for a namespace's init (which otherwise drops signals it
    # has no handler for) and are taken with sigtimedwait: no handlers, no races with waitpid.
    _signal.pthread_sigmask(_signal.SIG_BLOCK, signals)
    child = os.fork()
    if child == 0:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, set())
        code = 1
        try:
            code = setup(boot_path, ready_fd)
        finally:
            os._exit(code)
    os.close(ready_fd)
    deadline = None
    while True:
        if not _reap() and deadline is not None:
            log("stopped")
            os._exit(0)
        if deadline is None:
            info = _signal.sigwaitinfo(signals)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                log("stop: giving up waiting, killing the rest")
                os._exit(0)
            info = _signal.sigtimedwait(signals, left)
        if info is not None and info.si_signo in stop and deadline is None:
            log("stopping (signal %d): SIGTERM to every process" % info.si_signo)
            try:
                os.kill(-1, _signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_GRACE


# --- stage 3: setup -----------------------------------------------------------------------

class Failure(Exception):
    """Setup cannot go on; the message goes to the console and to the driver."""


def _import_setup_modules():
    """Import what the setup needs, as globals of this (forked, transient) process only: PID 1
    never pays for them, and nothing is imported after pivot_root."""
    global binascii, ctypes, ipaddress, json, socket
    import binascii
    import ctypes
    import ipaddress
    import json
    import socket


def setup(boot_path, ready_fd):
    """Stage 3. Returns the exit status."""
    _import_setup_modules()
    os.set_inheritable(ready_fd, False)
    os.environ["PATH"] = ENV["PATH"]  # posix_spawnp searches the caller's PATH
    try:
        with open(boot_path) as f:
            boot = json.load(f)
        cfg = Config(boot)
        sysc = Sys()
        hostname = cfg.hostname()
        log("booting %s (%s)" % (boot.get("name", ""), boot["id"]))
        _write_sysctl("net/ipv4/ping_group_range", "0 2147483647")
        merged = boot["merged"]
        mount_root(sysc, boot)
        ip = _find(("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"))
        configure_network(ip, cfg.network(), merged + "/sys/class/net")
        sysc.sethostname(hostname)
        log("hostname %s" % hostname)
        sysc.pivot_root(merged)
        sysc.drop_caps()
        os.umask(0o022)
        write_etc(hostname)
        install_keys(cfg.public_keys())
        sshd = start_sshd(hostname)
    except Exception as e:
        log("setup failed: %s" % e)
        _tell(ready_fd, "FAIL %s" % e)
        return 1
    log("ready%s" % ("" if sshd else " (without sshd)"))
    _tell(ready_fd, "READY")
    run_user_data(cfg)
    return 0


def _tell(fd, message):
    try:
        os.write(fd, (message + "\n").encode("utf-8", "replace"))
        os.close(fd)
    except OSError:
        pass


def _find(candidates):
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    return None


def _write_sysctl(name, value):
    try:
        with open("/proc/sys/" + name, "w") as f:
            f.write(value)
    except OSError as e:
        log("sysctl %s: %s" % (name, e))


class Config:
    """The config drive's content as the init needs it (read before pivot_root)."""

    def __init__(self, boot):
        latest = os.path.join(boot["config_dir"], "openstack", "latest")
        self.latest = latest
        self.meta = self._load(latest + "/meta_data.json") or {}
        self.net = self._load(latest + "/network_data.json") or {}
        self.cloud = self._load(latest + "/cloud_config.json")
        self.cloud_error = self._read(latest + "/cloud_config_error.txt")
        self.user_data = self._read(latest + "/user_data", binary=True)
        if not isinstance(self.cloud, dict):
            self.cloud = None

    @staticmethod
    def _load(path):
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    @staticmethod
    def _read(path, binary=False):
        try:
            with open(path, "rb" if binary else "r") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def hostname(self):
        name = str((self.cloud or {}).get("hostname") or self.meta.get("hostname") or "localhost")
        if len(name) > 63:  # a UTS hostname is at most 64 bytes: keep the first label
            name = name.split(".")[0][:63]
        if not _valid_hostname(name):
            log("hostname %r is not valid; using localhost" % name)
            return "localhost"
        return name

    def network(self):
        return self.net

    def public_keys(self):
        keys = [str(k) for k in (self.meta.get("public_keys") or {}).values()]
        cloud_keys = (self.cloud or {}).get("ssh_authorized_keys") or []
        if isinstance(cloud_keys, list):
            keys += [str(k) for k in cloud_keys]
        return [k.strip() for k in keys if k and k.strip() and "\n" not in k.strip()]


def _valid_hostname(name):
    if not name or len(name) > 64:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
    return all(c in allowed for c in name) and not name.startswith(("-", "."))


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


# --- network (before pivot_root, with the host's ip) --------------------------------------

def _prefix(netmask, version):
    """Prefix length of a netmask ("255.255.255.0", "ffff:ffff::" or "24")."""
    text = str(netmask)
    if text.isdigit():
        prefix = int(text)
    elif version == 4:
        prefix = ipaddress.IPv4Network("0.0.0.0/" + text).prefixlen
    else:
        bits = bin(int(ipaddress.IPv6Address(text)))[2:].zfill(128)
        if "01" in bits:
            raise ValueError("not a netmask: %s" % text)
        prefix = bits.count("1")
    if not 0 <= prefix <= (32 if version == 4 else 128):
        raise ValueError("bad prefix %s" % text)
    return prefix


def _ip(ip, *args):
    """Run the host's ip with an argument list; False (and the error on the console) on failure."""
    pid = os.posix_spawn(ip, [ip, *args], ENV)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status != 0:
        log("ip %s: exit status %d" % (" ".join(args), status))
    return status == 0


def _interfaces(sys_class_net):
    """MAC address -> interface name in the instance's network namespace."""
    found = {}
    for name in os.listdir(sys_class_net):
        try:
            with open(sys_class_net + "/" + name + "/address") as f:
                found[f.read().strip().lower()] = name
        except OSError:
            continue
    return found


def _valid_ifname(name):
    return 0 < len(name) <= 15 and all(c.isalnum() or c in "_.-" for c in name)


def configure_network(ip, net, sys_class_net):
    """Links (by MAC: mtu, up), addresses and routes from network_data.json."""
    if ip is None:
        raise Failure("no ip command on the host")
    _ip(ip, "link", "set", "dev", "lo", "up")
    by_mac = _interfaces(sys_class_net)
    links = {}
    for link in net.get("links", []):
        mac = str(link.get("ethernet_mac_address", "")).lower()
        name = by_mac.get(mac)
        if not name or not _valid_ifname(name):
            log("no interface with MAC %s (link %s)" % (mac, link.get("id")))
            continue
        mtu = int(link.get("mtu") or 1500)
        if not 68 <= mtu <= 65535:
            raise Failure("bad mtu %r" % mtu)
        _ip(ip, "link", "set", "dev", name, "mtu", str(mtu), "up")
        _write_sysctl("net/ipv4/neigh/%s/locktime" % name, "0")  # neighbours' gratuitous ARPs win at once
        links[link.get("id")] = name
        log("%s: link %s mac %s mtu %d up" % (name, link.get("id"), mac, mtu))
    for network in net.get("networks", []):
        name = links.get(network.get("link"))
        if name is None or network.get("type") not in ("ipv4", "ipv6"):
            continue
        address = ipaddress.ip_address(str(network["ip_address"]))
        family = "-%d" % address.version
        prefix = _prefix(network.get("netmask", "32"), address.version)
        extra = ["nodad"] if address.version == 6 else []
        _ip(ip, family, "addr", "add", "%s/%d" % (address, prefix), "dev", name, *extra)
        log("%s: address %s/%d" % (name, address, prefix))
        if address.version == 4:
            _announce(name, address)
        for route in network.get("routes", []):
            gateway = ipaddress.ip_address(str(route["gateway"]))
            dest = ipaddress.ip_network("%s/%d" % (ipaddress.ip_address(str(route["network"])),
                                                   _prefix(route["netmask"], gateway.version)))
            target = "default" if dest.prefixlen == 0 else str(dest)
            _ip(ip, family, "route", "add", target, "via", str(gateway), "dev", name)
            log("%s: route %s via %s" % (name, target, gateway))


def _announce(name, address):
    """A gratuitous ARP for ``address`` on ``name``, as a booting VM's network scripts send:
    an address freed by a deleted server and given to this one is still in its neighbours'
    ARP caches with the old MAC (for up to 30 s), and this updates them now."""
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((name, 0))
            mac = s.getsockname()[4][:6]
            ip4 = address.packed
            arp = b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac + ip4 + b"\x00" * 6 + ip4
            s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
    except OSError as e:
        log("%s: gratuitous ARP not sent: %s" % (name, e))


# --- after pivot_root: capabilities dropped, paths are the instance's own -----------------

def _write_file(path, data, mode=0o644, append=False):
    """Write a file without following a symlink at its name (the instance may have put one)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    try:
        os.write(fd, data if isinstance(data, bytes) else data.encode())
    finally:
        os.close(fd)
    os.chmod(path, mode)


def write_etc(hostname):
    try:
        _write_file("/etc/hostname", hostname + "\n")
        _write_file("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                    "127.0.1.1\t%s\n" % hostname)
    except OSError as e:
        log("cannot write /etc/hostname or /etc/hosts: %s" % e)


def install_keys(keys):
    """Add the keypair's (and cloud-config's) keys to /root/.ssh/authorized_keys; keys added in
    the instance stay."""
    if not keys:
        log("no ssh keys to install")
        return
    os.makedirs("/root/.ssh", 0o700, exist_ok=True)
    os.chmod("/root", os.stat("/root").st_mode & 0o755)  # sshd's StrictModes: not writable
    os.chmod("/root/.ssh", 0o700)
    path = "/root/.ssh/authorized_keys"
    try:
        with open(path) as f:
            present = set(line.strip() for line in f)
    except FileNotFoundError:
        present = set()
    new = [k for k in keys if k not in present]
    if new:
        _write_file(path, "".join(k + "\n" for k in new), 0o600, append=True)
    for key in keys:
        log("ssh key installed for root: %s" % " ".join(key.split()[:1] + key.split()[2:3]))


def spawn(argv, wait=True, env=None):
    """Start an image program (argument list; PATH lookup); its exit status when ``wait``."""
    pid = os.posix_spawnp(argv[0], argv, env or ENV)
    if not wait:
        return pid
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _listening(port):
    """Is something listening on TCP ``port`` in this network namespace?"""
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(want) and fields[3] == "0A":
                        return True
        except OSError:
            continue
    return False


def start_sshd(hostname):
    """Host key (made on the first boot), our own sshd_config, sshd; returns once it listens.
    False when the image has no sshd."""
    if not os.access(SSHD, os.X_OK):
        log("no sshd in this image")
        return False
    if not os.path.exists(HOST_KEY):
        keygen = _find(("/usr/bin/ssh-keygen", "/bin/ssh-keygen", "/usr/local/bin/ssh-keygen"))
        if keygen is None:
            raise Failure("sshd but no ssh-keygen in this image")
        os.makedirs("/etc/ssh", 0o755, exist_ok=True)
        status = spawn([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "root@" + hostname,
                        "-f", HOST_KEY])
        if status != 0:
            raise Failure("ssh-keygen exit status %d" % status)
        log("ssh host key generated")
    config = "/run/caas/sshd_config"
    _write_file(config, SSHD_CONFIG.format(host_key=HOST_KEY), 0o600)
    pid = spawn([SSHD, "-D", "-e", "-f", config], wait=False)
    deadline = time.monotonic() + READY_TIMEOUT
    while not _listening(22):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            raise Failure("sshd exited with status %d" % os.waitstatus_to_exitcode(status))
        if time.monotonic() > deadline:
            raise Failure("sshd does not listen on port 22")
        time.sleep(0.002)
    log("sshd started (pid %d), listening on port 22" % pid)
    return True


# --- user_data, once per instance --------------------------------------------------------

def run_user_data(cfg):
    """user_data on the first boot only (like cloud-init's per-instance modules)."""
    if cfg.cloud_error:
        log("user_data: %s" % cfg.cloud_error.strip())
    if not cfg.user_data:
        return
    marker = STATE + "/user-data.done"
    if os.path.exists(marker):
        log("user_data already ran on an earlier boot")
        return
    try:
        os.makedirs(STATE, 0o700, exist_ok=True)
        _write_file(marker, time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()), 0o600)
    except OSError as e:
        log("user_data: cannot write %s: %s" % (marker, e))
        return
    if cfg.user_data.startswith(b"#!"):
        script = STATE + "/user-data"
        _write_file(script, cfg.user_data, 0o700)
        log("user_data: running script")
        try:
            status = spawn([script])
        except OSError as e:
            log("user_data: cannot run the script: %s" % e)
            return
        log("user_data: script exited with status %d" % status)
    elif cfg.cloud is not None:
        run_cloud_config(cfg.cloud)
    elif not cfg.cloud_error:
        log("user_data is neither a script (#!) nor #cloud-config: ignored")


SUPPORTED = {"hostname", "ssh_authorized_keys", "write_files", "runcmd", "fqdn", "disable_root",
             "manage_etc_hosts", "preserve_hostname"}


def run_cloud_config(cloud):
    unsupported = sorted(set(cloud) - SUPPORTED)
    if unsupported:
        log("cloud-config: ignoring unsupported keys: %s" % ", ".join(unsupported))
    for n, item in enumerate(cloud.get("write_files") or []):
        try:
            write_one(item)
        except (OSError, ValueError, TypeError, KeyError) as e:
            log("cloud-config write_files[%d]: %s" % (n, e))
    for n, command in enumerate(cloud.get("runcmd") or []):
        if isinstance(command, str):
            argv = ["/bin/sh", "-c", command]
        elif isinstance(command, list) and command:
            argv = [str(a) for a in command]
        else:
            log("cloud-config runcmd[%d]: not a string or list, skipped" % n)
            continue
        try:
            status = spawn(argv)
        except OSError as e:
            log("cloud-config runcmd[%d]: %s" % (n, e))
            continue
        log("cloud-config runcmd[%d] exited with status %d" % (n, status))


def _owner(owner):
    """"user:group" (names or numbers) -> (uid, gid), from the instance's /etc files."""
    user, _, group = str(owner).partition(":")

    def lookup(name, table):
        if name.isdigit():
            return int(name)
        with open(table) as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == name:
                    return int(fields[2])
        raise ValueError("no %s in %s" % (name, table))

    uid = lookup(user or "root", "/etc/passwd")
    return uid, lookup(group, "/etc/group") if group else -1


def write_one(item):
    path = str(item["path"])
    if not path.startswith("/"):
        raise ValueError("path %r is not absolute" % path)
    content = item.get("content", "")
    encoding = str(item.get("encoding", "text")).lower()
    if encoding in ("b64", "base64"):
        data = binascii.a2b_base64(str(content).encode())
    elif encoding in ("text", "", "none"):
        data = str(content).encode()
    else:
        raise ValueError("unsupported encoding %r" % encoding)
    perms = item.get("permissions", "0644")
    mode = perms if isinstance(perms, int) else int(str(perms), 8)
    os.makedirs(os.path.dirname(path) or "/", 0o755, exist_ok=True)
    _write_file(path, data, mode & 0o7777, append=bool(item.get("append")))
    if item.get("owner"):
        os.chown(path, *_owner(item["owner"]))
    log("cloud-config: wrote %s (%d bytes)" % (path, len(data)))


def main(argv):
    global T0
    stage = argv[1] if len(argv) > 1 else ""
    if stage == "launch" and len(argv) == 4:
        return launch(argv[2], int(argv[3]))
    if stage == "pid1" and len(argv) == 4:
        T0 = float(argv[3])
        pid1(os.environ.pop(BOOT_ENV), int(argv[2]))
    print("usage: guest_init launch BOOT_JSON READY_FD", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
