"""The controller's side of its compute hosts: ``HostService`` makes join tokens, lists and
removes hosts (``caas host ...``, on the database directly), and serves the agents (through
api/hosts.py): a join exchanges a token for the agent's credential, a registration records the
machine as a hypervisor (a ``compute_host`` row with ``agent`` set), a heartbeat keeps it
``up``; ``HeartbeatMonitor`` marks a host down after ``host_down_after`` seconds of silence.
The controller is the only writer of the database: agents only call these over HTTPS."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from caas.compute.models import ComputeHost, Server
from caas.db.base import utcnow
from caas.errors import BadRequest, Conflict, NotFound, Unauthorized
from caas.hosts import tokens
from caas.hosts.models import AgentHost, HostJoinToken

TOKEN_TTL = dt.timedelta(hours=1)
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class HostRow:
    """A compute host as ``caas host list`` shows it."""

    name: str
    kind: str  # "agent" (joined) or "local" (the controller's own driver) or "pending" (token made)
    state: str  # up, down, or "join token until <time>"
    servers: int


def _name(name) -> str:
    if not (isinstance(name, str) and tokens.NAME_RE.fullmatch(name)):
        raise BadRequest(f"host name {name!r} is not a DNS label (lower-case letters, digits and -, "
                         "at most 63, not starting or ending with -)")
    return name


class HostService:
    """Join tokens, agent hosts and their heartbeats (see the module)."""

    def __init__(self, db, settings, inventory=None, commands=None) -> None:
        self.db = db
        self.settings = settings
        self.inventory = inventory  # compute's HostInventory: told when a host comes or goes
        self.commands = commands  # hosts/commands.py's CommandQueue (the agents' calls)

    # ---- caas host add / list / remove ------------------------------------------------------
    def add(self, name: str, url: str, fingerprint: str) -> str:
        """A one-time join token for a new host ``name`` (a DNS label no host has, nor a pending
        token), valid for an hour, carrying the agent ``url`` and the certificate's
        ``fingerprint``. Only its secret's hash is kept."""
        _name(name)
        secret = tokens.new_secret()
        now = utcnow()
        with self.db.write() as s:
            if s.scalar(select(ComputeHost.id).where(ComputeHost.name == name)) or s.get(AgentHost, name):
                raise Conflict(f"a compute host named {name} exists already")
            s.execute(delete(HostJoinToken).where(HostJoinToken.expires_at < now))
            if s.scalar(select(HostJoinToken.host_name).where(HostJoinToken.host_name == name,
                                                              HostJoinToken.used_at.is_(None))):
                raise Conflict(f"a join token for {name} is pending; caas host remove {name} to cancel it")
            s.add(HostJoinToken(secret_hash=tokens.digest(secret), host_name=name, expires_at=now + TOKEN_TTL))
        return tokens.JoinToken(name=name, url=url, fingerprint=fingerprint, secret=secret).encode()

    def list(self) -> list[HostRow]:
        """Every compute host (the local driver's and the agents'), then the pending tokens."""
        now = utcnow()
        with self.db.read() as s:
            counts = dict(s.execute(select(Server.host, func.count()).where(Server.host.is_not(None))
                                    .group_by(Server.host)).all())
            rows = [HostRow(h.name, "agent" if h.agent else "local",
                            "up" if h.up and not h.forced_down else "down", counts.get(h.name, 0))
                    for h in s.scalars(select(ComputeHost).order_by(ComputeHost.name))]
            known = {r.name for r in rows}
            for t in s.scalars(select(HostJoinToken).where(HostJoinToken.used_at.is_(None),
                                                           HostJoinToken.expires_at >= now)):
                if t.host_name not in known:
                    rows.append(HostRow(t.host_name, "pending", f"join token until {t.expires_at:%H:%M} UTC", 0))
        return rows

    def remove(self, name: str) -> None:
        """Forget the agent host ``name`` (or cancel its pending token): refused while servers
        are on it (evacuating them is not there yet); its agent's credential stops working."""
        with self.db.write() as s:
            host = s.scalar(select(ComputeHost).where(ComputeHost.name == name))
            agent = s.get(AgentHost, name)
            tokens_gone = s.execute(delete(HostJoinToken).where(HostJoinToken.host_name == name)).rowcount
            if host is not None and not host.agent:
                raise Conflict(f"{name} is the controller's own compute host (its driver's); it cannot be removed")
            if host is not None:
                n = s.scalar(select(func.count()).select_from(Server).where(Server.host == name))
                if n:
                    raise Conflict(f"{name} has {n} server(s); delete them first (caas host remove --evacuate "
                                   "is not there yet)")
                s.delete(host)
            if agent is not None:
                s.delete(agent)
            if host is None and agent is None and not tokens_gone:
                raise NotFound(f"no compute host named {name}")
        self._changed()

    # ---- the agent API ----------------------------------------------------------------------
    def join(self, name, secret, credential) -> None:
        """Exchange the join token's ``secret`` for the agent's own ``credential`` (made and kept
        by the agent; only its hash is kept here). Repeating a join with the same credential is
        fine (the agent did not hear the answer); any other use of a used token is refused."""
        if not tokens.is_secret(secret) or not tokens.is_secret(credential):
            raise BadRequest("join needs a name, the token's secret and a credential (32 to 128 of A-Z a-z 0-9 _ -)")
        _name(name)
        now = utcnow()
        with self.db.write() as s:
            row = s.get(HostJoinToken, tokens.digest(secret))
            if row is None or row.host_name != name:
                raise Unauthorized("the join token is not known here (made for another controller, or removed)")
            agent = s.get(AgentHost, name)
            if row.used_at is not None:
                if agent is not None and agent.credential_hash == tokens.digest(credential):
                    return
                raise Unauthorized("the join token was used already; make another with caas host add")
            if row.expires_at < now:
                raise Unauthorized("the join token expired; make another with caas host add")
            if agent is not None or s.scalar(select(ComputeHost.id).where(ComputeHost.name == name)):
                raise Conflict(f"a compute host named {name} exists already")
            row.used_at = now
            s.add(AgentHost(name=name, credential_hash=tokens.digest(credential), joined_at=now, last_seen=now))

    def authenticate(self, credential) -> str:
        """The name of the host whose credential this is; Unauthorized otherwise."""
        if not tokens.is_secret(credential):
            raise Unauthorized("a host credential is required (Authorization: Bearer ...)")
        with self.db.read() as s:
            name = s.scalar(select(AgentHost.name).where(AgentHost.credential_hash == tokens.digest(credential)))
        if name is None:
            raise Unauthorized("the host credential is not valid (the host was removed, or never joined)")
        return name

    def register(self, name: str, info: dict) -> None:
        """Record (or update) the hypervisor ``name`` with what its agent's driver reports
        (``info``, checked by ``check_info``): claims on it are kept; it is up."""
        info = check_info(info)
        st = self.settings
        with self.db.write() as s:
            row = s.scalar(select(ComputeHost).where(ComputeHost.name == name))
            if row is None:
                row = ComputeHost(name=name, agent=True)
                s.add(row)
            owners = {d["address"]: d.get("instance_id") for d in (row.pci_devices or [])}
            row.pci_devices = [{**d, "instance_id": owners.get(d["address"])} for d in info.pop("pci_devices")]
            for key, value in info.items():
                setattr(row, key, value)
            row.cpu_allocation_ratio, row.ram_allocation_ratio = st.cpu_allocation_ratio, st.ram_allocation_ratio
            row.disk_allocation_ratio = st.disk_allocation_ratio
            row.agent, row.up, row.updated_at = True, True, utcnow()
            s.execute(update(AgentHost).where(AgentHost.name == name).values(last_seen=utcnow()))
        if self.commands is not None:
            self.commands.requeue(name)  # an agent registers as it starts: what it had fetched comes again
        self._changed()

    def heartbeat(self, name: str) -> None:
        """The agent ``name`` is alive: its host is up again if it was down."""
        now = utcnow()
        with self.db.write() as s:
            s.execute(update(AgentHost).where(AgentHost.name == name).values(last_seen=now))
            changed = s.execute(update(ComputeHost).where(ComputeHost.name == name, ComputeHost.up.is_(False))
                                .values(up=True, updated_at=now)).rowcount
        if changed:
            self._changed()

    def mark_silent_down(self) -> int:
        """Mark down every agent host not heard from for ``host_down_after`` seconds; how many."""
        limit = utcnow() - dt.timedelta(seconds=self.settings.host_down_after)
        with self.db.write() as s:
            silent = select(AgentHost.name).where(AgentHost.last_seen < limit)
            n = s.execute(update(ComputeHost).where(ComputeHost.name.in_(silent), ComputeHost.up.is_(True))
                          .values(up=False, updated_at=utcnow())).rowcount
        if n:
            self._changed()
        return n

    def _changed(self) -> None:
        if self.inventory is not None:
            self.inventory.forget_snapshot()


INFO_INTS = ("vcpus", "memory_mb", "local_gb", "hypervisor_version")
INFO_STRS = {"availability_zone": 255, "hypervisor_type": 32, "host_ip": 64}


def check_info(info) -> dict:
    """The host description an agent sent, as compute_host columns; BadRequest if malformed."""
    if not isinstance(info, dict):
        raise BadRequest("the body must be a JSON object describing the host")
    unknown = set(info) - set(INFO_INTS) - set(INFO_STRS) - {"cpu_info", "pci_devices"}
    if unknown:
        raise BadRequest(f"unknown host attribute(s): {', '.join(sorted(map(str, unknown)))[:200]}")
    out: dict = {}
    for key in INFO_INTS:
        v = info.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_INT:
            raise BadRequest(f"{key} must be an integer from 0 to {MAX_INT}")
        out[key] = v
    for key, size in INFO_STRS.items():
        v = info.get(key)
        if not isinstance(v, str) or not 0 < len(v) <= size or "\x00" in v:
            raise BadRequest(f"{key} must be a string of 1 to {size} characters")
        out[key] = v
    cpu = info.get("cpu_info", {})
    if not isinstance(cpu, dict) or len(str(cpu)) > 4096:
        raise BadRequest("cpu_info must be a JSON object (at most 4 KiB)")
    out["cpu_info"] = cpu
    devices = info.get("pci_devices", [])
    if not isinstance(devices, list) or len(devices) > 1024 or not all(_is_device(d) for d in devices):
        raise BadRequest("pci_devices must be a list of {address, vendor_id, product_id} strings")
    out["pci_devices"] = [{k: d[k] for k in ("address", "vendor_id", "product_id")} for d in devices]
    return out


def _is_device(d) -> bool:
    return (isinstance(d, dict) and set(d) == {"address", "vendor_id", "product_id"}
            and all(isinstance(v, str) and 0 < len(v) <= 32 for v in d.values()))


class HeartbeatMonitor:
    """A thread that marks silent agent hosts down (``HostService.mark_silent_down``) every
    quarter of ``host_down_after`` (at most every 5 s)."""

    def __init__(self, hosts: HostService) -> None:
        self.hosts = hosts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="caas-heartbeats", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = min(5.0, self.hosts.settings.host_down_after / 4)
        while not self._stop.wait(period):
            try:
                self.hosts.mark_silent_down()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the monitor
                import logging

                logging.getLogger("caas.hosts").exception("heartbeat check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
