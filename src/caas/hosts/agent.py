"""The compute agent (``caas host join``): runs on a joined machine, in the foreground, and talks
to the controller only over HTTPS with the controller's pinned certificate and its own host
credential. It never opens the controller's database.

Its data dir holds ``agent.json`` (0600): the host's name, the controller's agent URL, the
pinned certificate and the credential. The credential is made here and saved *before* the join
is sent, so a join whose answer was lost is sent again with the same credential (the controller
takes that repeat); once joined the token is forgotten and a restart needs none.

A controller that cannot be reached is retried every heartbeat interval (the instances keep
running); one that refuses the credential (401: the host was removed) ends the agent."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from caas.hosts import tls, tokens

log = logging.getLogger("caas.agent")
STATE_FILE = "agent.json"
LONG_POLL = 10  # seconds a fetch of commands waits for one at most


class AgentError(Exception):
    """The agent cannot go on; the message says why."""


@dataclass(frozen=True)
class AgentState:
    name: str
    url: str
    fingerprint: str
    cert_pem: str
    credential: str
    secret: str | None = None  # the join token's, until the controller took the join

    def save(self, data_dir: Path) -> None:
        path = data_dir / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh)
        os.replace(tmp, path)


def load_state(data_dir: Path, token_text: str | None, name: str | None) -> AgentState:
    """The agent's state: kept from an earlier run (a token is then not needed; one for another
    host is refused), or made from ``token_text`` after checking the controller's certificate
    against the token's fingerprint (PinError otherwise)."""
    path = data_dir / STATE_FILE
    token = _token(token_text, name) if token_text else None
    if path.exists():
        try:
            state = AgentState(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise AgentError(f"{path} is damaged ({exc}); remove it and join with a new token") from None
        if token is not None and token.name != state.name:
            raise AgentError(f"{data_dir} belongs to host {state.name} already; use another --data-dir for {token.name}")
        if name is not None and name != state.name:
            raise AgentError(f"{data_dir} belongs to host {state.name}, not {name}")
        return state
    if token is None:
        raise AgentError(f"{data_dir} holds no joined host; give the token of caas host add NAME")
    parts = urlsplit(token.url)
    try:
        pem = tls.fetch_pinned(parts.hostname, parts.port, token.fingerprint)
    except OSError as exc:
        raise AgentError(f"cannot reach the controller at {token.url}: {exc}") from None
    except tls.PinError as exc:
        raise AgentError(str(exc)) from None
    state = AgentState(token.name, token.url, token.fingerprint, pem, tokens.new_secret(), token.secret)
    state.save(data_dir)
    return state


def _token(text: str, name: str | None) -> tokens.JoinToken:
    try:
        token = tokens.decode(text)
    except tokens.TokenError as exc:
        raise AgentError(str(exc)) from None
    if name is not None and name != token.name:
        raise AgentError(f"the token is for host {token.name}, not {name}")
    return token


def host_description(driver) -> dict:
    """What the agent registers: its driver's one host (capacity, zone, PCI devices ...)."""
    hosts = driver.hosts()
    if len(hosts) != 1:
        raise AgentError(f"the agent's driver reports {len(hosts)} hosts; an agent is one host "
                         "(declare one in CAAS_FAKE_HOSTS)")
    h = hosts[0]
    return {"vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.local_gb,
            "availability_zone": h.availability_zone, "hypervisor_type": h.hypervisor_type,
            "hypervisor_version": h.hypervisor_version, "host_ip": h.host_ip, "cpu_info": dict(h.cpu_info),
            "pci_devices": [{"address": d.address, "vendor_id": d.vendor_id, "product_id": d.product_id}
                            for d in h.pci_devices]}


class Agent:
    """One run of the agent for ``state`` (see the module), its driver already built."""

    def __init__(self, data_dir: Path, state: AgentState, driver, heartbeat_interval: float) -> None:
        self.data_dir = data_dir
        self.state = state
        self.driver = driver
        self.interval = heartbeat_interval
        self.stopping = threading.Event()
        self.failure: AgentError | None = None
        from caas.hosts.runner import CommandRunner

        self.runner = CommandRunner(driver, data_dir, driver.hosts()[0].name)
        self.http = httpx.Client(base_url=state.url, verify=tls.client_context(state.cert_pem), timeout=10,
                                 headers={"Authorization": f"Bearer {state.credential}"})

    def call(self, path: str, body: dict | None = None) -> None:
        """POST ``body`` to the agent API; AgentError on a refusal (httpx.TransportError when the
        controller cannot be reached: the caller retries)."""
        reply = self.http.post(path, json=body) if body is not None else self.http.post(path)
        if reply.status_code >= 400:
            try:
                message = reply.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = reply.text[:200]
            raise AgentError(f"the controller refused {path} ({reply.status_code}): {message}")

    def join(self) -> None:
        """Spend the token for the saved credential (once; forgotten when taken)."""
        if self.state.secret is None:
            return
        self.call("/agent/v1/join", {"name": self.state.name, "secret": self.state.secret,
                                     "credential": self.state.credential})
        self.state = replace(self.state, secret=None)
        self.state.save(self.data_dir)

    def run(self) -> None:
        """Join and register, then heartbeat and run the controller's commands until
        ``stopping`` is set; a controller out of reach is tried again each interval. AgentError
        when the controller refuses this host (it was removed)."""
        if not self._register():
            return
        worker = threading.Thread(target=self._commands, name="caas-agent-commands", daemon=True)
        worker.start()
        while not self.stopping.wait(self.interval):
            try:
                self.call("/agent/v1/heartbeat")
            except httpx.TransportError as exc:
                say(f"caas agent: the controller at {self.state.url} does not answer ({exc}); trying again")
            except AgentError as exc:
                self.failure = exc
                self.stopping.set()
        if self.failure is not None:
            raise self.failure

    def _register(self) -> bool:
        """Join (once) and register this host; False if stopped first."""
        while not self.stopping.is_set():
            try:
                self.join()
                self.call("/agent/v1/register", host_description(self.driver))
                say(f"caas agent: host {self.state.name} joined {self.state.url}; heartbeat every "
                    f"{self.interval:g} s")
                return True
            except httpx.TransportError as exc:
                say(f"caas agent: the controller at {self.state.url} does not answer ({exc}); trying again")
            self.stopping.wait(self.interval)
        return False

    def _commands(self) -> None:
        """Fetch the controller's commands (a long poll) and run each on its own thread; send
        the answers the controller does not have yet first."""
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="caas-agent-run")
        while not self.stopping.is_set():
            try:
                for result in self.runner.unacked():
                    self._send(result)
                reply = self.http.post("/agent/v1/commands", json={"wait": LONG_POLL}, timeout=LONG_POLL + 10)
                if reply.status_code != 200:
                    raise AgentError(f"the controller refused /agent/v1/commands ({reply.status_code}): "
                                     f"{reply.text[:200]}")
                for command in reply.json().get("commands", []):
                    pool.submit(self._run_one, command)
            except httpx.TransportError:
                self.stopping.wait(self.interval)
            except AgentError as exc:
                self.failure = exc
                self.stopping.set()
        pool.shutdown(wait=False)

    def _run_one(self, command: dict) -> None:
        result = self.runner.answer(command)
        try:
            self._send(result)
        except (httpx.TransportError, AgentError):
            pass  # journaled: sent again by the command loop

    def _send(self, result: dict) -> None:
        reply = self.http.post("/agent/v1/results", json=result)
        if reply.status_code in (204, 404):  # 404: a command the controller no longer has
            self.runner.acked(result["id"])
        elif reply.status_code == 401:
            raise AgentError(f"the controller refused this host's credential: {reply.text[:200]}")

    def close(self) -> None:
        self.http.close()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def local_driver(settings):
    """The agent's own driver (the fake one needs no database; the netns one keeps its records
    in a SQLite file of the agent's data dir, never the controller's)."""
    from caas.virt import driver_for

    if settings.driver == "fake":
        return driver_for(settings, None)
    from caas.db import Database, migrate

    url = f"sqlite:///{settings.data_dir / 'agent.db'}"
    migrate.upgrade(url)
    return driver_for(settings, Database(url))


def run_agent(settings, token_text: str | None, name: str | None) -> None:
    """``caas host join``: the agent in the foreground until SIGTERM or SIGINT."""
    from caas.lockfile import Held, hold

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        lock = hold(settings.data_dir / "agent.lock", f"pid {os.getpid()}")
    except Held as held:
        raise AgentError(f"an agent runs with data dir {settings.data_dir} already ({held.holder})") from None
    try:
        state = load_state(settings.data_dir, token_text, name)
        driver = local_driver(settings)
        driver.start()
        host_description(driver)  # one host, or AgentError before anything is sent
        agent = Agent(settings.data_dir, state, driver, settings.heartbeat_interval)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: agent.stopping.set())
        try:
            agent.run()
        finally:
            agent.close()
            driver.stop()
    finally:
        lock.close()
