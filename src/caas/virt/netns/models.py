"""The record of every kernel object and file the netns driver creates, written before it is
created: a crash at any point leaves a row that the reconciler finishes or removes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, utcnow


class KernelObject(Base):
    __tablename__ = "kernel_object"
    # kind: netns | link | cgroup | mount | loop | nft | dir
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The namespace the object lives in ("" for the host's).
    netns: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    # owner_kind: server | router | network | port | host
    owner_kind: Mapped[str] = mapped_column(String(16), index=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
