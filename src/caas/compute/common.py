"""What every compute noun shares: the service's collaborators (database, settings, driver,
the network, image and volume services), time formatting, and the per-project lock row that
quota claims take."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Forbidden
from caas.identity.context import AuthContext
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


def int_text(value) -> bool:
    """A string that int() takes as a plain decimal integer (ASCII digits, an optional minus):
    str.isdigit() alone also says yes to digits int() refuses, such as "²"."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    text = text[1:] if text.startswith("-") else text
    return text.isascii() and text.isdigit()


def strict_int(value, field: str, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    """An integer (or a string of one, as Nova accepts) within bounds; BadRequest otherwise."""
    if isinstance(value, bool):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value} is not of type 'integer'")
    if int_text(value):
        value = int(value)
    if not isinstance(value, int):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value!r} is not of type 'integer'")
    if not minimum <= value <= maximum:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value} is out of range "
                         f"({minimum}..{maximum})")
    return value
