"""``GET /v3/role_assignments``: the assignment rows as they are, or, with ``effective``, what
they give each user (as Keystone's assignment manager computes it): a group's rows become one
per member (``indirect.group_id``), an inherited domain row one per project of the domain
(``indirect.domain_id``), an inherited project row one per project below it
(``indirect.project_id``), and every role brings the roles it implies (``indirect.role_id``, the
role that implied it); domain-specific roles drop out; system rows are not listed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.context import AuthContext
from caas.db import Database
from caas.errors import BadRequest
from caas.identity import policy
from caas.identity.assignments import (GROUP_DOMAIN, GROUP_PROJECT, SYSTEM, USER_TYPES, group_ids_of_user,
                                       implication_rules, members_of_group, project_descendants)
from caas.identity.models import Assignment, Domain, Group, Project, Role, User


@dataclass(frozen=True)
class Query:
    """The filters of one listing (the query string's, parsed)."""

    user_id: str | None = None
    group_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool | None = None  # scope.OS-INHERIT:inherited_to: None both, True only, False none
    effective: bool = False
    include_subtree: bool = False

    def check(self) -> None:
        """400 for the combinations Keystone refuses."""
        pairs = ((self.domain_id, self.project_id, "Specify a domain or project, not both"),
                 (self.system, self.domain_id, "Specify system or domain, not both"),
                 (self.system, self.project_id, "Specify system or project, not both"),
                 (self.user_id, self.group_id, "Specify a user or group, not both"))
        for a, b, msg in pairs:
            if a and b:
                raise BadRequest(msg)
        if self.effective and self.group_id:
            raise BadRequest("Combining effective and group filter will always result in an empty list.")
        if self.effective and self.inherited and self.domain_id:
            raise BadRequest("Combining effective, domain and inherited filters will always result in an "
                             "empty list.")
        if self.include_subtree and not self.project_id:
            raise BadRequest("scope.project.id must be specified if include_subtree is also specified")


@dataclass(frozen=True)
class Ref:
    """One listed assignment: its role, actor (user or group) and target (project, domain or
    ``system``), whether it is inherited, and where an effective one came from."""

    role_id: str
    actor: str  # user | group
    actor_id: str
    target: str  # project | domain | system
    target_id: str
    inherited: bool = False
    indirect: dict = field(default_factory=dict, hash=False, compare=False)


def _ref(a: Assignment) -> Ref:
    target = "system" if a.target_id == SYSTEM and a.type.endswith("System") else a.type.removeprefix(
        "User").removeprefix("Group").lower()
    return Ref(a.role_id, "user" if a.type in USER_TYPES else "group", a.actor_id, target, a.target_id, a.inherited)


def _direct(s: Session, q: Query) -> list[Ref]:
    stmt = select(Assignment)
    if q.role_id:
        stmt = stmt.where(Assignment.role_id == q.role_id)
    if q.user_id:
        stmt = stmt.where(Assignment.actor_id == q.user_id, Assignment.type.in_(USER_TYPES))
    if q.group_id:
        stmt = stmt.where(Assignment.actor_id == q.group_id, Assignment.type.notin_(USER_TYPES))
    if q.inherited is not None:
        stmt = stmt.where(Assignment.inherited.is_(q.inherited))
    refs = [_ref(a) for a in s.scalars(stmt)]
    if q.system:
        return [r for r in refs if r.target == "system"]
    if q.project_id:
        return [r for r in refs if r.target == "project" and r.target_id in _projects(s, q)]
    if q.domain_id:
        return [r for r in refs if r.target == "domain" and r.target_id == q.domain_id]
    return refs


def _projects(s: Session, q: Query) -> set[str]:
    """The projects a ``scope.project.id`` query asks about: that one, and with
    ``include_subtree`` the projects below it."""
    return {q.project_id, *(project_descendants(s, [q.project_id]) if q.include_subtree else ())}


def _expand_actor(s: Session, ref: Ref, user_id: str | None) -> list[Ref]:
    if ref.actor == "user":
        return [ref]
    users = [user_id] if user_id else members_of_group(s, ref.actor_id)
    return [replace(ref, actor="user", actor_id=u, indirect={**ref.indirect, "group_id": ref.actor_id})
            for u in users]


def _expand_inherited(s: Session, ref: Ref) -> list[Ref]:
    if not ref.inherited:
        return [ref]
    if ref.target == "project":  # the projects below it, not itself
        return [replace(ref, target_id=p, inherited=False, indirect={**ref.indirect, "project_id": ref.target_id})
                for p in project_descendants(s, [ref.target_id])]
    projects = s.scalars(select(Project.id).where(Project.domain_id == ref.target_id))
    return [replace(ref, target="project", target_id=p, inherited=False,
                    indirect={**ref.indirect, "domain_id": ref.target_id}) for p in projects]


def _add_implied(s: Session, refs: list[Ref]) -> list[Ref]:
    """Each ref, and a copy for every role its role implies (transitively), as Keystone's
    ``add_implied_roles`` (a cycle stops where it comes back)."""
    rules = implication_rules(s)
    out, todo, seen = list(refs), list(refs), set()
    while todo:
        ref = todo.pop()
        for implied in rules.get(ref.role_id, ()):
            copy = replace(ref, role_id=implied, indirect={**ref.indirect, "role_id": ref.role_id})
            key = (copy, tuple(sorted(copy.indirect.items())))
            if key not in seen:
                seen.add(key)
                out.append(copy)
                todo.append(copy)
    return out


def _effective(s: Session, q: Query) -> list[Ref]:
    actors = None
    if q.user_id:
        actors = [q.user_id, *group_ids_of_user(s, q.user_id)]
    stmt = select(Assignment).where(Assignment.target_id != SYSTEM)
    if actors is not None:
        stmt = stmt.where(Assignment.actor_id.in_(actors))
    refs: list[Ref] = []
    for row in s.scalars(stmt):
        ref = _ref(row)
        if ref.actor == "user" and q.user_id and ref.actor_id != q.user_id:
            continue
        if ref.actor == "group" and row.type not in (GROUP_PROJECT, GROUP_DOMAIN):
            continue
        if q.domain_id and ref.inherited:
            continue
        for expanded in _expand_actor(s, ref, q.user_id):
            refs += _expand_inherited(s, expanded)
    if q.project_id:
        wanted = _projects(s, q)
        refs = [r for r in refs if r.target == "project" and r.target_id in wanted]
    if q.domain_id:
        refs = [r for r in refs if r.target == "domain" and r.target_id == q.domain_id]
    refs = _add_implied(s, refs)
    global_roles = set(s.scalars(select(Role.id).where(Role.domain_id.is_(None))))
    return [r for r in refs if r.role_id in global_roles and (not q.role_id or r.role_id == q.role_id)]


def _in_domain(s: Session, refs: Iterable[Ref], domain_id: str) -> list[Ref]:
    """The refs on ``domain_id`` or on one of its projects (a domain-scoped caller's view)."""
    projects = set(s.scalars(select(Project.id).where(Project.domain_id == domain_id)))
    return [r for r in refs if (r.target == "domain" and r.target_id == domain_id)
            or (r.target == "project" and r.target_id in projects)]


class RoleAssignmentService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, ctx: AuthContext, q: Query) -> list[Ref]:
        action = "identity:list_role_assignments_for_tree" if q.include_subtree else "identity:list_role_assignments"
        policy.enforce(ctx, action, {"domain_id": ctx.domain_id, "user_id": q.user_id})
        q.check()
        with self.db.read() as s:
            refs = _effective(s, q) if q.effective else _direct(s, q)
            if ctx.domain_id:  # as Keystone: a domain-scoped caller sees its domain's only
                refs = _in_domain(s, refs, ctx.domain_id)
        return sorted(refs, key=lambda r: (r.actor, r.actor_id, r.target, r.target_id, r.role_id))

    def names(self, refs: list[Ref]) -> dict[str, tuple[str, dict | None]]:
        """For include_names: each id the refs name -> (its name, its domain as {id, name} or
        None for a domain and a global role)."""
        out: dict[str, tuple[str, dict | None]] = {}
        with self.db.read() as s:
            domains = {d.id: d.name for d in s.scalars(select(Domain))}

            def owned(obj) -> tuple[str, dict | None]:
                dom = getattr(obj, "domain_id", None)
                return obj.name, ({"id": dom, "name": domains.get(dom, "")} if dom else None)
            for model, ids in ((Role, {r.role_id for r in refs}),
                               (User, {r.actor_id for r in refs if r.actor == "user"}),
                               (Group, {r.actor_id for r in refs if r.actor == "group"}),
                               (Project, {r.target_id for r in refs if r.target == "project"})):
                for obj in s.scalars(select(model).where(model.id.in_(ids))):
                    out[obj.id] = owned(obj)
            for ref in refs:
                if ref.target == "domain":
                    out[ref.target_id] = (domains.get(ref.target_id, ""), None)
        return out
