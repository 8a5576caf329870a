"""Compute tables: ``flavor`` (+ ``flavor_access`` for private flavors), ``keypair`` (per user),
``server`` (an instance and its lifecycle), ``server_group`` (+ membership on the server row),
``compute_host`` (a hypervisor: capacity, usage claims, PCI devices), ``compute_quota`` and the
per-project lock row that quota claims take. Rows are deleted for real once the work that
hangs on them (ports, claims, driver state) is undone."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, utcnow


def uuid_str() -> str:
    """Nova ids are dashed UUIDs."""
    return str(uuid.uuid4())


class Flavor(Base):
    __tablename__ = "flavor"
    # Nova's flavorid: any string (the CLI's "auto" becomes a UUID).
    id: Mapped[str] = mapped_column(String(255), primary_key=True, default=uuid_str)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)  # MiB
    disk: Mapped[int] = mapped_column(Integer, default=0)  # GiB
    ephemeral: Mapped[int] = mapped_column(Integer, default=0)  # GiB
    swap: Mapped[int] = mapped_column(Integer, default=0)  # MiB
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra_specs: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FlavorAccess(Base):
    __tablename__ = "flavor_access"
    flavor_id: Mapped[str] = mapped_column(ForeignKey("flavor.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Keypair(Base):
    __tablename__ = "keypair"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ServerGroup(Base):
    __tablename__ = "server_group"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ComputeHost(Base):
    """One hypervisor. ``*_used`` are the claims of the servers placed on it; a claim updates
    them under this row's lock in the same transaction that places the server."""

    __tablename__ = "compute_host"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # ids before 2.53
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=uuid_str)  # ids from 2.53
    name: Mapped[str] = mapped_column(String(255), unique=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    up: Mapped[bool] = mapped_column(Boolean, default=True)  # reported by the driver at start
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)  # os-services force-down (2.11)
    # Reported by a compute agent on another machine (caas.hosts), not by the local driver: its
    # ``up`` follows the agent's heartbeats, and the local driver's sync leaves it alone.
    agent: Mapped[bool] = mapped_column(Boolean, default=False)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    local_gb: Mapped[int] = mapped_column(Integer, default=0)
    vcpus_used: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb_used: Mapped[int] = mapped_column(Integer, default=0)
    local_gb_used: Mapped[int] = mapped_column(Integer, default=0)
    running_vms: Mapped[int] = mapped_column(Integer, default=0)
    cpu_allocation_ratio: Mapped[float] = mapped_column(Float, default=4.0)
    ram_allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    disk_allocation_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    # [{"address", "vendor_id", "product_id", "instance_id" (null when free)}]
    pci_devices: Mapped[list] = mapped_column(JSON, default=list)
    hypervisor_type: Mapped[str] = mapped_column(String(32), default="fake")
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=1000)
    host_ip: Mapped[str] = mapped_column(String(64), default="127.0.0.1")
    cpu_info: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Server(Base):
    """An instance. ``status`` is Nova's vm_state shown as the API status (BUILD, ACTIVE,
    SHUTOFF, ERROR, ...); ``task_state`` the work in progress; ``host`` is set by the claim."""

    __tablename__ = "server"
    __table_args__ = (Index("ix_server_project_created", "project_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    flavor_id: Mapped[str] = mapped_column(String(255))
    # The flavor as it was at boot (name, vcpus, ram, disk, ephemeral, swap, extra_specs):
    # Nova keeps it with the instance, so deleting the flavor changes nothing for it.
    flavor: Mapped[dict] = mapped_column(JSON)
    # Copied from the flavor so that quota usage is a SUM in SQL.
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    image_id: Mapped[str] = mapped_column(String(36), default="")
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="BUILD", index=True)
    task_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    requested_az: Mapped[str | None] = mapped_column(String(255), nullable=True)
    server_group_id: Mapped[str | None] = mapped_column(ForeignKey("server_group.id"), nullable=True, index=True)
    # The boot request, kept so that a restart can finish the build.
    requested_networks: Mapped[list] = mapped_column(JSON, default=list)
    security_groups: Mapped[list] = mapped_column(JSON, default=list)
    scheduler_hints: Mapped[dict] = mapped_column(JSON, default=dict)
    pci_devices: Mapped[list] = mapped_column(JSON, default=list)  # addresses claimed on the host
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    config_drive: Mapped[bool] = mapped_column(Boolean, default=False)
    access_ipv4: Mapped[str] = mapped_column(String(64), default="")
    access_ipv6: Mapped[str] = mapped_column(String(64), default="")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    fault: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {code, message, details, created}
    progress: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    launched_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ComputeQuota(Base):
    __tablename__ = "compute_quota"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class ComputeProjectLock(Base):
    """One row per project, locked (SELECT ... FOR UPDATE) by every quota claim, so that
    concurrent creates count and insert one after another."""

    __tablename__ = "compute_project_lock"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
