"""Identity tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caas.db.base import Base, new_id, utcnow

NAME_LEN = 255


class Domain(Base):
    __tablename__ = "domain"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The parent project; None for a project directly under its domain (shown as the domain).
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("project.id"), nullable=True, index=True)
    # Loaded with the project (views show them); replacing the list replaces the rows.
    tag_rows: Mapped[list["ProjectTag"]] = relationship(lazy="selectin", cascade="all, delete-orphan",
                                                        order_by="ProjectTag.name")

    @property
    def tags(self) -> list[str]:
        return [t.name for t in self.tag_rows]


class ProjectTag(Base):
    __tablename__ = "project_tag"
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class User(Base):
    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Epoch seconds of the last password change; tokens issued before it are invalid.
    password_changed_at: Mapped[float] = mapped_column(Float, default=0.0)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(NAME_LEN), nullable=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # security_compliance: when the password expires (epoch seconds; None: never), and when
    # the user last authenticated (kept only while disable_user_account_days_inactive is set).
    password_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_active_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Role(Base):
    """A role: global (``domain_id`` None, names unique among global roles) or domain-specific
    (names unique in its domain; never in a token itself, only the roles it implies)."""

    __tablename__ = "role"
    __table_args__ = (UniqueConstraint("domain_id", "name"),
                      # NULLs are distinct in a unique constraint: global names get their own index
                      Index("ix_role_global_name", "name", unique=True, sqlite_where=text("domain_id IS NULL"),
                            postgresql_where=text("domain_id IS NULL")))
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    domain_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Assignment(Base):
    """A role granted to an actor (user or group) on a target (project, domain or the system):
    ``type`` is UserProject, GroupProject, UserDomain, GroupDomain, UserSystem or GroupSystem
    (target ``system``). ``inherited``: given on every project below the target (OS-INHERIT),
    not on the target itself."""

    __tablename__ = "assignment"
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("role.id"), primary_key=True)
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False)


class Group(Base):
    __tablename__ = "group"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    description: Mapped[str] = mapped_column(Text, default="")


class UserGroupMembership(Base):
    __tablename__ = "user_group_membership"
    user_id: Mapped[str] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)


class ImpliedRole(Base):
    """``prior_role_id`` implies ``implied_role_id``: whoever holds the first holds the second."""

    __tablename__ = "implied_role"
    prior_role_id: Mapped[str] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)


class Region(Base):
    __tablename__ = "region"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(ForeignKey("region.id"), nullable=True, index=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)  # attributes Keystone keeps as given


class Service(Base):
    __tablename__ = "service"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    # Which of caas's own catalog entries this is (its type in bootstrap.CATALOG); None: an
    # operator's. Start-up re-points only these.
    caas_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)


class Endpoint(Base):
    __tablename__ = "endpoint"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    service_id: Mapped[str] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"), index=True)
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("region.id"), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    caas_managed: Mapped[bool] = mapped_column(Boolean, default=False)  # one of caas's own (start-up)


class EndpointGroup(Base):
    """OS-EP-FILTER: the endpoints whose attributes match ``filters`` (service_id, region_id,
    interface)."""

    __tablename__ = "endpoint_group"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)


class ProjectEndpoint(Base):
    __tablename__ = "project_endpoint"
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoint.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)


class ProjectEndpointGroup(Base):
    __tablename__ = "project_endpoint_group"
    endpoint_group_id: Mapped[str] = mapped_column(ForeignKey("endpoint_group.id", ondelete="CASCADE"),
                                                   primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)


class RevocationEvent(Base):
    """Tokens issued before ``issued_before`` that match every non-null field are revoked."""

    __tablename__ = "revocation_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    domain_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_before: Mapped[float] = mapped_column(Float)
    # Events older than the longest token lifetime can be purged.
    revoked_at: Mapped[float] = mapped_column(Float)


class Revision(Base):
    """A counter bumped by every identity write, so each process can tell when its cache of
    validated tokens and identity rows is stale (one cheap read per request)."""

    __tablename__ = "identity_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
