"""Trusts (OS-TRUST): a trustor lends a trustee some of its roles on a project, for a time or a
number of tokens, with or without impersonation (the trustee's tokens then name the trustor as
their user). A trust may allow redelegation: a trust-scoped token then makes a narrower trust.

A trust stops working, and so do its tokens, when it is deleted (with the trusts redelegated
from it) or expires, while the trustor does not hold one of its roles on its project, or while
the trustor or the trustee is disabled (``token_grant`` checks at validation). It is deleted
with its trustor, its trustee and its project, as Keystone (``delegation_cleanup``). Its last
use (``remaining_uses`` reaching 0) removes it from the API, as Keystone does; the tokens
already issued from it still work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from caas.context import AuthContext, TrustRef
from caas.db import Database
from caas.errors import BadRequest, Forbidden, NotFound, Unauthorized
from caas.identity import policy
from caas.identity.delegation import (AUTH_REQUIRED, FORBIDDEN, Grant, parse_expiry, project_roles,
                                      refuse_app_cred_token, require_roles)
from caas.identity.delegation_cleanup import delete_trusts
from caas.identity.delegation_models import Trust, TrustRole
from caas.identity.models import Domain, Project, Role, User
from caas.identity.service import bump_revision
from caas.identity.tokens import TokenData

MAX_REDELEGATION = 3  # Keystone's [trust] max_redelegation_count


@dataclass(frozen=True)
class NewTrust:
    trustor_user_id: str
    trustee_user_id: str
    impersonation: bool
    project_id: str | None = None
    role_ids: tuple[str, ...] = ()
    role_names: tuple[str, ...] = ()
    expires_at: str | None = None
    remaining_uses: int | None = None
    allow_redelegation: bool = False
    redelegation_count: int | None = None


@dataclass(frozen=True)
class TrustView:
    trust: Trust
    roles: list[Role]


def _alive(trust: Trust | None) -> bool:
    return (trust is not None and trust.remaining_uses != 0
            and (trust.expires_at is None or trust.expires_at > time.time()))


def _get(s: Session, trust_id: str) -> Trust:
    trust = s.get(Trust, trust_id)
    if not _alive(trust):
        raise NotFound(f"Could not find trust: {trust_id}.")
    return trust


def _roles_of(s: Session, trust_id: str) -> list[Role]:
    ids = select(TrustRole.role_id).where(TrustRole.trust_id == trust_id)
    return list(s.scalars(select(Role).where(Role.id.in_(ids)).order_by(Role.name)))


def _role_ids(s: Session, req: NewTrust) -> list[str]:
    """The roles a new trust names, by id or by name (404 for an unknown name)."""
    ids = list(dict.fromkeys(req.role_ids))
    for name in req.role_names:
        role_id = s.scalar(select(Role.id).where(Role.name == name))
        if role_id is None:
            raise NotFound(f"Role {name} is not defined")
        ids.append(role_id)
    return list(dict.fromkeys(ids))


def _counts(req: NewTrust) -> int:
    """The redelegation count a new trust gets (0: it may not be redelegated), by Keystone's rules."""
    redelegatable = req.allow_redelegation and req.redelegation_count != 0
    if not redelegatable:
        if req.remaining_uses is not None and req.remaining_uses <= 0:
            raise BadRequest("remaining_uses must be a positive integer or null.")
        return 0
    if req.redelegation_count is not None and req.redelegation_count > MAX_REDELEGATION:
        raise Forbidden(f"Requested redelegation depth of {req.redelegation_count} is greater than allowed "
                        f"{MAX_REDELEGATION}")
    if req.remaining_uses is not None:
        raise BadRequest("remaining_uses must not be set if redelegation is allowed")
    return req.redelegation_count or MAX_REDELEGATION


def _check_redelegation(s: Session, parent: Trust, req: NewTrust, role_ids: list[str], expires: float | None):
    """A trust made from a trust-scoped token: within what ``parent`` gives. Returns the
    new trust's (expiry, redelegation count)."""
    if not 0 < parent.redelegation_count <= MAX_REDELEGATION:
        raise Forbidden(f"Remaining redelegation depth of {parent.redelegation_count} out of allowed range of "
                        f"[0..{MAX_REDELEGATION}]")
    if req.remaining_uses is not None:
        raise Forbidden(f'Field "remaining_uses" is set to {req.remaining_uses} while it must not be set in order '
                        "to redelegate a trust")
    if expires is not None and parent.expires_at is not None and expires > parent.expires_at:
        raise Forbidden("Requested expiration time is more than redelegated trust can provide")
    parent_roles = {r.id for r in _roles_of(s, parent.id)}
    if not set(role_ids) <= parent_roles:
        raise Forbidden("Some of requested roles are not in redelegated trust")
    if req.impersonation and not parent.impersonation:
        raise Forbidden("Impersonation is not allowed because redelegated trust does not specify impersonation. "
                        f"Redelegated trust id: {parent.id}")
    count = parent.redelegation_count - 1
    if req.allow_redelegation and req.redelegation_count and req.redelegation_count != count:
        raise Forbidden('Modifying "redelegation_count" upon redelegation is forbidden. Omitting this parameter '
                        "is advised.")
    return (expires if expires is not None else parent.expires_at), count


class TrustService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, ctx: AuthContext, req: NewTrust) -> TrustView:
        """A trust from the caller (the trustor) to the trustee, with roles the trustor holds."""
        policy.enforce(ctx, "identity:create_trust", {"user_id": req.trustor_user_id})
        refuse_app_cred_token(ctx)
        if req.project_id and not (req.role_ids or req.role_names):
            raise Forbidden(FORBIDDEN.format("At least one role should be specified"))
        if ctx.user_id != req.trustor_user_id:
            raise Forbidden(FORBIDDEN.format("The authenticated user should match the trustor"))
        expires = parse_expiry(req.expires_at)
        count = _counts(req)
        with self.db.write() as s:
            if s.get(User, req.trustee_user_id) is None:
                raise NotFound(f"Could not find user: {req.trustee_user_id}.")
            role_ids = _role_ids(s, req)
            parent = _get(s, ctx.trust.id) if ctx.trust is not None else None
            self._check_trustor_roles(s, parent, req, role_ids)
            if parent is not None:
                expires, count = _check_redelegation(s, parent, req, role_ids, expires)
            trust = Trust(trustor_user_id=req.trustor_user_id, trustee_user_id=req.trustee_user_id,
                          project_id=req.project_id, impersonation=req.impersonation, expires_at=expires,
                          remaining_uses=req.remaining_uses, redelegation_count=count,
                          redelegated_trust_id=parent.id if parent is not None else None)
            s.add(trust)
            s.flush()
            s.add_all(TrustRole(trust_id=trust.id, role_id=r) for r in role_ids)
            s.flush()
            bump_revision(s)
            return TrustView(trust, _roles_of(s, trust.id))

    @staticmethod
    def _check_trustor_roles(s: Session, parent: Trust | None, req: NewTrust, role_ids: list[str]) -> None:
        """Every role the trust names is the (original) trustor's on the project: 404 otherwise."""
        if not req.project_id:
            return
        if s.get(Project, req.project_id) is None:
            raise NotFound(f"Could not find project: {req.project_id}.")
        origin = parent
        while origin is not None and origin.redelegated_trust_id:
            origin = s.get(Trust, origin.redelegated_trust_id)
        trustor = origin.trustor_user_id if origin is not None else req.trustor_user_id
        held = {r.id for r in project_roles(s, trustor, req.project_id)}
        for role_id in role_ids:
            if role_id not in held:
                raise NotFound(f"Could not find role: {role_id}.")

    def list(self, ctx: AuthContext, trustor: str | None, trustee: str | None) -> list[Trust]:
        """Every trust (admin), or one trustor's, or one trustee's (themselves or admin)."""
        refuse_app_cred_token(ctx)
        if trustor:
            policy.enforce(ctx, "identity:list_trusts_for_trustor", {"user_id": trustor})
        elif trustee:
            policy.enforce(ctx, "identity:list_trusts_for_trustee", {"user_id": trustee})
        else:
            policy.enforce(ctx, "identity:list_trusts")
        with self.db.read() as s:
            stmt = select(Trust)
            if trustor:
                stmt = stmt.where(Trust.trustor_user_id == trustor)
            elif trustee:
                stmt = stmt.where(Trust.trustee_user_id == trustee)
            return [t for t in s.scalars(stmt.order_by(Trust.created_at)) if _alive(t)]

    def get(self, ctx: AuthContext, trust_id: str) -> TrustView:
        with self.db.read() as s:
            trust = self._party(ctx, s, trust_id, "identity:get_trust")
            return TrustView(trust, _roles_of(s, trust.id))

    def roles(self, ctx: AuthContext, trust_id: str) -> list[Role]:
        with self.db.read() as s:
            return _roles_of(s, self._party(ctx, s, trust_id, "identity:list_roles_for_trust").id)

    def role(self, ctx: AuthContext, trust_id: str, role_id: str) -> Role:
        with self.db.read() as s:
            trust = self._party(ctx, s, trust_id, "identity:get_role_for_trust")
            for role in _roles_of(s, trust.id):
                if role.id == role_id:
                    return role
        raise NotFound(f"Could not find role: {role_id}.")

    def delete(self, ctx: AuthContext, trust_id: str) -> None:
        """Delete a trust and the trusts redelegated from it; their tokens stop working."""
        with self.db.write() as s:
            delete_trusts(s, [self._party(ctx, s, trust_id, "identity:delete_trust").id])
            bump_revision(s)

    @staticmethod
    def _party(ctx: AuthContext, s: Session, trust_id: str, action: str) -> Trust:
        """The trust, for its trustor or trustee (or, where the rule says, an admin)."""
        refuse_app_cred_token(ctx)
        trust = _get(s, trust_id)
        policy.enforce(ctx, action, {"trustor_user_id": trust.trustor_user_id,
                                     "trustee_user_id": trust.trustee_user_id})
        return trust


def scope_token(db: Database, data: TokenData, trust_id: str) -> TokenData:
    """``data`` (a trustee's new token) scoped to trust ``trust_id``: one use consumed, its
    project, its user the trustor under impersonation. Unauthorized when ``data``'s user is not
    the trustee or the trust cannot be used."""
    if data.trust_id or data.app_cred_id:
        raise Forbidden(FORBIDDEN.format("A delegated token cannot be scoped to a trust"))
    with db.write() as s:
        trust = s.get(Trust, trust_id)
        if not _alive(trust):
            raise Unauthorized(AUTH_REQUIRED)
        if trust.trustee_user_id != data.user_id:
            raise Forbidden(FORBIDDEN.format("The user is not the trustee of this trust"))
        _check_parties(s, trust)
        if trust.remaining_uses is not None:
            done = s.execute(update(Trust).where(Trust.id == trust.id, Trust.remaining_uses == trust.remaining_uses)
                             .values(remaining_uses=trust.remaining_uses - 1))
            if done.rowcount != 1:  # another token took that use first
                raise Unauthorized(AUTH_REQUIRED)
            bump_revision(s)
        user_id = trust.trustor_user_id if trust.impersonation else trust.trustee_user_id
        expires = min(data.expires_at, trust.expires_at) if trust.expires_at else data.expires_at
        return replace(data, user_id=user_id, project_id=trust.project_id, domain_id=None, trust_id=trust.id,
                       expires_at=expires)


def _check_parties(s: Session, trust: Trust) -> tuple:
    """The trust's roles (still the trustor's on its project); Unauthorized when the trustor or
    the trustee is gone or disabled (with its domain), or a role is no longer the trustor's."""
    for user_id in (trust.trustor_user_id, trust.trustee_user_id):
        user = s.get(User, user_id)
        if user is None or not user.enabled or not s.get(Domain, user.domain_id).enabled:
            raise Unauthorized(AUTH_REQUIRED)
    wanted = list(s.scalars(select(TrustRole.role_id).where(TrustRole.trust_id == trust.id)))
    if not trust.project_id:
        return ()
    return require_roles(project_roles(s, trust.trustor_user_id, trust.project_id), wanted)


def token_grant(s: Session, data: TokenData) -> Grant:
    """For token validation: the roles of a token issued from trust ``data.trust_id`` and its
    ``trust``; Unauthorized when the trust is deleted or expired, or cannot be used any more.
    A used-up trust's tokens stay valid."""
    trust = s.get(Trust, data.trust_id)
    if trust is None or (trust.expires_at is not None and trust.expires_at <= time.time()):
        raise Unauthorized(AUTH_REQUIRED)
    roles = _check_parties(s, trust)
    ref = TrustRef(trust.id, trust.trustor_user_id, trust.trustee_user_id, trust.impersonation)
    return Grant(roles, {"trust": ref})
