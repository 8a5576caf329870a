"""What every compute noun shares: the service's collaborators (database, settings, driver,
the network, image and volume services), time formatting, and the per-project lock row that
quota claims take."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.db.engine import insert_if_absent
from caas.errors import Forbidden
from caas.context import AuthContext
from caas.compute.models import ComputeProjectLock


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
