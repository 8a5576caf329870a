"""A cluster's users: logins on every node, not only root.

The user who creates the cluster gets a login named after their cloud user name (``login_for``),
with their SSH key and a home directory; ``users`` adds more logins with the same key. Every
node makes the same accounts with the same uid and gid (from ``FIRST_UID`` in the order the
cluster lists them), so files on the shared /home and Slurm's jobs belong to the same user on
every node. The head also gives each user a key of their own for the cluster (in their shared
~/.ssh, trusted by every node), so that ``ssh node001`` works for them as for root.

Names reach the nodes' shell only after ``check`` (a POSIX login name, no system account's).
"""

from __future__ import annotations

import re

from caas.clusters.cloudconfig import Boot, ssh_config, text_file
from caas.errors import BadRequest

LOGIN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
FIRST_UID = 20001
KEYS = "/var/lib/caas-cluster/user-keys"  # the user's public key, as the head got it (never in a shell)
MAX_USERS = 64
# Accounts of the images' own (Debian's, the daemons caas profiles run, cloud images' defaults):
# never a cluster user's.
RESERVED = frozenset("""root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc gnats
nobody _apt systemd-network systemd-resolve systemd-timesync systemd-coredump messagebus sshd munge slurm
postgres polkitd syslog uuidd tcpdump tss landscape pollinate lxd statd _rpc ntp chrony dnsmasq avahi debian
ubuntu centos fedora rocky almalinux cloud-user ec2-user admin-ssh nogroup adm wheel sudo users staff""".split())


def login_for(cloud_name: str) -> str:
    """The login of the cloud user ``cloud_name``: lowercased, each character a login may not
    hold turned into ``_``, at most 32; ``u`` before one that starts with a digit or a hyphen,
    ``_user`` after a reserved name (``root`` is ``root_user``)."""
    name = re.sub(r"[^a-z0-9_-]", "_", cloud_name.lower())[:32] or "user"
    if not re.match(r"[a-z_]", name):
        name = ("u" + name)[:32]
    if name in RESERVED:
        name = name[:27] + "_user"
    return name


def check(names: list[str]) -> list[str]:
    """``names`` as logins, once each is one: BadRequest names the first that is not."""
    if len(names) > MAX_USERS:
        raise BadRequest(f"A cluster has at most {MAX_USERS} users.")
    for n in names:
        if not isinstance(n, str) or not LOGIN.match(n):
            raise BadRequest(f"User {str(n)[:40]!r} is not a login name: lowercase letters, digits, '_' and '-', "
                             "starting with a letter or '_', at most 32.")
        if n in RESERVED:
            raise BadRequest(f"User {n!r} is a system account's name; choose another.")
    return names


def accounts(creator: str, more: list[str]) -> list[dict]:
    """The cluster's users in order (the creator first, each name once), with their uids."""
    names = list(dict.fromkeys([creator, *more]))
    return [{"name": n, "uid": FIRST_UID + i} for i, n in enumerate(names)]


def _account(u: dict) -> str:
    name, uid = u["name"], int(u["uid"])
    # no password, but not locked ('*', not useradd's '!': sshd refuses a locked account's keys)
    return (f"getent group {name} >/dev/null || groupadd -g {uid} {name}; "
            f"id -u {name} >/dev/null 2>&1 || useradd -M -d /home/{name} -s /bin/bash -u {uid} -g {uid} {name}; "
            f"usermod -p '*' {name}")


def _home(u: dict, b: Boot) -> str:
    """The user's home on the head (on the shared /home, so once for every node): the user's
    key and a cluster key of their own in ~/.ssh."""
    name, home = u["name"], f"/home/{u['name']}"
    cfg = ssh_config(b.cluster_name, b.node_prefix, name, f"{home}/.ssh/id_cluster")
    return "\n".join([
        f"install -d -o {name} -g {name} -m 0750 {home}",
        f"install -d -o {name} -g {name} -m 0700 {home}/.ssh",
        f"[ -f {home}/.ssh/id_cluster ] || runuser -u {name} -- ssh-keygen -q -t ed25519 -N '' "
        f"-C {name}@{b.cluster_name} -f {home}/.ssh/id_cluster",
        f"cat {KEYS} {home}/.ssh/id_cluster.pub > {home}/.ssh/authorized_keys.caas-new",
        f"cat > {home}/.ssh/config <<'CAAS_SSH'\n{cfg}CAAS_SSH",
        f"chown {name}:{name} {home}/.ssh/authorized_keys.caas-new {home}/.ssh/config",
        f"chmod 0600 {home}/.ssh/authorized_keys.caas-new {home}/.ssh/config",
        f"mv {home}/.ssh/authorized_keys.caas-new {home}/.ssh/authorized_keys",
    ])


def part(b: Boot) -> dict:
    """The accounts on every node (``Boot.extra['users']``); their homes made on the head."""
    users = b.extra.get("users") or []
    if not users:
        return {}
    lines = ["set -e"]
    if b.extra.get("home_export"):
        lines.append("mountpoint -q /home || { echo 'caas: /home is not the cluster share' >&2; exit 1; }")
    lines += [_account(u) for u in users]
    if not b.head:
        return {"runcmd": [["sh", "-c", "\n".join(lines)]]}
    lines += [_home(u, b) for u in users]
    key = b.user_public_key.strip()
    return {"write_files": [text_file(KEYS, key + "\n" if key else "", "0644")],
            "runcmd": [["sh", "-c", "\n".join(lines)]]}
