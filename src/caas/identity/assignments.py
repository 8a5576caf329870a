"""Who holds which role where: the assignment rows, what they add up to, and grants.

A row of ``assignment`` gives a role to an actor (a user or a group) on a target (a project, a
domain or the system, target id ``system``); an ``inherited`` row gives it on every project
below its target (OS-INHERIT), never on the target itself. A user's effective roles on a scope
are its own rows' and its groups' rows' roles, the inherited ones from above, and every role
these imply (transitively); domain-specific roles only lend what they imply.

``roles_of_user`` is the one answer to "which roles does this user have here" (application
credentials, trusts, OAuth1); tokens ask ``direct_roles`` and keep the ``role_graph`` of what
those imply. ``AssignmentService`` is the grant API
(PUT/HEAD/GET/DELETE of one actor's roles on one target); listing ``/v3/role_assignments``
lives in ``role_assignments``.

Removing a grant, as Keystone with Fernet tokens, writes no revocation event: a token's roles
are recomputed on each validation (``auth.TokenService``, whose per-process caches the identity
revision empties), so its tokens show the roles left, stop validating while no role is left on
their scope, and validate again once one comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from caas.context import AuthContext, Ref
from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import Forbidden, NotFound
from caas.identity import policy
from caas.identity.models import (Assignment, Domain, Group, ImpliedRole, Project, Role, User,
                                  UserGroupMembership)
from caas.identity.revocation import add_revocation, bump_revision
from caas.identity.role_graph import RoleGraph

USER_PROJECT, GROUP_PROJECT = "UserProject", "GroupProject"
USER_DOMAIN, GROUP_DOMAIN = "UserDomain", "GroupDomain"
USER_SYSTEM, GROUP_SYSTEM = "UserSystem", "GroupSystem"
SYSTEM = "system"  # the target id of a system assignment
TYPES = {("user", "project"): USER_PROJECT, ("group", "project"): GROUP_PROJECT,
         ("user", "domain"): USER_DOMAIN, ("group", "domain"): GROUP_DOMAIN,
         ("user", "system"): USER_SYSTEM, ("group", "system"): GROUP_SYSTEM}
USER_TYPES = (USER_PROJECT, USER_DOMAIN, USER_SYSTEM)


@dataclass(frozen=True)
class Grant:
    """One assignment as the grant API names it: ``actor`` is ``user`` or ``group``,
    ``target`` ``project``, ``domain`` or ``system`` (``target_id`` ``system``)."""

    actor: str
    actor_id: str
    target: str
    target_id: str
    role_id: str | None = None
    inherited: bool = False

    @property
    def type(self) -> str:
        return TYPES[(self.actor, self.target)]


# ---- what the rows add up to -----------------------------------------------------------------
_PARENT = select(Project.parent_id).where(Project.id == bindparam("id"))


def project_ancestors(session: Session, project) -> list[str]:
    """The ids of ``project``'s ancestor projects (a Project, or a row with its ``parent_id``),
    nearest first (their inherited assignments reach it); its domain is not among them."""
    found: list[str] = []
    parent_id = project.parent_id
    while parent_id and parent_id not in found:
        found.append(parent_id)
        parent_id = session.scalar(_PARENT, {"id": parent_id})
    return found


def project_subtree(session: Session, project_ids: Iterable[str]) -> list[Project]:
    """Every project below ``project_ids`` (not those themselves), level by level, each level
    by name: where a project's inherited assignments reach."""
    found: list[Project] = []
    frontier = list(project_ids)
    while frontier:
        level = list(session.scalars(select(Project).where(Project.parent_id.in_(frontier)).order_by(Project.name)))
        found += level
        frontier = [p.id for p in level]
    return found


def project_descendants(session: Session, project_ids: Iterable[str]) -> list[str]:
    """The ids of ``project_subtree``."""
    return [p.id for p in project_subtree(session, project_ids)]


def group_ids_of_user(s: Session, user_id: str) -> list[str]:
    return list(s.scalars(select(UserGroupMembership.group_id).where(UserGroupMembership.user_id == user_id)))


def members_of_group(s: Session, group_id: str) -> list[str]:
    return list(s.scalars(select(UserGroupMembership.user_id).where(UserGroupMembership.group_id == group_id)))


def implication_rules(s: Session) -> dict[str, list[str]]:
    """Every implied-role rule: prior role id -> the role ids it implies directly."""
    rules: dict[str, list[str]] = {}
    for prior, implied in s.execute(select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)):
        rules.setdefault(prior, []).append(implied)
    return rules


# The assignment rows that give a user (or a group of its) a role on one scope, built once (the
# groups in a subquery: one round trip). Parameters: user_id, and domain_id, or project_id,
# domain_id (the project's) and ancestors.
_ACTORS = or_(Assignment.actor_id == bindparam("user_id"), Assignment.actor_id.in_(
    select(UserGroupMembership.group_id).where(UserGroupMembership.user_id == bindparam("user_id"))))
_PROJECT_TYPES = Assignment.type.in_((USER_PROJECT, GROUP_PROJECT))
_DOMAIN_TYPES = Assignment.type.in_((USER_DOMAIN, GROUP_DOMAIN))
_ON_SYSTEM = select(Assignment.role_id).where(Assignment.type.in_((USER_SYSTEM, GROUP_SYSTEM)), _ACTORS,
                                              Assignment.target_id == SYSTEM)
_ON_DOMAIN = select(Assignment.role_id).where(_DOMAIN_TYPES, _ACTORS, Assignment.target_id == bindparam("domain_id"),
                                              Assignment.inherited.is_(False))
_ON_PROJECT = select(Assignment.role_id).where(_ACTORS, or_(
    and_(_PROJECT_TYPES, Assignment.target_id == bindparam("project_id"), Assignment.inherited.is_(False)),
    and_(_DOMAIN_TYPES, Assignment.target_id == bindparam("domain_id"), Assignment.inherited.is_(True)),
    and_(_PROJECT_TYPES, Assignment.target_id.in_(bindparam("ancestors", expanding=True)),
         Assignment.inherited.is_(True))))
def direct_roles(s: Session, user_id: str, project=None, domain_id: str | None = None,
                 system: bool = False) -> set[str]:
    """The ids of the roles assigned to ``user_id`` or its groups on one scope: the system, a
    domain, or ``project`` (a Project, or a row with its ``id``, ``domain_id`` and
    ``parent_id``), there with those inherited from its domain and its ancestors."""
    if system:
        stmt, params = _ON_SYSTEM, {}
    elif domain_id:
        stmt, params = _ON_DOMAIN, {"domain_id": domain_id}
    else:
        stmt, params = _ON_PROJECT, {"project_id": project.id, "domain_id": project.domain_id,
                                     "ancestors": project_ancestors(s, project)}
    s.flush()  # what the caller's transaction added counts (a query through the connection skips autoflush)
    return set(s.connection().scalars(stmt, {"user_id": user_id, **params}))


def roles_of_user(s: Session, user_id: str, project_id: str | None = None, domain_id: str | None = None,
                  system: bool = False) -> tuple[Ref, ...]:
    """The user's effective roles on one scope (a project, a domain, or the system), by name:
    direct, through its groups, inherited from the project's domain and ancestors, and implied;
    domain-specific roles left out (they only lend what they imply). () on an unknown project."""
    project = None
    if project_id:
        project = s.get(Project, project_id)
        if project is None:
            return ()
    elif not (domain_id or system):
        return ()
    direct = direct_roles(s, user_id, project, domain_id, system)
    return RoleGraph.load(s).effective(direct) if direct else ()


def _lending_roles(s: Session) -> set[str]:
    """The roles an assignment of which gives a token some role: the global ones, and the
    domain-specific ones that imply a global one (Keystone strips the others from effective
    assignments, so they make no project or domain the user's)."""
    return RoleGraph.load(s).lending()


def projects_of_user(s: Session, user_id: str, enabled_only: bool = True) -> list[Project]:
    """The projects where the user has a role: assigned on the project (to it or a group of
    its), or inherited from the project's domain or from a project above it (a domain-specific
    role implying no global one counts for none, as in Keystone)."""
    actors = and_(Assignment.actor_id.in_([user_id, *group_ids_of_user(s, user_id)]),
                  Assignment.role_id.in_(_lending_roles(s)))
    direct = (select(Assignment.target_id).where(Assignment.type.in_((USER_PROJECT, GROUP_PROJECT)),
                                                 actors, Assignment.inherited.is_(False)))
    from_domain = (select(Assignment.target_id).where(Assignment.type.in_((USER_DOMAIN, GROUP_DOMAIN)),
                                                      actors, Assignment.inherited.is_(True)))
    below = project_descendants(s, s.scalars(select(Assignment.target_id).where(
        Assignment.type.in_((USER_PROJECT, GROUP_PROJECT)), actors, Assignment.inherited.is_(True))))
    stmt = (select(Project).where(or_(Project.id.in_(direct), Project.domain_id.in_(from_domain), Project.id.in_(below)))
            .order_by(Project.name))
    if enabled_only:
        stmt = stmt.join(Domain, Domain.id == Project.domain_id).where(Project.enabled.is_(True),
                                                                      Domain.enabled.is_(True))
    return list(s.scalars(stmt))


def domains_of_user(s: Session, user_id: str) -> list[Domain]:
    """The enabled domains where the user (or a group of its) holds a role on the domain itself
    (a domain-specific role implying no global one counts for none, as in Keystone)."""
    actors = [user_id, *group_ids_of_user(s, user_id)]
    ids = select(Assignment.target_id).where(Assignment.type.in_((USER_DOMAIN, GROUP_DOMAIN)),
                                             Assignment.actor_id.in_(actors), Assignment.inherited.is_(False),
                                             Assignment.role_id.in_(_lending_roles(s)))
    return list(s.scalars(select(Domain).where(Domain.id.in_(ids), Domain.enabled.is_(True)).order_by(Domain.name)))


def has_system_roles(s: Session, user_id: str) -> bool:
    return bool(roles_of_user(s, user_id, system=True))


# ---- forgetting: what goes with a deleted user, group, project, domain or role -----------------
def forget_actor(s: Session, actor_id: str) -> None:
    """Remove the assignments and memberships of a user or group being deleted."""
    s.execute(delete(Assignment).where(Assignment.actor_id == actor_id))
    s.execute(delete(UserGroupMembership).where(or_(UserGroupMembership.user_id == actor_id,
                                                    UserGroupMembership.group_id == actor_id)))


def forget_target(s: Session, target_id: str) -> None:
    """Remove the assignments on a project or domain being deleted."""
    s.execute(delete(Assignment).where(Assignment.target_id == target_id))


def forget_role(s: Session, role_id: str) -> None:
    """Remove the assignments and implication rules of a role being deleted."""
    s.execute(delete(Assignment).where(Assignment.role_id == role_id))
    s.execute(delete(ImpliedRole).where(or_(ImpliedRole.prior_role_id == role_id,
                                            ImpliedRole.implied_role_id == role_id)))


def revoke_for_group(s: Session, group_id: str) -> None:
    """A group is being deleted: the tokens of its members stop working for good if the group
    held any role (as Keystone's ``delete_group``; a group without roles lent none)."""
    if s.scalar(select(Assignment.role_id).where(Assignment.actor_id == group_id).limit(1)) is not None:
        for user_id in members_of_group(s, group_id):
            add_revocation(s, user_id=user_id)
    bump_revision(s)


# ---- the grant API -----------------------------------------------------------------------------
def _get(s: Session, model, id_: str, what: str):
    obj = s.get(model, id_) if id_ else None
    if obj is None:
        raise NotFound(f"Could not find {what}: {id_}.")
    return obj


def _not_found(g: Grant) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {g.role_id}, user or group: {g.actor_id}, "
                    f"project, domain, or system: {g.target_id}.")


class AssignmentService:
    """Grants: one actor's roles on one target. Policy as Keystone's (``identity:*_grant``, the
    system ones ``identity:*_system_grant_for_user|group``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _action(verb: str, g: Grant) -> str:
        grants = "grants" if verb == "list" else "grant"
        if g.target == "system":
            return f"identity:{verb}_system_{grants}_for_{g.actor}"
        return f"identity:{verb}_{grants}"

    def _target(self, s: Session, g: Grant) -> dict:
        """Check that the grant's actor, target and role exist (404 each); the policy target."""
        actor = _get(s, User if g.actor == "user" else Group, g.actor_id, g.actor)
        target: dict = {g.actor: {"id": actor.id, "domain_id": actor.domain_id}}
        if g.target == "project":
            p = _get(s, Project, g.target_id, "project")
            target["project"] = {"id": p.id, "domain_id": p.domain_id}
        elif g.target == "domain":
            target["domain"] = {"id": _get(s, Domain, g.target_id, "domain").id}
        if g.role_id is not None:
            role = _get(s, Role, g.role_id, "role")
            target["role"] = {"id": role.id, "name": role.name, "domain_id": role.domain_id}
        return target

    def _enforce(self, ctx: AuthContext, verb: str, g: Grant) -> None:
        with self.db.read() as s:
            target = self._target(s, g)
        policy.enforce(ctx, self._action(verb, g), target)

    def create(self, ctx: AuthContext, g: Grant) -> None:
        self._enforce(ctx, "create", g)
        with self.db.write() as s:
            target = self._target(s, g)
            role_domain = target["role"]["domain_id"]
            if g.target == "project" and role_domain and role_domain != target["project"]["domain_id"]:
                raise Forbidden(f"Project {g.target_id} must be in the same domain as the role {g.role_id} "
                                "being assigned.")
            if insert_if_absent(s, Assignment, type=g.type, actor_id=g.actor_id, target_id=g.target_id,
                                role_id=g.role_id, inherited=g.inherited):
                bump_revision(s)

    def check(self, ctx: AuthContext, g: Grant) -> None:
        self._enforce(ctx, "check", g)
        with self.db.read() as s:
            if s.get(Assignment, (g.type, g.actor_id, g.target_id, g.role_id, g.inherited)) is None:
                raise _not_found(g)

    def revoke(self, ctx: AuthContext, g: Grant) -> None:
        self._enforce(ctx, "revoke", g)
        with self.db.write() as s:
            row = s.get(Assignment, (g.type, g.actor_id, g.target_id, g.role_id, g.inherited))
            if row is None:
                raise _not_found(g)
            s.delete(row)
            # No revocation, as Keystone: every validation recomputes a token's roles, so the
            # tokens lose the role now, stop working if it was their scope's last one, and work
            # again when a role comes back.
            bump_revision(s)

    def list(self, ctx: AuthContext, g: Grant) -> list[Role]:
        """The roles the grant's actor holds directly on its target (``role_id`` unused)."""
        self._enforce(ctx, "list", g)
        with self.db.read() as s:
            stmt = (select(Role).join(Assignment, Assignment.role_id == Role.id)
                    .where(Assignment.type == g.type, Assignment.target_id == g.target_id,
                           Assignment.actor_id == g.actor_id, Assignment.inherited.is_(g.inherited))
                    .order_by(Role.name))
            return list(s.scalars(stmt))
