"""What the cluster commands keep and run on this machine, without a shell.

Files under ``$CAAS_CONFIG_DIR`` (default ``~/.config/caas``): generated private keys, known
hosts and ssh configs, every directory 0700 and every file 0600. ``ssh_command`` builds the ssh
argument list (and the per-cluster ssh config for a compute node).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from caas.clusters.names import compact, is_valid_name

SSH_USER = "root"
LOGIN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # as clusters/users.py: a cluster user's login


class CLIError(Exception):
    """A command cannot go on: its message and exit status (2 for bad usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What ssh takes in a path unquoted, unexpanded (no %tokens, no whitespace) and in the shell
# command line it makes for a jump host (it passes -F on unquoted).
_SSH_SAFE_PATH = re.compile(r"[A-Za-z0-9._/+@,-]+")


def config_dir(environ: dict | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CAAS_CONFIG_DIR") or "~/.config/caas").expanduser()


def safe_id(cluster_id: Any) -> str:
    """A cluster id fit for a file name (the server's ids are hex; anything else is refused)."""
    if not isinstance(cluster_id, str) or _SAFE_ID.fullmatch(cluster_id) is None:
        raise CLIError(f"unexpected cluster id {cluster_id!r} from the API")
    return cluster_id


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700 (its parents are made, the config dir 0700 too)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (mode 0600 from creation on, replaced atomically) in a 0700
    directory."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def key_path(base: Path, cluster_id: str) -> Path:
    return base / "keys" / safe_id(cluster_id)


def save_private_key(base: Path, cluster_id: str, private_key: str) -> Path:
    """Keep a generated key pair's private key (the API shows it once)."""
    return write_private(key_path(base, cluster_id), private_key if private_key.endswith("\n") else private_key + "\n")


def forget_cluster(base: Path, cluster_id: str) -> None:
    """Remove what this client kept for a cluster that is gone: its generated private key,
    known hosts and ssh config."""
    cluster_id = safe_id(cluster_id)
    for path in (base / "keys" / cluster_id, base / "known_hosts" / cluster_id, base / "ssh" / f"{cluster_id}.conf"):
        path.unlink(missing_ok=True)


def nothing_to_log_in_to(cluster: dict) -> bool:
    """Is this a cluster whose key can reach nothing, for good: in ERROR, idle, not kept on
    failure, without a floating IP (a failed create rolled back; the API clears the address
    when the rollback removed everything). Such a cluster can only be deleted, or replaced by
    a create of its name. One kept on failure, or whose rollback failed, still has its head:
    its key stays until the delete."""
    return (cluster.get("status") == "ERROR" and not cluster.get("operation") and not cluster.get("keep_on_failure")
            and not cluster.get("floating_ip"))


@dataclass(frozen=True)
class SshCommand:
    """What ``caas cluster ssh`` runs: ``argv`` and, for a compute node, the ssh config to
    write first."""

    argv: list[str]
    config_path: Path | None = None
    config_text: str | None = None


def _ssh_path(path: Path) -> str:
    text = str(path)
    if _SSH_SAFE_PATH.fullmatch(text) is None:
        raise CLIError(f"{text!r} has characters ssh cannot take safely in a path; "
                       "set CAAS_CONFIG_DIR to a path of letters, digits and ._/+@,-")
    return text


def _address(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise CLIError(f"unexpected {what} {value!r} from the API") from exc


def head_alias(cluster_id: str) -> str:
    return f"caas-head-{safe_id(cluster_id)[:8]}"


def ssh_command(cluster: dict, nodes: Sequence[dict], node: str | None, command: Sequence[str],
                base: Path, key_file: Path | None, login: str = SSH_USER) -> SshCommand:
    """The ssh invocation for the head (``node`` None or the head's name) or a compute node of
    ``cluster``, whose nodes the API listed as ``nodes``. ``key_file``: the saved generated key,
    or None for the user's own keys and agent. ``--`` ends ssh's options, so ``command`` (run
    by the remote user's shell, as ssh does) is never taken for ssh options. ``login``: the
    user on the target (a cluster user's login name; the jump to the head stays root's).

    The head: ``ssh [-i KEY] -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=KH --
    root@FIP COMMAND...``. A compute node: through the head, ``ssh -F CONF -J caas-head-ID8 --
    root@NODE COMMAND...``, where CONF (written first) describes the head (command-line options
    do not reach a jump host; ssh hands -F on to the jump ssh) and, where its address is known,
    each node, so the head need not resolve node names."""
    if login != SSH_USER and not LOGIN.match(login):
        raise CLIError(f"{login[:40]!r} is not a login name (lowercase letters, digits, '_' and '-')", code=2)
    cluster_id = safe_id(cluster.get("id"))
    head = next((n for n in nodes if n.get("role") == "head"), None)
    target = None
    if node is not None and not (head is not None and node == head.get("name")):
        target = next((n for n in nodes if n.get("role") != "head" and is_valid_name(node) and n.get("name") == node),
                      None)
        if target is None:
            names = compact(n["name"] for n in nodes if is_valid_name(n.get("name"))) or "none"
            raise CLIError(f"cluster {cluster.get('name')} has no node {node!r} (its nodes: {names}); "
                           "a command goes after --", code=2)
    if not cluster.get("floating_ip"):
        raise CLIError(f"cluster {cluster.get('name')} has no floating IP yet (status {cluster.get('status')})")
    fip = _address(cluster["floating_ip"], "floating IP")
    known_hosts = _ssh_path(base / "known_hosts" / cluster_id)
    key = _ssh_path(key_file) if key_file is not None else None
    if target is None:
        argv = ["ssh"] + (["-i", key] if key else []) + [
            "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}",
            "--", f"{login}@{fip}", *command]
        return SshCommand(argv)
    alias = head_alias(cluster_id)
    conf = base / "ssh" / f"{cluster_id}.conf"
    lines = [f"# Written by caas for cluster {cluster_id}; rewritten by every caas cluster ssh.",
             f"Host {alias}", f"    HostName {fip}", f"    User {SSH_USER}"]
    for n in nodes:
        if n.get("role") != "head" and is_valid_name(n.get("name")) and n.get("fixed_ip"):
            lines += [f"Host {n['name']}", f"    HostName {_address(n['fixed_ip'], 'node address')}"]
    lines += ["Host *"] + ([f"    IdentityFile {key}"] if key else []) + [
        "    StrictHostKeyChecking accept-new", f"    UserKnownHostsFile {known_hosts}"]
    argv = ["ssh", "-F", _ssh_path(conf), "-J", alias, "--", f"{login}@{node}", *command]
    return SshCommand(argv, conf, "\n".join(lines) + "\n")
