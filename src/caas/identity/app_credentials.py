"""Application credentials: a user's secret for one project with a subset of the user's roles
there, optionally limited by access rules to some (service, method, path) requests, and
authentication with it (the ``application_credential`` method).

A credential is created with a project-scoped token of its own user (the token's project; its
roles a subset of the token's, all of them by default), or with an unscoped one (as Keystone: no
project and no role; its tokens are unscoped). Its secret is generated unless given, returned
once, and stored as a bcrypt hash. A credential stops working, and so do its tokens, when it is
deleted or expires, when its user is disabled, when its project is deleted (authenticating then
answers 404 for the project, as Keystone), or while its user does not hold one of its roles on
its project (token validation checks every one, see ``token_grant``). It is deleted with its
user, and with a role its user held directly on its project (``delegation_cleanup``).
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.context import AccessRule as Rule, AppCredential, AuthContext
from caas.db import Database
from caas.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from caas.identity import policy
from caas.identity.delegation import (AUTH_REQUIRED, FORBIDDEN, Grant, parse_expiry, project_roles,
                                      refuse_restricted, refuse_trust_token, require_roles)
from caas.identity.delegation_models import (NO_PROJECT, AccessRule, ApplicationCredential,
                                             ApplicationCredentialAccessRule, ApplicationCredentialRole)
from caas.identity.models import Domain, Project, Role, User
from caas.identity.passwords import hash_password, verify_password
from caas.identity.service import bump_revision
from caas.identity.tokens import TokenData


@dataclass(frozen=True)
class RoleName:
    """A role as a request names it: by id, or by name."""

    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    """An access rule as a request gives it: an existing rule's id, or its three parts."""

    id: str | None = None
    service: str | None = None
    method: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class NewAppCredential:
    name: str
    description: str | None = None
    secret: str | None = None
    roles: tuple[RoleName, ...] = ()
    expires_at: str | None = None
    unrestricted: bool | None = None
    access_rules: tuple[RuleSpec, ...] | None = None


@dataclass(frozen=True)
class AppCredAuth:
    """The ``application_credential`` method's identity: the credential's id, or its name with
    its user (by id, or by name with the user's domain by id or name)."""

    secret: str
    id: str | None = None
    name: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class AppCredView:
    """A credential as the API shows it; ``secret`` only right after its creation."""

    cred: ApplicationCredential
    roles: list[Role]
    rules: list[AccessRule]
    secret: str | None = None


def generate_secret() -> str:
    """64 random bytes, URL-safe base64 without padding (Keystone's)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")


def _view(s: Session, cred: ApplicationCredential, secret: str | None = None) -> AppCredView:
    role_ids = list(s.scalars(select(ApplicationCredentialRole.role_id)
                              .where(ApplicationCredentialRole.app_cred_id == cred.id)))
    roles = list(s.scalars(select(Role).where(Role.id.in_(role_ids)).order_by(Role.name))) if role_ids else []
    rules = list(s.scalars(select(AccessRule).join(ApplicationCredentialAccessRule,
                                                   ApplicationCredentialAccessRule.access_rule_id == AccessRule.id)
                           .where(ApplicationCredentialAccessRule.app_cred_id == cred.id).order_by(AccessRule.path)))
    return AppCredView(cred, roles, rules, secret)


def _resolve_roles(s: Session, ctx: AuthContext, wanted: tuple[RoleName, ...]) -> list[str]:
    """The role ids a new credential gets: those named (each held by the token), or all the
    token's. An unknown role name is 404; a role the token lacks 400, as Keystone answers."""
    if not wanted:
        return [r.id for r in ctx.roles]
    held = {r.id for r in ctx.roles}
    ids = []
    for item in wanted:
        if item.id:
            role_id = item.id
        else:
            role_id = s.scalar(select(Role.id).where(Role.name == item.name))
            if role_id is None:
                raise NotFound(f"Role {item.name} is not defined")
        if role_id not in held:
            raise BadRequest("Invalid application credential: Cannot create an application credential with "
                             "unassigned role")
        if role_id not in ids:
            ids.append(role_id)
    return ids


def _resolve_rules(s: Session, user_id: str, specs: tuple[RuleSpec, ...]) -> list[str]:
    """The ids of the access rules a new credential names: an existing rule of the user's by
    id, else the user's identical rule, else a new one."""
    ids = []
    for spec in specs:
        if spec.id and not (spec.service or spec.method or spec.path):
            rule = s.get(AccessRule, spec.id)
            if rule is None or rule.user_id != user_id:
                raise NotFound(f"Could not find access rule: {spec.id}.")
        else:
            if not (spec.service and spec.method and spec.path is not None):
                raise BadRequest("An access rule needs a service, a method and a path.")
            rule = s.scalar(select(AccessRule).where(AccessRule.user_id == user_id, AccessRule.service == spec.service,
                                                     AccessRule.method == spec.method, AccessRule.path == spec.path))
            if rule is None:
                rule = AccessRule(user_id=user_id, service=spec.service, method=spec.method, path=spec.path)
                if spec.id:
                    rule.id = spec.id
                s.add(rule)
                s.flush()
        if rule.id not in ids:
            ids.append(rule.id)
    return ids


class AppCredentialService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def create(self, ctx: AuthContext, user_id: str, req: NewAppCredential) -> AppCredView:
        """A new credential for ``user_id`` (the caller) on the caller's project."""
        policy.enforce(ctx, "identity:create_application_credential", {"user_id": user_id})
        refuse_trust_token(ctx)
        refuse_restricted(ctx)
        if ctx.system or ctx.domain is not None:  # Keystone's scope types: project, or an unscoped token
            raise Forbidden(FORBIDDEN.format("identity:create_application_credential"))
        expires_at = parse_expiry(req.expires_at)
        secret = req.secret or generate_secret()
        hashed = hash_password(secret, self.settings.password_hash_rounds)
        with self.db.write() as s:
            role_ids = _resolve_roles(s, ctx, req.roles)
            if s.scalar(select(ApplicationCredential.id).where(ApplicationCredential.user_id == user_id,
                                                               ApplicationCredential.name == req.name)):
                raise Conflict(f"Conflict occurred attempting to store application_credential - Duplicate entry "
                               f"found with name {req.name}.")
            cred = ApplicationCredential(name=req.name, user_id=user_id, project_id=ctx.project_id or NO_PROJECT,
                                         description=req.description, secret_hash=hashed, expires_at=expires_at,
                                         unrestricted=req.unrestricted)
            s.add(cred)
            s.flush()
            s.add_all(ApplicationCredentialRole(app_cred_id=cred.id, role_id=r) for r in role_ids)
            for rule_id in _resolve_rules(s, user_id, req.access_rules or ()):
                s.add(ApplicationCredentialAccessRule(app_cred_id=cred.id, access_rule_id=rule_id))
            s.flush()
            bump_revision(s)
            return _view(s, cred, secret)

    def list(self, ctx: AuthContext, user_id: str, name: str | None = None) -> list[AppCredView]:
        policy.enforce(ctx, "identity:list_application_credentials", {"user_id": user_id})
        refuse_trust_token(ctx)
        with self.db.read() as s:
            stmt = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
            if name is not None:
                stmt = stmt.where(ApplicationCredential.name == name)
            return [_view(s, c) for c in s.scalars(stmt.order_by(ApplicationCredential.name))]

    def get(self, ctx: AuthContext, user_id: str, cred_id: str) -> AppCredView:
        policy.enforce(ctx, "identity:get_application_credential", {"user_id": user_id})
        refuse_trust_token(ctx)
        with self.db.read() as s:
            return _view(s, _own(s, user_id, cred_id))

    def delete(self, ctx: AuthContext, user_id: str, cred_id: str) -> None:
        """Delete a credential; its tokens stop working (the revision bump empties every
        process's cache of validated tokens, and validation finds no credential)."""
        policy.enforce(ctx, "identity:delete_application_credential", {"user_id": user_id})
        refuse_trust_token(ctx)
        refuse_restricted(ctx)
        with self.db.write() as s:
            s.delete(_own(s, user_id, cred_id))
            bump_revision(s)

    # ---- access rules --------------------------------------------------------------------
    def list_access_rules(self, ctx: AuthContext, user_id: str, filters: dict) -> list[AccessRule]:
        policy.enforce(ctx, "identity:list_access_rules", {"user_id": user_id})
        refuse_trust_token(ctx)
        with self.db.read() as s:
            stmt = select(AccessRule).where(AccessRule.user_id == user_id)
            for key in ("service", "method", "path"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(AccessRule, key) == filters[key])
            return list(s.scalars(stmt.order_by(AccessRule.service, AccessRule.path)))

    def get_access_rule(self, ctx: AuthContext, user_id: str, rule_id: str) -> AccessRule:
        policy.enforce(ctx, "identity:get_access_rule", {"user_id": user_id})
        refuse_trust_token(ctx)
        with self.db.read() as s:
            return _own_rule(s, user_id, rule_id)

    def delete_access_rule(self, ctx: AuthContext, user_id: str, rule_id: str) -> None:
        """Delete an access rule no credential uses (403 while one does, as Keystone)."""
        policy.enforce(ctx, "identity:delete_access_rule", {"user_id": user_id})
        refuse_trust_token(ctx)
        with self.db.write() as s:
            rule = _own_rule(s, user_id, rule_id)
            if s.scalar(select(ApplicationCredentialAccessRule.app_cred_id)
                        .where(ApplicationCredentialAccessRule.access_rule_id == rule.id).limit(1)):
                raise Forbidden(FORBIDDEN.format(f"Cannot delete access rule {rule.id}: it is in use by an "
                                                 "application credential"))
            s.delete(rule)
            bump_revision(s)

    # ---- authentication ------------------------------------------------------------------
    def authenticate(self, creds: AppCredAuth) -> ApplicationCredential:
        """The credential ``creds`` names, if its secret matches and it may be used now;
        NotFound for no such credential (Keystone's answer), Unauthorized for the rest."""
        rounds = self.settings.password_hash_rounds
        with self.db.read() as s:
            cred = _find(s, creds)
            if cred is None:
                raise NotFound(f"Could not find Application Credential: {creds.id or creds.name}.")
            hashed = cred.secret_hash
            project_gone = cred.project_id != NO_PROJECT and s.get(Project, cred.project_id) is None
            usable = _usable(s, cred)
        if not verify_password(creds.secret, hashed, rounds):
            raise Unauthorized(AUTH_REQUIRED)
        if project_gone:
            raise NotFound(f"Could not find project: {cred.project_id}.")
        if not usable:
            raise Unauthorized(AUTH_REQUIRED)
        return cred


def _own(s: Session, user_id: str, cred_id: str) -> ApplicationCredential:
    cred = s.get(ApplicationCredential, cred_id)
    if cred is None or cred.user_id != user_id:
        raise NotFound(f"Could not find Application Credential: {cred_id}.")
    return cred


def _own_rule(s: Session, user_id: str, rule_id: str) -> AccessRule:
    rule = s.get(AccessRule, rule_id)
    if rule is None or rule.user_id != user_id:
        raise NotFound(f"Could not find access rule: {rule_id}.")
    return rule


def _find(s: Session, creds: AppCredAuth) -> ApplicationCredential | None:
    """The credential an authentication names (None when there is none)."""
    if creds.id:
        return s.get(ApplicationCredential, creds.id)
    if not creds.name:
        raise BadRequest("Expecting to find name or ID in application credential."
                         " The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
    user_id = creds.user_id
    if not user_id:
        if not creds.user_name or not (creds.domain_id or creds.domain_name):
            raise BadRequest("Expecting to find user in application credential."
                             " The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
        domain_id = creds.domain_id or s.scalar(select(Domain.id).where(Domain.name == creds.domain_name))
        user_id = s.scalar(select(User.id).where(User.domain_id == domain_id, User.name == creds.user_name))
    return s.scalar(select(ApplicationCredential).where(ApplicationCredential.user_id == user_id,
                                                        ApplicationCredential.name == creds.name))


def _usable(s: Session, cred: ApplicationCredential) -> bool:
    """Not expired, its user and the user's domain enabled, every role still held."""
    if cred.expires_at is not None and cred.expires_at <= time.time():
        return False
    user = s.get(User, cred.user_id)
    if user is None or not user.enabled or not s.get(Domain, user.domain_id).enabled:
        return False
    if cred.project_id == NO_PROJECT:
        return True
    try:
        require_roles(project_roles(s, cred.user_id, cred.project_id), _role_ids(s, cred.id))
    except Unauthorized:
        return False
    return True


def _role_ids(s: Session, cred_id: str) -> list[str]:
    return list(s.scalars(select(ApplicationCredentialRole.role_id)
                          .where(ApplicationCredentialRole.app_cred_id == cred_id)))


def token_grant(s: Session, data: TokenData) -> Grant:
    """For token validation: the roles of a token issued from credential ``data.app_cred_id``
    (exactly the credential's, all still held by its user; none for a credential without a
    project) and its ``app_cred``; Unauthorized when the credential is gone, expired, or no
    longer its user's to use."""
    cred = s.get(ApplicationCredential, data.app_cred_id)
    if cred is None or cred.user_id != data.user_id or cred.project_id != (data.project_id or NO_PROJECT):
        raise Unauthorized(AUTH_REQUIRED)
    if cred.expires_at is not None and cred.expires_at <= time.time():
        raise Unauthorized(AUTH_REQUIRED)
    roles = ()
    if cred.project_id != NO_PROJECT:
        roles = require_roles(project_roles(s, cred.user_id, cred.project_id), _role_ids(s, cred.id))
    rules = list(s.scalars(select(AccessRule).join(ApplicationCredentialAccessRule,
                                                   ApplicationCredentialAccessRule.access_rule_id == AccessRule.id)
                           .where(ApplicationCredentialAccessRule.app_cred_id == cred.id)))
    access = tuple(Rule(r.id, r.service, r.method, r.path) for r in rules) if rules else None
    return Grant(roles, {"app_cred": AppCredential(cred.id, cred.name, bool(cred.unrestricted), access)})
