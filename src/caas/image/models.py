"""Image tables: ``image`` (the core attributes Glance has as columns), ``image_property`` (the
free-form string properties), ``image_tag`` and ``image_member`` (projects an image is shared
with). Rows are deleted for real (Glance keeps soft-deleted rows; nothing here needs them)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caas.db.base import Base, utcnow


def image_id() -> str:
    """Glance ids are dashed UUIDs."""
    return str(uuid.uuid4())


class Image(Base):
    __tablename__ = "image"
    __table_args__ = (Index("ix_image_visibility_owner", "visibility", "owner"),
                      Index("ix_image_created_at_id", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=image_id)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(30), default="queued")
    visibility: Mapped[str] = mapped_column(String(20), default="shared")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    checksum: Mapped[str | None] = mapped_column(String(32), nullable=True)
    os_hash_algo: Mapped[str | None] = mapped_column(String(64), nullable=True)
    os_hash_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    disk_format: Mapped[str | None] = mapped_column(String(20), nullable=True)
    container_format: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    properties: Mapped[list["ImageProperty"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="ImageProperty.name")
    tags: Mapped[list["ImageTag"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="ImageTag.value")

    @property
    def extra(self) -> dict[str, str]:
        return {p.name: p.value for p in self.properties}

    @property
    def tag_list(self) -> list[str]:
        return [t.value for t in self.tags]


class ImageProperty(Base):
    __tablename__ = "image_property"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    # Unbounded, as in Glance (not indexed: a B-tree entry has a size limit on PostgreSQL).
    value: Mapped[str] = mapped_column(Text, default="")


class ImageTag(Base):
    __tablename__ = "image_tag"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class ImageMember(Base):
    __tablename__ = "image_member"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    member: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
