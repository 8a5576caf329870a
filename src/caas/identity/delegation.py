"""What application credentials and trusts share: the roles a user holds on a project (asked
through one function), expiry times as Keystone writes them, the refusals of delegated tokens,
and ``token_grant``, which token validation calls for every token issued from a credential or a
trust: it checks that the delegation still stands and gives the roles and the context fields
the token carries."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from caas.context import AuthContext, Ref
from caas.errors import BadRequest, Forbidden, Unauthorized
from caas.identity.tokens import TokenData

AUTH_REQUIRED = "The request you have made requires authentication."
FORBIDDEN = "You are not authorized to perform the requested action: {}."


def project_roles(s: Session, user_id: str, project_id: str) -> tuple[Ref, ...]:
    """The roles ``user_id`` holds on ``project_id``, as token validation counts them (the one
    place delegation asks; identity.auth answers)."""
    from caas.identity.auth import USER_PROJECT, _roles  # auth imports this module's callers

    return _roles(s, USER_PROJECT, user_id, project_id)


def parse_expiry(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 ``expires_at`` (UTC unless it says otherwise); None for
    none. 400, in Keystone's words, for anything else or a time already past."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("Timestamp not in expected format. The server could not comply with the request since "
                         "it is either malformed or otherwise incorrect. The client is assumed to be in error.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    epoch = when.timestamp()
    if epoch <= time.time():
        raise BadRequest("The 'expires_at' must not be before now. The server could not comply with the request "
                         "since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
    return epoch


def iso_expiry(epoch: float | None, zulu: bool = False) -> str | None:
    """``epoch`` as Keystone renders an expiry (microseconds; trusts add a ``Z``)."""
    if epoch is None:
        return None
    text = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text + "Z" if zulu else text


def refuse_trust_token(ctx: AuthContext) -> None:
    """Trust-scoped tokens may not see or manage application credentials (Keystone's rule:
    a credential would outlive the delegation)."""
    if ctx.trust is not None:
        raise Forbidden(FORBIDDEN.format("Delegated tokens cannot be used to manage application credentials"))


def refuse_restricted(ctx: AuthContext) -> None:
    """A token from a restricted application credential may not create or delete credentials."""
    if ctx.app_cred is not None and not ctx.app_cred.unrestricted:
        raise Forbidden(FORBIDDEN.format("Using method 'application_credential' is not allowed for managing "
                                         "additional application credentials."))


def refuse_app_cred_token(ctx: AuthContext) -> None:
    """Application credential tokens manage no trusts (Keystone's default)."""
    if ctx.app_cred is not None:
        raise Forbidden(FORBIDDEN.format("Delegated tokens cannot manage trusts."))


@dataclass(frozen=True)
class Grant:
    """What a delegated token carries: its roles, and the AuthContext fields that say where they
    came from (``app_cred`` or ``trust``)."""

    roles: tuple[Ref, ...]
    fields: dict = field(default_factory=dict)


def token_grant(s: Session, data: TokenData) -> Grant:
    """The roles and delegation of a token issued from an application credential or a trust,
    checked against the database now: Unauthorized when the credential or trust is gone or
    expired, or its user (trustor, trustee) may no longer use it, or lacks a delegated role."""
    from caas.identity import app_credentials, trusts

    if data.app_cred_id:
        return app_credentials.token_grant(s, data)
    if data.trust_id:
        return trusts.token_grant(s, data)
    raise Unauthorized(AUTH_REQUIRED)


def require_roles(held: tuple[Ref, ...], wanted: list[str]) -> tuple[Ref, ...]:
    """The ``held`` roles whose ids are in ``wanted``; Unauthorized when one is missing (the
    user lost a delegated role: the delegation is dead)."""
    by_id = {r.id: r for r in held}
    if any(role_id not in by_id for role_id in wanted):
        raise Unauthorized(AUTH_REQUIRED)
    return tuple(sorted((by_id[r] for r in wanted), key=lambda r: r.name))
