"""Network tables. Addresses are unique per subnet, MACs per network, floating addresses per
external network and segmentation ids per type, by constraint: the database refuses a
duplicate even if two allocations race."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, utcnow


def uuid_str() -> str:
    """Neutron ids are dashed UUIDs."""
    return str(uuid.uuid4())


class _Standard:
    """Neutron's standard attributes."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Network(_Standard, Base):
    __tablename__ = "network"
    __table_args__ = (UniqueConstraint("network_type", "segmentation_id"),)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1450)
    network_type: Mapped[str] = mapped_column(String(16), default="vxlan")
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Subnet(_Standard, Base):
    __tablename__ = "subnet"
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)  # [{"start","end"}]
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)
    host_routes: Mapped[list] = mapped_column(JSON, default=list)  # [{"destination","nexthop"}]
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Port(_Standard, Base):
    __tablename__ = "port"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    host_id: Mapped[str] = mapped_column(String(255), default="")
    vnic_type: Mapped[str] = mapped_column(String(32), default="normal")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list] = mapped_column(JSON, default=list)


class PortIP(Base):
    """A fixed IP of a port. Unique per subnet: two ports never get one address."""

    __tablename__ = "port_ip"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("port.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnet.id"), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))


class PortSecurityGroup(Base):
    __tablename__ = "port_security_group"
    port_id: Mapped[str] = mapped_column(ForeignKey("port.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_group.id"), primary_key=True, index=True)


class Router(_Standard, Base):
    __tablename__ = "router"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gateway_network_id: Mapped[str | None] = mapped_column(ForeignKey("network.id"), nullable=True)
    gateway_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)


class FloatingIP(_Standard, Base):
    __tablename__ = "floating_ip"
    # One floating IP per fixed IP of a port (rows without a port are not constrained).
    __table_args__ = (UniqueConstraint("floating_network_id", "floating_ip_address"),
                      UniqueConstraint("port_id", "fixed_ip_address"))
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    floating_subnet_id: Mapped[str] = mapped_column(ForeignKey("subnet.id"))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    port_id: Mapped[str | None] = mapped_column(ForeignKey("port.id"), nullable=True, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(ForeignKey("router.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class SecurityGroup(_Standard, Base):
    __tablename__ = "security_group"
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)


class DefaultSecurityGroup(Base):
    """Each project's ``default`` group, created once (the key makes a racing second create fail)."""

    __tablename__ = "default_security_group"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_group.id", ondelete="CASCADE"))


class SecurityGroupRule(Base):
    __tablename__ = "security_group_rule"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_group.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class NetworkQuota(Base):
    """A project's limit for one resource, where it differs from the default."""

    __tablename__ = "network_quota"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class ProjectLock(Base):
    """One row per project, locked (SELECT ... FOR UPDATE) by every quota claim, so that
    concurrent creates in one project count and insert one after the other."""

    __tablename__ = "network_project_lock"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
