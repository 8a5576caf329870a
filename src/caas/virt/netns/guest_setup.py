"""caas-init's setup of an instance (see guest_init): the config drive (``Config``), the
network from network_data.json (before pivot_root, with the host's ``ip``), then, inside the
instance, /etc, the SSH keys, sshd, user_data and cloud-config. Imported by the setup process
only, before pivot_root (nothing is imported after it)."""

import binascii
import ipaddress
import json
import os
import socket
import time

from guest_init import ENV, Failure, _find, _write_sysctl, log

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
READY_TIMEOUT = 25.0


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


# "mounts" is taken at every boot, before pivot_root (guest_system.mount_shares).
SUPPORTED = {"hostname", "ssh_authorized_keys", "write_files", "runcmd", "fqdn", "disable_root",
             "manage_etc_hosts", "preserve_hostname", "mounts"}


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
