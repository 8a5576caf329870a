"""Settings: data dir, database URL, listen address, driver, token and hashing parameters.

Values come from (highest first) explicit arguments, ``CAAS_*`` environment variables and
defaults. ``Settings`` is immutable; everything derived from it (paths, URLs) is a property.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DRIVERS = ("fake", "netns")


def default_driver() -> str:
    """``$CAAS_DRIVER``, else netns as root (real instances need root) and fake otherwise."""
    return os.environ.get("CAAS_DRIVER") or ("netns" if os.geteuid() == 0 else "fake")


def default_data_dir() -> Path:
    env = os.environ.get("CAAS_HOME")
    if env:
        return Path(env).expanduser()
    return Path("~/.local/share/caas").expanduser()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _env_range(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``LOW:HIGH`` (inclusive) from the environment."""
    raw = os.environ.get(name)
    if not raw:
        return default
    low, sep, high = raw.partition(":")
    try:
        value = (int(low), int(high))
    except ValueError:
        raise ValueError(f"{name} must be LOW:HIGH, got {raw!r}") from None
    if not sep or not 1 <= value[0] <= value[1]:
        raise ValueError(f"{name} must be LOW:HIGH with 1 <= LOW <= HIGH, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8080
    driver: str = field(default_factory=default_driver)
    database_url: str | None = None
    # Public base URL written into the service catalog; derived from host/port when unset.
    public_url: str | None = None
    region: str = "RegionOne"
    token_ttl_seconds: int = field(default_factory=lambda: _env_int("CAAS_TOKEN_TTL", 3600))
    # bcrypt cost; Keystone's default is 12, and ours is never weaker by default.
    password_hash_rounds: int = field(default_factory=lambda: _env_int("CAAS_PASSWORD_HASH_ROUNDS", 12))
    max_body_bytes: int = 1024 * 1024
    # The external (floating IP) network created on first start; must not overlap a host route.
    external_cidr: str = field(default_factory=lambda: os.environ.get("CAAS_EXTERNAL_CIDR", "172.24.4.0/24"))
    # Tenant networks get a segmentation id of this type from this inclusive range.
    tenant_network_type: str = "vxlan"
    segmentation_range: tuple[int, int] = field(default_factory=lambda: _env_range("CAAS_SEGMENTATION_RANGE", (1, 65535)))
    # Compute. The fake driver's hosts: a YAML/JSON file, or the YAML/JSON text itself (see
    # virt/fake.py); unset gives one host. Its boot delay (seconds) and failure rate (0..1).
    fake_hosts: str | None = field(default_factory=lambda: os.environ.get("CAAS_FAKE_HOSTS") or None)
    fake_boot_delay: float = field(default_factory=lambda: _env_float("CAAS_FAKE_BOOT_DELAY", 0.0))
    fake_failure_rate: float = field(default_factory=lambda: _env_float("CAAS_FAKE_FAILURE_RATE", 0.0))
    # Nova's [pci] alias, as a JSON list: [{"name": "K20m", "vendor_id": "10de", "product_id": "1028"}].
    pci_aliases: str = field(default_factory=lambda: os.environ.get("CAAS_PCI_ALIASES", "[]"))
    # Nova's initial allocation ratios (placement's defaults for a new host).
    cpu_allocation_ratio: float = field(default_factory=lambda: _env_float("CAAS_CPU_ALLOCATION_RATIO", 4.0))
    ram_allocation_ratio: float = field(default_factory=lambda: _env_float("CAAS_RAM_ALLOCATION_RATIO", 1.0))
    disk_allocation_ratio: float = field(default_factory=lambda: _env_float("CAAS_DISK_ALLOCATION_RATIO", 1.0))
    # "spread" (Nova's default: the emptiest host first) or "stack" (the fullest first).
    scheduler_strategy: str = field(default_factory=lambda: os.environ.get("CAAS_SCHEDULER_STRATEGY", "spread"))
    # Threads that build, stop, start and delete servers in the background.
    compute_workers: int = field(default_factory=lambda: _env_int("CAAS_COMPUTE_WORKERS", 16))
    # Seconds between two syncs of the servers' power states with the driver (Nova's
    # sync_power_state_interval, 600 there): a dead instance's server is SHUTOFF within this
    # long. 0: only at start.
    power_sync_interval: float = field(default_factory=lambda: _env_float("CAAS_POWER_SYNC_INTERVAL", 10.0))
    # Clusters. The cloud they are built on: a cloud in clouds.yaml (OS_CLIENT_CONFIG_FILE), or
    # None for this caas itself (as its admin). Defaults for what a create leaves out.
    cluster_cloud: str | None = field(default_factory=lambda: os.environ.get("CAAS_CLUSTER_CLOUD") or None)
    # A portal (``caas up --cloud NAME``): no embedded cloud, only the cluster service of the
    # cloud ``cluster_cloud``, whose Keystone tokens it takes. Seconds it keeps the cloud's
    # answer to a token's validation (keystonemiddleware's token_cache_time, 300 there): a
    # token revoked in the cloud works here that long at most (one revoked through the portal's
    # dashboard stops at once).
    portal: bool = False
    # Where the cloud's instances reach caas (the programs of elastic Slurm clusters ask it for
    # nodes): CAAS_GUEST_URL; else, for the embedded cloud with the netns driver, the external
    # network's gateway on this machine (caas listens there too, ``guest_bind``) at --port;
    # else the catalog's base URL.
    guest_url_setting: str | None = field(default_factory=lambda: os.environ.get("CAAS_GUEST_URL") or None)
    portal_token_cache: float = field(default_factory=lambda: _env_float("CAAS_PORTAL_TOKEN_CACHE", 30.0))
    cluster_flavor: str = field(default_factory=lambda: os.environ.get("CAAS_CLUSTER_FLAVOR", "m1.xsmall"))
    cluster_image: str = field(default_factory=lambda: os.environ.get("CAAS_CLUSTER_IMAGE", "host"))
    # The pool of cluster networks: each cluster of a project gets its own /22 of it.
    cluster_cidr: str = field(default_factory=lambda: os.environ.get("CAAS_CLUSTER_CIDR", "10.192.0.0/12"))
    cluster_node_width: int = field(default_factory=lambda: _env_int("CAAS_CLUSTER_NODE_WIDTH", 3))
    # ssh: caas logs in to the head (through its floating IP) to bootstrap and to check that
    # every node is ready; none: a server the cloud calls ACTIVE is ready (the fake driver's
    # instances run nothing). Default: none on the embedded fake cloud, ssh otherwise.
    cluster_guest: str = field(default_factory=lambda: os.environ.get("CAAS_CLUSTER_GUEST", ""))
    cluster_timeout: float = field(default_factory=lambda: _env_float("CAAS_CLUSTER_TIMEOUT", 600.0))
    # Fault injection for tests: fail cluster work right after a step's work. A comma-separated
    # list of [OPERATION:]STEP[@CLUSTER] (OPERATION: create, add or remove; CLUSTER: only the
    # clusters of that name), e.g. "ready@a,add:nodes".
    cluster_fail_at: str = field(default_factory=lambda: os.environ.get("CAAS_CLUSTER_FAIL_AT", ""))
    cluster_workers: int = field(default_factory=lambda: _env_int("CAAS_CLUSTER_WORKERS", 4))
    # Seconds between two health checks of the idle clusters' nodes against the cloud (their
    # servers' status): a node whose server stops is DOWN, and its cluster DEGRADED, this long
    # after the cloud says so; it is ACTIVE again once its server runs and it answers.
    cluster_check_interval: float = field(default_factory=lambda: _env_float("CAAS_CLUSTER_CHECK_INTERVAL", 10.0))
    # The dashboard's login throttle (identity/throttle.py): the failed logins a user name (in
    # a domain) and a client address may have before each waits; the first wait, doubled with
    # each further failure up to the longest; failures forgotten this long after the last one;
    # at most this many user names, and as many addresses, tracked.
    login_user_failures: int = field(default_factory=lambda: _env_int("CAAS_LOGIN_USER_FAILURES", 5))
    login_address_failures: int = field(default_factory=lambda: _env_int("CAAS_LOGIN_ADDRESS_FAILURES", 50))
    login_delay: float = field(default_factory=lambda: _env_float("CAAS_LOGIN_DELAY", 1.0))
    login_max_delay: float = field(default_factory=lambda: _env_float("CAAS_LOGIN_MAX_DELAY", 300.0))
    login_forget: float = field(default_factory=lambda: _env_float("CAAS_LOGIN_FORGET", 900.0))
    login_tracked: int = field(default_factory=lambda: _env_int("CAAS_LOGIN_TRACKED", 10000))
    # Keystone's [security_compliance], each off by default as there: a user locked for
    # lockout_duration seconds after lockout_failure_attempts failed password logins in a row
    # (0: never); passwords expiring after password_expires_days (0: never); a new password
    # differing from the last unique_last_password_count ones (0 or 1: from the current one only
    # when it is 1, as Keystone counts the new one); changed at most once per
    # minimum_password_age days; matching password_regex (refused with its description); users
    # made or reset by an admin must change their password first; users not seen for
    # disable_user_account_days_inactive days are disabled at their next login (0: never).
    lockout_failure_attempts: int = field(default_factory=lambda: _env_int("CAAS_LOCKOUT_FAILURE_ATTEMPTS", 0))
    lockout_duration: int = field(default_factory=lambda: _env_int("CAAS_LOCKOUT_DURATION", 1800))
    password_expires_days: int = field(default_factory=lambda: _env_int("CAAS_PASSWORD_EXPIRES_DAYS", 0))
    unique_last_password_count: int = field(default_factory=lambda: _env_int("CAAS_UNIQUE_LAST_PASSWORD_COUNT", 0))
    minimum_password_age: int = field(default_factory=lambda: _env_int("CAAS_MINIMUM_PASSWORD_AGE", 0))
    password_regex: str | None = field(default_factory=lambda: os.environ.get("CAAS_PASSWORD_REGEX") or None)
    password_regex_description: str | None = field(
        default_factory=lambda: os.environ.get("CAAS_PASSWORD_REGEX_DESCRIPTION") or None)
    change_password_upon_first_use: bool = field(
        default_factory=lambda: os.environ.get("CAAS_CHANGE_PASSWORD_UPON_FIRST_USE", "").lower() in ("1", "true", "yes"))
    disable_user_account_days_inactive: int = field(
        default_factory=lambda: _env_int("CAAS_DISABLE_USER_ACCOUNT_DAYS_INACTIVE", 0))
    # The reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; none by default: the client is the connection's peer.
    trusted_proxies: str = field(default_factory=lambda: os.environ.get("CAAS_TRUSTED_PROXIES", ""))
    # Compute hosts (caas.hosts): the TLS listener of the agent API (its port: None for the main
    # port + 1, 0 for any free one; its address: ``host`` unless given); an agent host is down
    # after this many seconds without a heartbeat; an agent heartbeats this often (seconds).
    agent_port: int | None = None
    agent_host: str | None = None
    host_down_after: float = field(default_factory=lambda: _env_float("CAAS_HOST_DOWN_AFTER", 60.0))
    heartbeat_interval: float = field(default_factory=lambda: _env_float("CAAS_HEARTBEAT_INTERVAL", 5.0))
    # Seconds the controller waits at most for an agent's answer to a driver call.
    agent_call_timeout: float = field(default_factory=lambda: _env_float("CAAS_AGENT_CALL_TIMEOUT", 120.0))

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise ValueError(f"unknown driver {self.driver!r}; choose one of {', '.join(DRIVERS)}")
        if not 0 <= self.portal_token_cache <= 3600:
            raise ValueError("CAAS_PORTAL_TOKEN_CACHE (seconds) must be from 0 to 3600")
        if self.portal and not self.cluster_cloud:
            raise ValueError("a portal needs the cloud it serves (caas up --cloud NAME)")
        if self.driver == "netns" and os.geteuid() != 0 and not self.portal:
            raise ValueError("the netns driver runs real containers and needs root; use --driver fake")
        if not 4 <= self.password_hash_rounds <= 31:
            raise ValueError("password hash rounds (bcrypt cost) must be between 4 and 31")
        if self.token_ttl_seconds < 1:
            raise ValueError("token TTL must be at least one second")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.agent_port is not None and not 0 <= self.agent_port <= 65535:
            raise ValueError("agent port must be between 0 and 65535")
        if min(self.heartbeat_interval, self.host_down_after, self.agent_call_timeout) <= 0:
            raise ValueError("CAAS_HEARTBEAT_INTERVAL, CAAS_HOST_DOWN_AFTER and CAAS_AGENT_CALL_TIMEOUT must be "
                             "positive (seconds)")
        if self.scheduler_strategy not in ("spread", "stack"):
            raise ValueError("CAAS_SCHEDULER_STRATEGY must be spread or stack")
        if not 0.0 <= self.fake_failure_rate <= 1.0:
            raise ValueError("CAAS_FAKE_FAILURE_RATE must be between 0 and 1")
        if self.fake_boot_delay < 0:
            raise ValueError("CAAS_FAKE_BOOT_DELAY must not be negative")
        if min(self.cpu_allocation_ratio, self.ram_allocation_ratio, self.disk_allocation_ratio) <= 0:
            raise ValueError("allocation ratios must be positive")
        if not 1 <= self.compute_workers <= 256:
            raise ValueError("CAAS_COMPUTE_WORKERS must be between 1 and 256")
        if self.power_sync_interval < 0:
            raise ValueError("CAAS_POWER_SYNC_INTERVAL must not be negative (0: sync only at start)")
        if not self.cluster_guest:
            object.__setattr__(self, "cluster_guest",
                               "none" if self.driver == "fake" and not self.cluster_cloud else "ssh")
        if self.cluster_guest not in ("ssh", "none"):
            raise ValueError("CAAS_CLUSTER_GUEST must be ssh or none")
        if not 1 <= self.cluster_node_width <= 8:
            raise ValueError("CAAS_CLUSTER_NODE_WIDTH must be between 1 and 8")
        if not 1 <= self.cluster_workers <= 64:
            raise ValueError("CAAS_CLUSTER_WORKERS must be between 1 and 64")
        if self.cluster_check_interval <= 0:
            raise ValueError("CAAS_CLUSTER_CHECK_INTERVAL must be positive")
        if self.cluster_timeout <= 0:
            raise ValueError("CAAS_CLUSTER_TIMEOUT must be positive")
        if min(self.login_user_failures, self.login_address_failures, self.login_tracked) < 1:
            raise ValueError("CAAS_LOGIN_USER_FAILURES, CAAS_LOGIN_ADDRESS_FAILURES and CAAS_LOGIN_TRACKED "
                             "must be at least 1")
        if not 0 < self.login_delay <= self.login_max_delay <= self.login_forget:
            raise ValueError("the login throttle needs 0 < CAAS_LOGIN_DELAY <= CAAS_LOGIN_MAX_DELAY <= "
                             "CAAS_LOGIN_FORGET")
        self._check_compliance()
        import ipaddress
        try:
            net = ipaddress.ip_network(self.cluster_cidr)
        except ValueError:
            raise ValueError(f"CAAS_CLUSTER_CIDR is not a network: {self.cluster_cidr!r}") from None
        if net.version != 4 or net.prefixlen > 22:
            raise ValueError("CAAS_CLUSTER_CIDR must be an IPv4 network of /22 or larger (the pool of clusters' /22s)")

    def _check_compliance(self) -> None:
        import re

        if min(self.lockout_failure_attempts, self.password_expires_days, self.unique_last_password_count,
               self.minimum_password_age, self.disable_user_account_days_inactive) < 0:
            raise ValueError("the security compliance settings (CAAS_LOCKOUT_FAILURE_ATTEMPTS, "
                             "CAAS_PASSWORD_EXPIRES_DAYS, ...) must not be negative")
        if self.lockout_duration < 1:
            raise ValueError("CAAS_LOCKOUT_DURATION must be at least one second")
        if self.password_regex is not None:
            try:
                re.compile(self.password_regex)
            except re.error as exc:
                raise ValueError(f"CAAS_PASSWORD_REGEX is not a regular expression: {exc}") from None

    @property
    def revocation_keep_seconds(self) -> float:
        """How long a revocation event is kept: the token lifetime and Keystone's half-hour
        margin (``expiration_buffer``), after which every token it could match has expired."""
        return self.token_ttl_seconds + 1800

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'caas.db'}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def guest_bind(self) -> tuple[str, int] | None:
        """Where caas also listens for its instances (None: nowhere more): the external network's
        gateway, for the embedded cloud with the netns driver, unless CAAS_GUEST_URL says where
        they reach it, or caas listens on every address already."""
        if self.portal or self.driver != "netns" or self.guest_url_setting or self.host in ("0.0.0.0", "", "::"):
            return None
        import ipaddress

        return str(ipaddress.ip_network(self.external_cidr, strict=False)[1]), self.port

    @property
    def guest_url(self) -> str:
        if self.guest_url_setting:
            return self.guest_url_setting.rstrip("/")
        where = self.guest_bind
        return f"http://{where[0]}:{where[1]}" if where else self.base_url

    @property
    def agent_bind(self) -> tuple[str, int]:
        """Where the agent API listens: (address, port)."""
        port = self.agent_port if self.agent_port is not None else (self.port + 1 if self.port else 0)
        return (self.agent_host or self.host, port)

    @property
    def agent_url_file(self) -> Path:
        """The agent API's URL, written by a running ``caas up`` for ``caas host add``."""
        return self.data_dir / "agent-url"

    @property
    def image_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def instance_dir(self) -> Path:
        """The netns driver's per-instance state (overlay upper layers, config drives, consoles)."""
        return self.data_dir / "instances"

    @property
    def rootfs_cache_dir(self) -> Path:
        """Tar images unpacked once, the lower layer of their instances' overlays."""
        return self.data_dir / "rootfs"

    @property
    def volume_dir(self) -> Path:
        return self.data_dir / "volumes"

    @property
    def share_dir(self) -> Path:
        """The shares' directories (``DIR/shares/<id>``), bound into the instances that mount them."""
        return self.data_dir / "shares"

    @property
    def fernet_key_dir(self) -> Path:
        return self.data_dir / "fernet-keys"

    @property
    def credential_key_dir(self) -> Path:
        """The Fernet keys that encrypt stored secrets (credentials, OAuth1, domain options)."""
        return self.data_dir / "credential-keys"

    @property
    def admin_password_file(self) -> Path:
        return self.data_dir / "admin-password"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "caas.lock"
