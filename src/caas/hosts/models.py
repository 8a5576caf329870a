"""Host tables: ``host_join_token`` (a one-time token of ``caas host add``, kept as its
SHA-256: the token itself is shown once) and ``agent_host`` (a machine joined with one: the
SHA-256 of its credential and its last heartbeat). The hypervisor itself is the
``compute_host`` row of the same name (``agent`` true)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
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
