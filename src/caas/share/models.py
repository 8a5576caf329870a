"""Share tables: ``share`` (one row per share, the record of its directory
``DIR/shares/<id>``), ``share_metadata`` (user key/value pairs), ``share_access_rule`` (who may
mount a share: an IP address or network, read-write or read-only) and ``share_lock`` (rows
locked to serialise a project's quota claims). Rows are deleted for real (Manila soft-deletes;
nothing here needs the history)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caas.db.base import Base, utcnow


def uuid_str() -> str:
    """Manila ids are dashed UUIDs."""
    return str(uuid.uuid4())


class Share(Base):
    __tablename__ = "share"
    __table_args__ = (Index("ix_share_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)  # GiB, as asked; not a limit on the bytes written
    share_proto: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="creating", index=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # The export location's id (Manila's export locations are rows of their own; here one a share).
    export_id: Mapped[str] = mapped_column(String(36), default=uuid_str)
    # Which caas data dir holds the directory: the reconciler of a process touches only its own.
    host: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    meta: Mapped[list["ShareMetadata"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="ShareMetadata.key")
    rules: Mapped[list["ShareAccessRule"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="ShareAccessRule.created_at")

    @property
    def metadata_dict(self) -> dict[str, str]:
        return {m.key: m.value for m in self.meta}


class ShareMetadata(Base):
    __tablename__ = "share_metadata"

    share_id: Mapped[str] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(1023))


class ShareAccessRule(Base):
    """Access to a share: ``access_to`` (an address or network, normalised) may mount it at
    ``access_level`` (``rw`` or ``ro``). ``state`` is ``active`` once applied (at once here:
    nothing is exported until an instance boots)."""

    __tablename__ = "share_access_rule"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    share_id: Mapped[str] = mapped_column(ForeignKey("share.id", ondelete="CASCADE"), index=True)
    access_type: Mapped[str] = mapped_column(String(16))
    access_to: Mapped[str] = mapped_column(String(255))
    access_level: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ShareLock(Base):
    """Rows that transactions lock (SELECT ... FOR UPDATE): ``project:<id>`` serialises a
    project's quota claims, so that count-and-insert is atomic on PostgreSQL too."""

    __tablename__ = "share_lock"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
