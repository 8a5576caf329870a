"""Identity domain logic: domains and users (projects are in ``projects``, roles in ``roles``,
groups in ``groups``, grants and role assignments in ``assignments``, the catalog in ``catalog``
and ``endpoint_filter``). Pure Python over the database; callers pass an ``AuthContext`` and every call
checks policy first. Every write bumps the identity revision in the same transaction, so token
validation caches in every process notice it.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.db import Database
from caas.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from caas.identity import assignments, policy
from caas.context import AuthContext
from caas.identity.models import Domain, Group, Project, Role, User
from caas.identity.passwords import MAX_PASSWORD_LENGTH, hash_password, verify_password
from caas.identity import compliance, delegation_cleanup
from caas.identity.credentials import forget_owners
from caas.identity.revocation import add_revocation, bump_revision

DEFAULT_DOMAIN_ID = "default"


def check_password_length(password: str) -> None:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"Password is longer than the maximum of {MAX_PASSWORD_LENGTH} characters.")
    if password == "":
        raise BadRequest("Password must not be empty.")


def _get(session: Session, model, id_: str, what: str):
    obj = session.get(model, id_) if id_ else None
    if obj is None:
        raise NotFound(f"Could not find {what}: {id_}.")
    return obj


def _apply_filters(stmt, model, filters: dict[str, Any], allowed: Iterable[str]):
    for key in allowed:
        if key in filters and filters[key] is not None:
            stmt = stmt.where(getattr(model, key) == filters[key])
    return stmt


class IdentityService:
    def __init__(self, db: Database, settings: Settings, lockout: compliance.Lockout | None = None) -> None:
        self.db = db
        self.settings = settings
        # shared with the token service: a password guessed here counts as a failed login
        self.lockout = lockout or compliance.Lockout(settings)

    def _owned(self, model, id_: str, key: str) -> dict:
        """A user or project as a policy target: its id under ``key`` and its ``domain_id``
        (None for an unknown id: the call's 404 comes after policy, as in Keystone)."""
        with self.db.read() as s:
            return {key: id_, "domain_id": s.scalar(select(model.domain_id).where(model.id == id_))}

    # ---- domains -------------------------------------------------------------------------
    def list_domains(self, ctx: AuthContext, filters: dict) -> list[Domain]:
        policy.enforce(ctx, "identity:list_domains")
        with self.db.read() as s:
            stmt = _apply_filters(select(Domain), Domain, filters, ("name", "enabled"))
            return list(s.scalars(stmt.order_by(Domain.name)))

    def get_domain(self, ctx: AuthContext, domain_id: str) -> Domain:
        policy.enforce(ctx, "identity:get_domain", {"domain_id": domain_id})
        with self.db.read() as s:
            return _get(s, Domain, domain_id, "domain")

    def create_domain(self, ctx: AuthContext, name: str, description: str = "", enabled: bool = True,
                      domain_id: str | None = None) -> Domain:
        policy.enforce(ctx, "identity:create_domain")
        with self.db.write() as s:
            if s.scalar(select(Domain.id).where(Domain.name == name)):
                raise Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found with name {name}.")
            dom = Domain(name=name, description=description or "", enabled=enabled)
            if domain_id:
                dom.id = domain_id
            s.add(dom)
            bump_revision(s)
        return dom

    def update_domain(self, ctx: AuthContext, domain_id: str, changes: dict) -> Domain:
        policy.enforce(ctx, "identity:update_domain", {"domain_id": domain_id})
        with self.db.write() as s:
            dom = _get(s, Domain, domain_id, "domain")
            if domain_id == DEFAULT_DOMAIN_ID and changes.get("enabled") is False:
                raise Forbidden("The default domain cannot be disabled.")
            if "name" in changes and changes["name"] != dom.name:
                if s.scalar(select(Domain.id).where(Domain.name == changes["name"])):
                    raise Conflict(f"Duplicate entry found with name {changes['name']}.")
            for key in ("name", "description", "enabled"):
                if key in changes:
                    setattr(dom, key, changes[key])
            bump_revision(s)
        return dom

    def delete_domain(self, ctx: AuthContext, domain_id: str) -> None:
        policy.enforce(ctx, "identity:delete_domain", {"domain_id": domain_id})
        with self.db.write() as s:
            dom = _get(s, Domain, domain_id, "domain")
            if dom.id == DEFAULT_DOMAIN_ID:
                raise Forbidden("The default domain cannot be deleted.")
            if dom.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            project_ids = list(s.scalars(select(Project.id).where(Project.domain_id == dom.id)))
            user_ids = list(s.scalars(select(User.id).where(User.domain_id == dom.id)))
            for target_id in [*project_ids, dom.id]:
                assignments.forget_target(s, target_id)
            for actor_id in [*user_ids, *s.scalars(select(Group.id).where(Group.domain_id == dom.id))]:
                assignments.forget_actor(s, actor_id)
            forget_owners(s, user_ids=user_ids, project_ids=project_ids)
            delegation_cleanup.forget_users(s, user_ids)
            delegation_cleanup.forget_projects(s, project_ids)
            s.execute(delete(Project).where(Project.domain_id == dom.id))
            s.execute(delete(User).where(User.domain_id == dom.id))
            s.execute(delete(Group).where(Group.domain_id == dom.id))
            for role_id in list(s.scalars(select(Role.id).where(Role.domain_id == dom.id))):
                assignments.forget_role(s, role_id)
            s.execute(delete(Role).where(Role.domain_id == dom.id))
            s.delete(dom)
            bump_revision(s)

    def find_domain(self, s: Session, id_: str | None = None, name: str | None = None) -> Domain:
        if id_:
            dom = s.get(Domain, id_)
        elif name:
            dom = s.scalar(select(Domain).where(Domain.name == name))
        else:
            raise BadRequest("A domain needs an id or a name.")
        if dom is None:
            raise NotFound(f"Could not find domain: {id_ or name}.")
        return dom

    # ---- users ---------------------------------------------------------------------------
    def list_users(self, ctx: AuthContext, filters: dict) -> list[User]:
        policy.enforce(ctx, "identity:list_users", {"domain_id": filters.get("domain_id") or ctx.domain_id})
        if ctx.domain_id:  # a domain-scoped token lists its own domain's, as Keystone
            filters = {**filters, "domain_id": ctx.domain_id}
        with self.db.read() as s:
            stmt = _apply_filters(select(User), User, filters, ("name", "domain_id", "enabled"))
            return list(s.scalars(stmt.order_by(User.name)))

    def get_user(self, ctx: AuthContext, user_id: str) -> User:
        policy.enforce(ctx, "identity:get_user", self._owned(User, user_id, "user_id"))
        with self.db.read() as s:
            return _get(s, User, user_id, "user")

    def create_user(self, ctx: AuthContext, name: str, domain_id: str | None = None,
                    password: str | None = None, enabled: bool = True,
                    default_project_id: str | None = None, description: str = "",
                    email: str | None = None, extra: dict | None = None) -> User:
        policy.enforce(ctx, "identity:create_user", {"domain_id": domain_id or ctx.domain_id})
        if password is not None:
            check_password_length(password)
            compliance.check_password_rules(self.settings, password)
        # Hash outside the transaction: bcrypt at cost 12 takes a quarter of a second.
        hashed = hash_password(password, self.settings.password_hash_rounds) if password is not None else None
        with self.db.write() as s:
            domain_id = domain_id or (ctx.user_domain.id if ctx.user_domain else DEFAULT_DOMAIN_ID)
            _get(s, Domain, domain_id, "domain")
            if default_project_id:
                _get(s, Project, default_project_id, "project")
            if s.scalar(select(User.id).where(User.domain_id == domain_id, User.name == name)):
                raise Conflict(f"Conflict occurred attempting to store user - Duplicate entry found with name {name} "
                               f"at domain ID {domain_id}.")
            user = User(name=name, domain_id=domain_id, password_hash=hashed, enabled=enabled,
                        default_project_id=default_project_id, description=description or "",
                        email=email, extra=extra or {}, password_changed_at=time.time())
            s.add(user)
            s.flush()
            if hashed is not None:
                compliance.password_set(self.settings, s, user, hashed, user.password_changed_at, self_service=False)
            bump_revision(s)
        return user

    def update_user(self, ctx: AuthContext, user_id: str, changes: dict) -> User:
        policy.enforce(ctx, "identity:update_user", self._owned(User, user_id, "user_id"))
        hashed = None
        if changes.get("password") is not None:
            check_password_length(changes["password"])
            compliance.check_password_rules(self.settings, changes["password"])
            hashed = hash_password(changes["password"], self.settings.password_hash_rounds)
        with self.db.write() as s:
            user = _get(s, User, user_id, "user")
            if "domain_id" in changes and changes["domain_id"] != user.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in changes and changes["name"] != user.name:
                if s.scalar(select(User.id).where(User.domain_id == user.domain_id, User.name == changes["name"])):
                    raise Conflict(f"Duplicate entry: a user named {changes['name']} exists in this domain.")
            if changes.get("default_project_id"):
                _get(s, Project, changes["default_project_id"], "project")
            for key in ("name", "enabled", "default_project_id", "description", "email"):
                if key in changes:
                    setattr(user, key, changes[key])
            if "extra" in changes:
                user.extra = {**(user.extra or {}), **changes["extra"]}
            if changes.get("enabled") is True and self.settings.disable_user_account_days_inactive:
                user.last_active_at = time.time()  # as Keystone: enabling marks the user active today
            if hashed is not None:
                user.password_hash = hashed
                user.password_changed_at = time.time()
                compliance.password_set(self.settings, s, user, hashed, user.password_changed_at, self_service=False)
            if changes.get("enabled") is False:
                # As Keystone: tokens of a disabled user stay dead if it is enabled again.
                add_revocation(s, self.settings.revocation_keep_seconds, user_id=user.id)
            bump_revision(s)
        return user

    def change_password(self, ctx: AuthContext | None, user_id: str, original: str, new: str) -> None:
        """The user's own password change. Without a token (``ctx`` None) the original password
        alone authorizes it, as in Keystone (so a user whose password expired can change it),
        and a wrong one counts against the user's lockout as a failed login does."""
        if ctx is not None:
            policy.enforce(ctx, "identity:change_password", {"user_id": user_id})
        check_password_length(new)
        rounds = self.settings.password_hash_rounds
        with self.db.read() as s:
            user = _get(s, User, user_id, "user")
            with self.lockout.attempt(user.id) as outcome:
                if not verify_password(original, user.password_hash, rounds):
                    raise Unauthorized("The original password is not correct.")
                outcome.append(True)
            compliance.check_password_rules(self.settings, new)
            compliance.check_minimum_age(self.settings, s, user.id, time.time())
            compliance.check_history(self.settings, s, user, new)  # bcrypt: outside the write lock
        hashed = hash_password(new, rounds)
        with self.db.write() as s:
            user = _get(s, User, user_id, "user")
            now = time.time()
            user.password_hash = hashed
            # Every token issued before now stops working (checked at validation).
            user.password_changed_at = now
            compliance.password_set(self.settings, s, user, hashed, now, self_service=True)
            bump_revision(s)

    def delete_user(self, ctx: AuthContext, user_id: str) -> None:
        policy.enforce(ctx, "identity:delete_user", self._owned(User, user_id, "user_id"))
        with self.db.write() as s:
            user = _get(s, User, user_id, "user")
            assignments.forget_actor(s, user.id)
            forget_owners(s, user_ids=[user.id])
            delegation_cleanup.forget_users(s, [user.id])
            s.delete(user)
            bump_revision(s)

    def list_user_projects(self, ctx: AuthContext, user_id: str) -> list[Project]:
        policy.enforce(ctx, "identity:list_user_projects", self._owned(User, user_id, "user_id"))
        with self.db.read() as s:
            _get(s, User, user_id, "user")
            return assignments.projects_of_user(s, user_id, enabled_only=False)
