"""Helpers for the compute-host tests: ``caas host ...`` as a process, and ``Agent``, one real
``caas host join`` process on the fake driver with its own data dir."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.compute.conftest import wait_until
from tests.conftest import caas_command

# One declared host for an agent's fake driver (its name on the agent does not matter: the
# controller knows it by the token's).
AGENT_HOST = '[{"name": "agent-local", "vcpus": 8, "memory_mb": 16384, "local_gb": 500}]'


def caas(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(caas_command() + list(args), capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, f"caas {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def add_host(controller_dir: Path, name: str) -> str:
    """A join token of ``caas host add NAME``."""
    return caas("host", "add", name, "--data-dir", str(controller_dir)).stdout.strip()


class Agent:
    """``caas host join [TOKEN] --data-dir DIR --driver fake`` in the background."""

    def __init__(self, data_dir: Path, token: str | None = None, env: dict | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.token = token
        self.env = {**os.environ, "CAAS_FAKE_HOSTS": AGENT_HOST, "CAAS_HEARTBEAT_INTERVAL": "0.5", **(env or {})}
        self.args = list(args)
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Agent":
        argv = caas_command() + ["host", "join"] + ([self.token] if self.token else []) + [
            "--data-dir", str(self.data_dir), "--driver", "fake", *self.args]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def joined(self, timeout: float = 60) -> "Agent":
        """Wait until the agent says it joined (fails if it exits first)."""
        def check():
            assert self.proc.poll() is None, f"the agent exited with {self.proc.returncode}:\n{self.output()}"
            return "joined" in self.output()
        wait_until(check, timeout, "the agent's join")
        return self

    def exited(self, timeout: float = 60) -> int:
        """Wait for the agent to end by itself; its exit status."""
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.close()

    def kill(self, sig: int = signal.SIGKILL) -> int:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.exited(20)
