"""Declarative base shared by every service's models, and the helpers for ids and times."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names, so Alembic migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def new_id() -> str:
    """OpenStack-style id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    """Naive UTC now (stored naive on every backend, always meaning UTC)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
