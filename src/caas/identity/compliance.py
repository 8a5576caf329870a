"""Keystone's ``[security_compliance]`` for local users, each part off unless its setting is
(``Settings``): account lockout after failed password logins, password expiry, password history,
minimum password age, a password regex, a password change upon first use, and disabling users
inactive for too long. Answers are Keystone's: 401 with its message for a locked account, an
expired password or a disabled user; 400 ("Password validation error: ...") for a password the
rules refuse.

The lockout counts in memory, per process, on a ``throttle.Throttle`` with the budget Keystone's
lockout amounts to (see throttle.py): several API processes each keep their own counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from typing import Iterator

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.errors import BadRequest, TooManyRequests, Unauthorized
from caas.identity.credential_models import PasswordHistory
from caas.identity.models import User
from caas.identity.passwords import verify_password
from caas.identity.throttle import Budget, Throttle

DAY = 86400.0
# How Keystone's refusals of a right password begin (a locked account, an expired password, an
# inactive user): a login form shows them, where it says no more than "invalid" for the rest.
ACCOUNT_REFUSALS = ("The account is locked for user", "The password is expired", "The account is disabled for user")


class Lockout:
    """Failed password logins per user; after ``lockout_failure_attempts`` of them the user is
    locked for ``lockout_duration`` seconds after the last (the right password neither)."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.lockout_failure_attempts > 0
        duration = float(settings.lockout_duration)
        self.throttle = Throttle({"user": Budget(limit=max(1, settings.lockout_failure_attempts), delay=duration,
                                                 max_delay=duration, factor=1, forget=duration)})

    @contextlib.contextmanager
    def attempt(self, user_id: str | None) -> Iterator[list]:
        """A password check for ``user_id`` (None: an unknown user, not counted). Raises
        Keystone's AccountLocked (401) while the user is locked. The body appends True to the
        yielded list when the password was right; an Unauthorized it raises counts as a
        failure, any other exception as no verdict."""
        if not self.enabled or user_id is None:
            yield []
            return
        keys = [("user", user_id)]
        try:
            self.throttle.begin(keys)
        except TooManyRequests:
            raise Unauthorized(f"The account is locked for user: {user_id}.") from None
        verdict, outcome = self.throttle.released, []
        try:
            yield outcome
            verdict = self.throttle.succeeded if outcome else self.throttle.failed
        except Unauthorized:
            verdict = self.throttle.failed
            raise
        finally:
            verdict(keys)


def check_login(settings: Settings, user: User, now: float) -> None:
    """After a right password: 401 for a password that expired, or for a user inactive longer
    than ``disable_user_account_days_inactive`` (``inactive``)."""
    if user.password_expires_at is not None and now >= user.password_expires_at:
        raise Unauthorized(f"The password is expired and needs to be changed for user: {user.id}.")
    if inactive(settings, user, now):
        raise Unauthorized(f"The account is disabled for user: {user.id}.")


def inactive(settings: Settings, user: User, now: float) -> bool:
    """Whether ``user`` counts as disabled for inactivity, as Keystone's user model computes its
    ``enabled``: ``disable_user_account_days_inactive`` is set and that many UTC days or more have
    passed since the day it was last active (or, never seen since, the day it was created)."""
    days = settings.disable_user_account_days_inactive
    if not days:
        return False
    if user.last_active_at is not None:
        last = dt.datetime.fromtimestamp(user.last_active_at, dt.timezone.utc).date()
    elif user.created_at is not None:
        last = user.created_at.date()  # stored naive, meaning UTC
    else:
        return False
    return (dt.datetime.fromtimestamp(now, dt.timezone.utc).date() - last).days >= days


def shown_enabled(settings: Settings, user: User, now: float) -> bool:
    """The ``enabled`` a user's body shows: false for a disabled user and for an inactive one."""
    return bool(user.enabled) and not inactive(settings, user, now)


def stale_activity(settings: Settings, user: User, now: float) -> bool:
    """Whether a login should record the user's activity: only while inactive users are
    disabled, and at most hourly (a write per login would be a write per token)."""
    return bool(settings.disable_user_account_days_inactive
                and (user.last_active_at is None or now - user.last_active_at >= 3600))


def check_password_rules(settings: Settings, password: str) -> None:
    """400 unless ``password`` matches ``password_regex`` (Keystone's ``re.match``)."""
    if settings.password_regex and not re.match(settings.password_regex, password):
        raise BadRequest("Password validation error: The password does not match the requirements: "
                         f"{settings.password_regex_description}.")


def check_history(settings: Settings, s: Session, user: User, password: str) -> None:
    """400 if ``password`` is one of the user's last ``unique_last_password_count`` passwords
    (the current one among them, also for a user whose password predates the history), as
    Keystone checks a self-service change."""
    count = settings.unique_last_password_count
    if count <= 0:
        return
    hashes = list(s.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                            .order_by(PasswordHistory.id.desc()).limit(count)))
    if user.password_hash and user.password_hash not in hashes:
        hashes = [user.password_hash] + hashes[:count - 1]
    for hashed in hashes:
        if verify_password(password, hashed, settings.password_hash_rounds):
            raise BadRequest("Password validation error: The new password cannot be identical to a previous "
                             "password. The total number which includes the new password must be unique is "
                             f"{count}.")


def check_minimum_age(settings: Settings, s: Session, user_id: str, now: float) -> None:
    """400 if the user's current password, set by the user itself, is younger than
    ``minimum_password_age`` days (a password an admin set may be changed at once)."""
    days = settings.minimum_password_age
    if days <= 0:
        return
    last = s.scalar(select(PasswordHistory).where(PasswordHistory.user_id == user_id)
                    .order_by(PasswordHistory.id.desc()).limit(1))
    if last is None or not last.self_service or now >= last.created_at + days * DAY:
        return
    left = int((last.created_at + days * DAY - now) // DAY)
    raise BadRequest("Password validation error: You cannot change your password at this time due to the minimum "
                     f"password age. Once you change your password, it must be used for {days} day(s) before it "
                     f"can be changed. Please try again in {left} day(s) or contact your administrator to reset "
                     "your password.")


def password_set(settings: Settings, s: Session, user: User, hashed: str, now: float, self_service: bool) -> None:
    """Record a new password of ``user`` (in the caller's transaction): its history, and when it
    expires: at once when an admin set it and ``change_password_upon_first_use`` is on, after
    ``password_expires_days`` otherwise (never when that is 0)."""
    s.add(PasswordHistory(user_id=user.id, password_hash=hashed, created_at=now, self_service=self_service))
    if settings.change_password_upon_first_use and not self_service:
        user.password_expires_at = now
    elif settings.password_expires_days:
        user.password_expires_at = now + settings.password_expires_days * DAY
    else:
        user.password_expires_at = None
    keep = max(settings.unique_last_password_count, 1)
    old = list(s.scalars(select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
                         .order_by(PasswordHistory.id.desc()).offset(keep)))
    if old:
        s.execute(delete(PasswordHistory).where(PasswordHistory.id.in_(old)))
