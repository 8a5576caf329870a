"""What every compute noun shares: time formatting, the admin check, the per-project lock row
that quota claims take, and the bounds and messages of Nova's list paging (the paging itself
is ``caas.paging``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Forbidden
from caas.context import AuthContext
from caas.compute.models import ComputeProjectLock

MAX_LIMIT = 1000  # Nova's [api] max_limit: the most items one list answer holds


def marker_not_found(marker: str) -> BadRequest:
    """Nova's answer to a list marker that names nothing the caller may see
    (nova/api/openstack/common.py); the key pair list has its own (``MarkerNotFound``)."""
    return BadRequest(f"marker [{marker}] not found")


def isotime(value: dt.datetime | None) -> str | None:
    """Nova's timestamps: ``2026-12-01T21:38:08Z`` (seconds, UTC)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def isotime_us(value: dt.datetime | None) -> str | None:
    """The microsecond form some Nova fields use (``...T21:38:08.123456``)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def require_admin(ctx: AuthContext, action: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")


def lock_project(s: Session, project_id: str) -> None:
    """Take the project's compute lock row for the rest of the transaction."""
    insert_if_absent(s, ComputeProjectLock, project_id=project_id)
    s.execute(select(ComputeProjectLock).where(ComputeProjectLock.project_id == project_id).with_for_update())
