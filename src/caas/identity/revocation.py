"""The identity revision and revocation events: every identity write bumps the revision (so
each process's cache of validated tokens notices it), and a revocation event kills the tokens
issued before it that match each of its non-null fields."""

from __future__ import annotations

import time

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from caas.identity.models import RevocationEvent, Revision


def bump_revision(session: Session) -> None:
    session.execute(update(Revision).where(Revision.id == 1).values(value=Revision.value + 1))


def add_revocation(session: Session, keep_seconds: float | None = None, **match: str | None) -> None:
    """Revoke the tokens ``match`` names; with ``keep_seconds``, also purge the events older
    than that (``Settings.revocation_keep_seconds``: every token they could match has expired),
    as Keystone prunes its revocation events when it adds one."""
    now = time.time()
    if keep_seconds is not None:
        session.execute(delete(RevocationEvent).where(RevocationEvent.revoked_at < now - keep_seconds))
    session.add(RevocationEvent(issued_before=now, revoked_at=now, **match))
    bump_revision(session)
