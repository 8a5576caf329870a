"""Identity domain logic: domains, projects, users, regions, services and endpoints (roles:
``roles``; groups: ``groups``; grants and role assignments: ``assignments``). Pure Python over the database; callers pass an ``AuthContext`` and every call
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
from caas.identity.models import Domain, Endpoint, Group, Project, Region, Role, Service, User
from caas.identity.passwords import MAX_PASSWORD_LENGTH, hash_password, verify_password
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
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

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
            for target_id in [*s.scalars(select(Project.id).where(Project.domain_id == dom.id)), dom.id]:
                assignments.forget_target(s, target_id)
            for model in (User, Group):
                for actor_id in list(s.scalars(select(model.id).where(model.domain_id == dom.id))):
                    assignments.forget_actor(s, actor_id)
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

    # ---- projects ------------------------------------------------------------------------
    def list_projects(self, ctx: AuthContext, filters: dict) -> list[Project]:
        policy.enforce(ctx, "identity:list_projects", {"domain_id": filters.get("domain_id") or ctx.domain_id})
        if ctx.domain_id:  # a domain-scoped token lists its own domain's, as Keystone
            filters = {**filters, "domain_id": ctx.domain_id}
        if filters.get("is_domain"):
            return []
        with self.db.read() as s:
            stmt = _apply_filters(select(Project), Project, filters, ("name", "domain_id", "enabled"))
            if filters.get("parent_id") is not None:
                stmt = stmt.where(Project.domain_id == filters["parent_id"])
            return list(s.scalars(stmt.order_by(Project.name)))

    def get_project(self, ctx: AuthContext, project_id: str) -> Project:
        policy.enforce(ctx, "identity:get_project", self._owned(Project, project_id, "project_id"))
        with self.db.read() as s:
            return _get(s, Project, project_id, "project")

    def create_project(self, ctx: AuthContext, name: str, domain_id: str | None = None,
                       description: str = "", enabled: bool = True, parent_id: str | None = None) -> Project:
        policy.enforce(ctx, "identity:create_project", {"domain_id": domain_id or ctx.domain_id})
        with self.db.write() as s:
            if parent_id and not domain_id:
                domain_id = parent_id  # a project whose parent is its domain
            domain_id = domain_id or (ctx.user_domain.id if ctx.user_domain else DEFAULT_DOMAIN_ID)
            _get(s, Domain, domain_id, "domain")
            if parent_id and parent_id != domain_id:
                raise BadRequest("Nested projects are not supported; parent_id must be the domain.")
            if s.scalar(select(Project.id).where(Project.domain_id == domain_id, Project.name == name)):
                raise Conflict(f"Conflict occurred attempting to store project - it is not permitted to have "
                               f"two projects with the same name in the same domain : {name}.")
            project = Project(name=name, domain_id=domain_id, description=description or "", enabled=enabled)
            s.add(project)
            bump_revision(s)
        return project

    def update_project(self, ctx: AuthContext, project_id: str, changes: dict) -> Project:
        policy.enforce(ctx, "identity:update_project", self._owned(Project, project_id, "project_id"))
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            if "domain_id" in changes and changes["domain_id"] != project.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in changes and changes["name"] != project.name:
                if s.scalar(select(Project.id).where(Project.domain_id == project.domain_id,
                                                     Project.name == changes["name"])):
                    raise Conflict(f"Duplicate entry: a project named {changes['name']} exists in this domain.")
            for key in ("name", "description", "enabled"):
                if key in changes:
                    setattr(project, key, changes[key])
            bump_revision(s)
        return project

    def delete_project(self, ctx: AuthContext, project_id: str) -> None:
        policy.enforce(ctx, "identity:delete_project", self._owned(Project, project_id, "project_id"))
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            assignments.forget_target(s, project.id)
            s.execute(update(User).where(User.default_project_id == project.id).values(default_project_id=None))
            s.delete(project)
            bump_revision(s)

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
            bump_revision(s)
        return user

    def update_user(self, ctx: AuthContext, user_id: str, changes: dict) -> User:
        policy.enforce(ctx, "identity:update_user", self._owned(User, user_id, "user_id"))
        hashed = None
        if changes.get("password") is not None:
            check_password_length(changes["password"])
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
            if changes.get("enabled") is False:
                # As Keystone: tokens of a disabled user stay dead if it is enabled again.
                add_revocation(s, user_id=user.id)
            bump_revision(s)
        return user

    def change_password(self, ctx: AuthContext, user_id: str, original: str, new: str) -> None:
        policy.enforce(ctx, "identity:change_password", {"user_id": user_id})
        check_password_length(new)
        rounds = self.settings.password_hash_rounds
        with self.db.read() as s:
            user = _get(s, User, user_id, "user")
            current = user.password_hash
        if not verify_password(original, current, rounds):
            raise Unauthorized("The original password is not correct.")
        hashed = hash_password(new, rounds)
        with self.db.write() as s:
            user = _get(s, User, user_id, "user")
            user.password_hash = hashed
            # Every token issued before now stops working (checked at validation).
            user.password_changed_at = time.time()
            bump_revision(s)

    def delete_user(self, ctx: AuthContext, user_id: str) -> None:
        policy.enforce(ctx, "identity:delete_user", self._owned(User, user_id, "user_id"))
        with self.db.write() as s:
            user = _get(s, User, user_id, "user")
            assignments.forget_actor(s, user.id)
            s.delete(user)
            bump_revision(s)

    def list_user_projects(self, ctx: AuthContext, user_id: str) -> list[Project]:
        policy.enforce(ctx, "identity:list_user_projects", self._owned(User, user_id, "user_id"))
        with self.db.read() as s:
            _get(s, User, user_id, "user")
            return assignments.projects_of_user(s, user_id, enabled_only=False)

    # ---- regions, services, endpoints (read) ---------------------------------------------
    def list_regions(self, ctx: AuthContext) -> list[Region]:
        policy.enforce(ctx, "identity:list_regions")
        with self.db.read() as s:
            return list(s.scalars(select(Region).order_by(Region.id)))

    def get_region(self, ctx: AuthContext, region_id: str) -> Region:
        policy.enforce(ctx, "identity:get_region")
        with self.db.read() as s:
            return _get(s, Region, region_id, "region")

    def list_services(self, ctx: AuthContext, filters: dict) -> list[Service]:
        policy.enforce(ctx, "identity:list_services")
        with self.db.read() as s:
            return list(s.scalars(_apply_filters(select(Service), Service, filters, ("type", "name"))
                                  .order_by(Service.type)))

    def get_service(self, ctx: AuthContext, service_id: str) -> Service:
        policy.enforce(ctx, "identity:get_service")
        with self.db.read() as s:
            return _get(s, Service, service_id, "service")

    def list_endpoints(self, ctx: AuthContext, filters: dict) -> list[Endpoint]:
        policy.enforce(ctx, "identity:list_endpoints")
        with self.db.read() as s:
            stmt = _apply_filters(select(Endpoint), Endpoint, filters, ("interface", "service_id", "region_id"))
            return list(s.scalars(stmt.order_by(Endpoint.service_id, Endpoint.interface)))

    def get_endpoint(self, ctx: AuthContext, endpoint_id: str) -> Endpoint:
        policy.enforce(ctx, "identity:get_endpoint")
        with self.db.read() as s:
            return _get(s, Endpoint, endpoint_id, "endpoint")
