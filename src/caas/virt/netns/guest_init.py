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
    read-only at /mnt/config) and binds in it the shares cloud-config ``mounts`` names among
    those the driver gave (on every boot), configures the network with the host's ``ip`` (argument lists,
    every value checked with ``ipaddress``), sets the hostname, pivots into the root, drops
    capabilities to Docker's default set minus MKNOD (so nothing run afterwards, all of it
    image code, can mount, change the network, load modules ...), writes /etc/hostname,
    /etc/hosts and the SSH keys, starts sshd, reports READY on READY_FD once sshd listens (or
    "FAIL <why>"), then runs user_data on the first boot and exits.

Everything goes to stdout, the instance's console log. After ``pivot_root`` nothing new may be
imported (a tar image has no Python), hence the imports at the top of ``setup``: the stdlib
modules and this file's siblings, ``guest_system`` (system calls, mounts) and ``guest_setup``
(config drive, network, /etc, keys, sshd, user data), which PID 1 never imports.
"""

import os
import sys
import time

import _signal  # the C module: signal.py would import enum, ~1 MB more in PID 1

json = guest_setup = guest_system = None  # imported by the transient stages only

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
STOP_GRACE = 8.0
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
       "LANG": "C.UTF-8", "TERM": "linux", "USER": "root", "LOGNAME": "root"}
BOOT_ENV = "CAAS_INIT_BOOT"

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
        sysc = guest_system.Sys()
        sysc.setns(boot["netns_path"], CLONE_NEWNET)
        sysc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID)
        # Before any mount: none leaks out.
        sysc.mount("none", "/", None, guest_system.MS_REC | guest_system.MS_PRIVATE)
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
    global json, guest_setup, guest_system
    import json

    # This directory is on sys.path for these imports only (as in _BOOTSTRAP).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import guest_setup
        import guest_system
    finally:
        del sys.path[0]


def setup(boot_path, ready_fd):
    """Stage 3. Returns the exit status."""
    _import_setup_modules()
    os.set_inheritable(ready_fd, False)
    os.environ["PATH"] = ENV["PATH"]  # posix_spawnp searches the caller's PATH
    try:
        with open(boot_path) as f:
            boot = json.load(f)
        cfg = guest_setup.Config(boot)
        sysc = guest_system.Sys()
        hostname = cfg.hostname()
        log("booting %s (%s)" % (boot.get("name", ""), boot["id"]))
        _write_sysctl("net/ipv4/ping_group_range", "0 2147483647")
        merged = boot["merged"]
        guest_system.mount_root(sysc, boot)
        guest_system.mount_shares(sysc, merged, guest_system.read_shares(boot), cfg.cloud)
        ip = _find(("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"))
        guest_setup.configure_network(ip, cfg.network(), merged + "/sys/class/net")
        sysc.sethostname(hostname)
        log("hostname %s" % hostname)
        sysc.pivot_root(merged)
        sysc.drop_caps()
        os.umask(0o022)
        guest_setup.write_etc(hostname)
        guest_setup.install_keys(cfg.public_keys())
        sshd = guest_setup.start_sshd(hostname)
    except Exception as e:
        log("setup failed: %s" % e)
        _tell(ready_fd, "FAIL %s" % e)
        return 1
    log("ready%s" % ("" if sshd else " (without sshd)"))
    _tell(ready_fd, "READY")
    guest_setup.run_user_data(cfg)
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
