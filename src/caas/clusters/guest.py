"""caas's way into a cluster: SSH to the head through its floating IP with the cluster's key
(paramiko), and from the head to the nodes by name.

Every command run on the head is a POSIX sh script built here from node names that passed
``names.parse_names`` (DNS labels) and from addresses; files (/etc/hosts) go over SFTP. No
user string reaches a shell on this machine or in the cluster.
"""

from __future__ import annotations

import io
import socket
import time

from caas.clusters.profiles import READY_DIR, READY_MARKER


class GuestError(Exception):
    """The head could not be reached or a command on it failed."""


class PinnedHostKey:
    """paramiko policy: trust the head's host key the first time, then only that key."""

    def __init__(self, known: str | None) -> None:
        self.known = known
        self.seen: str | None = None

    def missing_host_key(self, client, hostname, key):
        text = f"{key.get_name()} {key.get_base64()}"
        if self.known and text != self.known:
            raise GuestError(f"the head's SSH host key changed (expected {self.known[:40]}..., got {text[:40]}...)")
        self.seen = text


def generate_key(comment: str) -> tuple[str, str]:
    """A new ed25519 key: (OpenSSH private key text, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


class Head:
    """An SSH session to a cluster's head (root, the cluster key)."""

    def __init__(self, address: str, private_key: str, host_key: str | None = None) -> None:
        self.address = address
        self._key_text = private_key
        self.policy = PinnedHostKey(host_key)
        self._client = None

    def connect(self, deadline: float, stop=lambda: False) -> None:
        """Retry until the head's sshd lets us in, ``deadline`` (monotonic) passes (GuestError),
        or ``stop()`` is true (GuestError too: the caller knows why)."""
        import paramiko

        key = paramiko.Ed25519Key.from_private_key(io.StringIO(self._key_text))
        last = "no answer"
        while True:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(self.policy)
            try:
                client.connect(self.address, 22, username="root", pkey=key, timeout=3, banner_timeout=5,
                               auth_timeout=5, allow_agent=False, look_for_keys=False)
                self._client = client
                return
            except GuestError:
                client.close()
                raise
            except (paramiko.SSHException, socket.error, EOFError) as exc:
                client.close()
                last = str(exc) or type(exc).__name__
            if time.monotonic() > deadline or stop():
                raise GuestError(f"the head {self.address} did not let caas in over SSH: {last}")
            time.sleep(0.1)

    def run(self, script: str, timeout: float = 60) -> tuple[int, str]:
        """Run a sh script on the head; (exit status, output)."""
        if self._client is None:
            raise GuestError("not connected")
        chan = self._client.get_transport().open_session(timeout=10)
        chan.settimeout(timeout)
        try:
            chan.exec_command("sh -s")
            chan.sendall(script.encode() + b"\n")
            chan.shutdown_write()
            out = b""
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                out += data
            return chan.recv_exit_status(), out.decode("utf-8", "replace")
        except socket.timeout:
            raise GuestError(f"a command on the head did not finish in {timeout:g} s") from None
        finally:
            chan.close()

    def put(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a file on the head (atomically: a temporary then a rename)."""
        sftp = self._client.open_sftp()
        try:
            tmp = path + ".caas-new"
            with sftp.open(tmp, "w") as f:
                f.write(text)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, path)
        finally:
            sftp.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ready_script() -> str:
    """Print ``ready head`` once the head's setup is done, and ``ready NAME REPORT`` for every
    compute node that has reported in (profiles.READY_DIR)."""
    return (f"test -f {READY_MARKER} && echo 'ready head'; "
            f"for f in {READY_DIR}/*; do [ -f \"$f\" ] && echo \"ready ${{f##*/}} $(cat \"$f\")\"; done; true")


def reachable_script(nodes: list[str]) -> str:
    """Print ``up NAME`` for every node that lets the head in over SSH by name, ``down NAME``
    for the others (the cluster's ssh_config bounds each try to 5 s)."""
    lines = [f"(ssh {n} true </dev/null && echo 'up {n}' || echo 'down {n}') &" for n in nodes]
    return "\n".join(lines + ["wait"])


def push_hosts_script(nodes: list[str]) -> str:
    """Copy the head's freshly written /etc/hosts to every node (no restart of anything)."""
    lines = []
    for n in nodes:
        lines.append(f"(ssh {n} 'cat > /etc/hosts.caas-new && mv /etc/hosts.caas-new /etc/hosts' < /etc/hosts "
                     f"&& echo 'pushed {n}' || echo 'failed {n}') &")
    lines.append("wait")
    return "\n".join(lines)
