"""Identity domain logic: domains, users, roles and role assignments (projects are in
``projects``, the catalog in ``catalog`` and ``endpoint_filter``). Pure Python over the database; callers pass an ``AuthContext`` and every call
checks policy first. Every write bumps the identity revision in the same transaction, so token
validation caches in every process notice it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from caas.identity import policy
from caas.context import AuthContext
from caas.identity.models import Assignment, Domain, Project, RevocationEvent, Revision, Role, User
from caas.identity.passwords import MAX_PASSWORD_LENGTH, hash_password, verify_password
from caas.identity import compliance
from caas.identity.credentials import forget_owners

USER_PROJECT = "UserProject"
USER_DOMAIN = "UserDomain"
DEFAULT_DOMAIN_ID = "default"


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


def check_password_length(password: str) -> None:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"Password is longer than the maximum of {MAX_PASSWORD_LENGTH} characters.")
    if password == "":
        raise BadRequest("Password must not be empty.")


@dataclass(frozen=True)
class AssignmentView:
    """One role assignment with the names of what it joins (for include_names)."""

    role: Role
    user: User
    user_domain: Domain
    project: Project | None
    domain: Domain | None  # the scope when domain-scoped, else the project's domain


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
            s.execute(delete(Assignment).where(or_(Assignment.target_id.in_(project_ids + [dom.id]),
                                                   Assignment.actor_id.in_(user_ids))))
            forget_owners(s, user_ids=user_ids, project_ids=project_ids)
            s.execute(delete(Project).where(Project.domain_id == dom.id))
            s.execute(delete(User).where(User.domain_id == dom.id))
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
        policy.enforce(ctx, "identity:list_users")
        with self.db.read() as s:
            stmt = _apply_filters(select(User), User, filters, ("name", "domain_id", "enabled"))
            return list(s.scalars(stmt.order_by(User.name)))

    def get_user(self, ctx: AuthContext, user_id: str) -> User:
        policy.enforce(ctx, "identity:get_user", {"user_id": user_id})
        with self.db.read() as s:
            return _get(s, User, user_id, "user")

    def create_user(self, ctx: AuthContext, name: str, domain_id: str | None = None,
                    password: str | None = None, enabled: bool = True,
                    default_project_id: str | None = None, description: str = "",
                    email: str | None = None, extra: dict | None = None) -> User:
        policy.enforce(ctx, "identity:create_user")
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
        policy.enforce(ctx, "identity:update_user", {"user_id": user_id})
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
        policy.enforce(ctx, "identity:delete_user", {"user_id": user_id})
        with self.db.write() as s:
            user = _get(s, User, user_id, "user")
            s.execute(delete(Assignment).where(Assignment.actor_id == user.id))
            forget_owners(s, user_ids=[user.id])
            s.delete(user)
            bump_revision(s)

    def list_user_projects(self, ctx: AuthContext, user_id: str) -> list[Project]:
        policy.enforce(ctx, "identity:list_user_projects", {"user_id": user_id})
        with self.db.read() as s:
            _get(s, User, user_id, "user")
            return self.projects_of_user(s, user_id, enabled_only=False)

    @staticmethod
    def projects_of_user(s: Session, user_id: str, enabled_only: bool = True) -> list[Project]:
        stmt = (select(Project).join(Assignment, and_(Assignment.target_id == Project.id,
                                                      Assignment.type == USER_PROJECT))
                .where(Assignment.actor_id == user_id).distinct().order_by(Project.name))
        if enabled_only:
            stmt = stmt.join(Domain, Domain.id == Project.domain_id).where(Project.enabled.is_(True),
                                                                          Domain.enabled.is_(True))
        return list(s.scalars(stmt))

    @staticmethod
    def domains_of_user(s: Session, user_id: str) -> list[Domain]:
        stmt = (select(Domain).join(Assignment, and_(Assignment.target_id == Domain.id,
                                                     Assignment.type == USER_DOMAIN))
                .where(Assignment.actor_id == user_id, Domain.enabled.is_(True)).distinct()
                .order_by(Domain.name))
        return list(s.scalars(stmt))

    # ---- roles ---------------------------------------------------------------------------
    def list_roles(self, ctx: AuthContext, filters: dict) -> list[Role]:
        policy.enforce(ctx, "identity:list_roles")
        if filters.get("domain_id"):
            return []  # domain-specific roles are not supported; there are none
        with self.db.read() as s:
            return list(s.scalars(_apply_filters(select(Role), Role, filters, ("name",)).order_by(Role.name)))

    def get_role(self, ctx: AuthContext, role_id: str) -> Role:
        policy.enforce(ctx, "identity:get_role")
        with self.db.read() as s:
            return _get(s, Role, role_id, "role")

    def create_role(self, ctx: AuthContext, name: str, description: str = "", domain_id: str | None = None) -> Role:
        policy.enforce(ctx, "identity:create_role")
        if domain_id:
            raise BadRequest("Domain-specific roles are not supported.")
        with self.db.write() as s:
            if s.scalar(select(Role.id).where(Role.name == name)):
                raise Conflict(f"Conflict occurred attempting to store role - Duplicate entry found with name {name}.")
            role = Role(name=name, description=description or "")
            s.add(role)
            bump_revision(s)
        return role

    def update_role(self, ctx: AuthContext, role_id: str, changes: dict) -> Role:
        policy.enforce(ctx, "identity:update_role")
        with self.db.write() as s:
            role = _get(s, Role, role_id, "role")
            if "name" in changes and changes["name"] != role.name:
                if s.scalar(select(Role.id).where(Role.name == changes["name"])):
                    raise Conflict(f"Duplicate entry found with name {changes['name']}.")
                role.name = changes["name"]
            if "description" in changes:
                role.description = changes["description"] or ""
            bump_revision(s)
        return role

    def delete_role(self, ctx: AuthContext, role_id: str) -> None:
        policy.enforce(ctx, "identity:delete_role")
        with self.db.write() as s:
            role = _get(s, Role, role_id, "role")
            s.execute(delete(Assignment).where(Assignment.role_id == role.id))
            s.delete(role)
            add_revocation(s, self.settings.revocation_keep_seconds, role_id=role.id)

    # ---- grants (role assignments by target) ---------------------------------------------
    def _grant_target(self, s: Session, target_type: str, target_id: str, user_id: str, role_id: str):
        if target_type == USER_PROJECT:
            _get(s, Project, target_id, "project")
        else:
            _get(s, Domain, target_id, "domain")
        _get(s, User, user_id, "user")
        _get(s, Role, role_id, "role")

    def create_grant(self, ctx: AuthContext, target_type: str, target_id: str, user_id: str, role_id: str) -> None:
        policy.enforce(ctx, "identity:create_grant")
        with self.db.write() as s:
            self._grant_target(s, target_type, target_id, user_id, role_id)
            if insert_if_absent(s, Assignment, type=target_type, actor_id=user_id, target_id=target_id,
                                role_id=role_id):
                bump_revision(s)

    def check_grant(self, ctx: AuthContext, target_type: str, target_id: str, user_id: str, role_id: str) -> None:
        policy.enforce(ctx, "identity:check_grant")
        with self.db.read() as s:
            self._grant_target(s, target_type, target_id, user_id, role_id)
            if s.get(Assignment, (target_type, user_id, target_id, role_id)) is None:
                raise NotFound(f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
                               f"project, domain, or system: {target_id}.")

    def revoke_grant(self, ctx: AuthContext, target_type: str, target_id: str, user_id: str, role_id: str) -> None:
        policy.enforce(ctx, "identity:revoke_grant")
        with self.db.write() as s:
            self._grant_target(s, target_type, target_id, user_id, role_id)
            grant = s.get(Assignment, (target_type, user_id, target_id, role_id))
            if grant is None:
                raise NotFound(f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
                               f"project, domain, or system: {target_id}.")
            s.delete(grant)
            # Tokens carrying the removed role in that scope stop working.
            scope = {"project_id": target_id} if target_type == USER_PROJECT else {"domain_id": target_id}
            add_revocation(s, self.settings.revocation_keep_seconds, user_id=user_id, **scope)

    def list_grants(self, ctx: AuthContext, target_type: str, target_id: str, user_id: str) -> list[Role]:
        policy.enforce(ctx, "identity:list_grants")
        with self.db.read() as s:
            _get(s, Project if target_type == USER_PROJECT else Domain, target_id,
                 "project" if target_type == USER_PROJECT else "domain")
            _get(s, User, user_id, "user")
            stmt = (select(Role).join(Assignment, Assignment.role_id == Role.id)
                    .where(Assignment.type == target_type, Assignment.target_id == target_id,
                           Assignment.actor_id == user_id).order_by(Role.name))
            return list(s.scalars(stmt))

    def list_role_assignments(self, ctx: AuthContext, filters: dict) -> list[AssignmentView]:
        policy.enforce(ctx, "identity:list_role_assignments", {"user_id": filters.get("user.id")})
        if filters.get("group.id"):
            return []  # groups are not supported: there are no group assignments
        with self.db.read() as s:
            stmt = select(Assignment)
            if filters.get("user.id"):
                stmt = stmt.where(Assignment.actor_id == filters["user.id"])
            if filters.get("role.id"):
                stmt = stmt.where(Assignment.role_id == filters["role.id"])
            if filters.get("scope.project.id"):
                stmt = stmt.where(Assignment.type == USER_PROJECT, Assignment.target_id == filters["scope.project.id"])
            if filters.get("scope.domain.id"):
                stmt = stmt.where(Assignment.type == USER_DOMAIN, Assignment.target_id == filters["scope.domain.id"])
            if filters.get("scope.system"):
                return []
            rows = list(s.scalars(stmt))
            views = []
            for a in rows:
                user = s.get(User, a.actor_id)
                role = s.get(Role, a.role_id)
                if user is None or role is None:
                    continue
                if a.type == USER_PROJECT:
                    project = s.get(Project, a.target_id)
                    if project is None:
                        continue
                    domain = s.get(Domain, project.domain_id)
                else:
                    project = None
                    domain = s.get(Domain, a.target_id)
                views.append(AssignmentView(role=role, user=user, user_domain=s.get(Domain, user.domain_id),
                                            project=project, domain=domain))
            views.sort(key=lambda v: (v.user.name, v.project.name if v.project else "", v.role.name))
            return views
