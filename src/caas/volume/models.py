"""Volume tables: ``volume`` (one row per volume, the record of its file ``DIR/volumes/<id>``),
``volume_metadata`` (user key/value pairs), ``volume_image_metadata`` (what a volume made from
an image records of it, Cinder's ``volume_glance_metadata``), ``volume_attachment`` (a volume
attached to a server: one per volume, one device name per server, by constraint),
``volume_quota`` (per-project limits where not the default) and ``volume_lock`` (rows locked to
serialise quota claims per project and device choices per server).
Rows are deleted for real (Cinder soft-deletes; nothing here needs the history)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caas.db.base import Base, utcnow


def uuid_str() -> str:
    """Cinder ids are dashed UUIDs."""
    return str(uuid.uuid4())


class Volume(Base):
    __tablename__ = "volume"
    __table_args__ = (Index("ix_volume_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # GiB. While ``extending``, ``new_size`` is the size being grown to (claimed in the quota).
    size: Mapped[int] = mapped_column(Integer)
    new_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="creating", index=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Which caas data dir holds the file ("<hostname>@caas#<data dir>"): the reconciler of a
    # process only touches its own volumes when several share one PostgreSQL.
    host: Mapped[str] = mapped_column(String(255))
    migration_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The volume this one is a copy of (not a foreign key: the source may be deleted later).
    source_volid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    meta: Mapped[list["VolumeMetadata"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="VolumeMetadata.key")
    attachments: Mapped[list["VolumeAttachment"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="VolumeAttachment.device")
    image_meta: Mapped[list["VolumeImageMetadata"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="VolumeImageMetadata.key")

    @property
    def metadata_dict(self) -> dict[str, str]:
        return {m.key: m.value for m in self.meta}

    @property
    def image_metadata_dict(self) -> dict[str, str]:
        return {m.key: m.value for m in self.image_meta}


class VolumeMetadata(Base):
    __tablename__ = "volume_metadata"

    volume_id: Mapped[str] = mapped_column(ForeignKey("volume.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class VolumeImageMetadata(Base):
    """What a volume made from an image keeps of it (``image_id``, ``image_name``, the image's
    checksum, formats, sizes and properties, all as strings), copied to the volume's clones."""

    __tablename__ = "volume_image_metadata"

    volume_id: Mapped[str] = mapped_column(ForeignKey("volume.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Image properties are unbounded in Glance.
    value: Mapped[str] = mapped_column(Text)


class VolumeAttachment(Base):
    """A volume attached to a server. ``volume_id`` is unique (no multiattach) and
    (``server_id``, ``device``) is unique, so two racing attaches can never share either."""

    __tablename__ = "volume_attachment"
    __table_args__ = (UniqueConstraint("volume_id"), UniqueConstraint("server_id", "device"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=uuid_str)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volume.id", ondelete="CASCADE"))
    server_id: Mapped[str] = mapped_column(String(36), index=True)
    device: Mapped[str] = mapped_column(String(32))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attached_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeQuota(Base):
    __tablename__ = "volume_quota"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class VolumeLock(Base):
    """Rows that transactions lock (SELECT ... FOR UPDATE) to serialise on something that has
    no row of its own here: ``project:<id>`` for a project's quota claims (count-and-insert is
    then atomic on PostgreSQL too), ``server:<id>`` for the choice of a server's next device."""

    __tablename__ = "volume_lock"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
