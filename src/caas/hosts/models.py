"""Host tables: ``host_join_token`` (a one-time token of ``caas host add``, kept as its
SHA-256: the token itself is shown once) and ``agent_host`` (a machine joined with one: the
SHA-256 of its credential and its last heartbeat). The hypervisor itself is the
``compute_host`` row of the same name (``agent`` true)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, utcnow


class HostJoinToken(Base):
    __tablename__ = "host_join_token"
    secret_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256 of the secret
    host_name: Mapped[str] = mapped_column(String(63), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AgentHost(Base):
    __tablename__ = "agent_host"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the credential
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class HostCommand(Base):
    """A driver call for an agent host, recorded before the agent can fetch it: ``pending``
    (waiting to be fetched), ``sent`` (fetched by the agent running now), ``done`` (its result
    or error recorded) or ``cancelled`` (its caller is gone: the controller restarted before it
    was sent). The id lets either side restart without losing or repeating one."""

    __tablename__ = "host_command"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {"ok": bool, "value": ..., "error": str}
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class HostInstance(Base):
    """Which agent host runs an instance: recorded before its spawn is sent, removed once its
    destroy is done (the controller's driver routes every call of the instance by it)."""

    __tablename__ = "host_instance"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(63), index=True)
