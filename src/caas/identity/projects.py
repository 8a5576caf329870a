"""Projects as Keystone keeps them: a tree under each domain (``parent_id``; a project directly
under its domain has none and shows the domain as its parent), at most ``MAX_DEPTH`` deep, with
Keystone's cascade rules (no deleting a project with children, no disabling one with enabled
projects below, no enabling or creating one under a disabled project), and tags.

A project created with ``is_domain`` is a domain (Keystone's domains are projects acting as
domains): it is made, shown, changed and deleted through the domain calls of
``IdentityService``, and a project call naming a domain's id reaches that domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, not_, or_, select, update
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.context import AuthContext
from caas.db import Database
from caas.errors import BadRequest, Conflict, Forbidden, NotFound
from caas.identity import assignments, delegation_cleanup, policy
from caas.identity.credentials import forget_owners
from caas.identity.models import Domain, Project, ProjectTag, User
from caas.identity.service import DEFAULT_DOMAIN_ID, IdentityService, _get, bump_revision

MAX_DEPTH = 5  # Keystone's max_project_tree_depth
MAX_TAGS = 80


@dataclass(frozen=True)
class NewProject:
    name: str
    domain_id: str | None = None
    parent_id: str | None = None
    description: str = ""
    enabled: bool = True
    is_domain: bool = False
    tags: list[str] = field(default_factory=list)


def project_ancestors(session: Session, project_id: str) -> list[str]:
    """The ids of a project's ancestors, from its parent up to the top project (its domain is
    not included); [] for a project directly under its domain or an unknown id."""
    project = session.get(Project, project_id)
    return assignments.project_ancestors(session, project) if project is not None else []


def project_subtree(session: Session, project_id: str) -> list[Project]:
    """Every project below ``project_id``, level by level (children first)."""
    return assignments.project_subtree(session, [project_id])


def nested_ids(session: Session, project_id: str) -> dict | None:
    """``subtree_as_ids``: {child: {grandchild: None, ...}, ...}; None for a leaf."""
    children = list(session.scalars(select(Project.id).where(Project.parent_id == project_id)))
    return {c: nested_ids(session, c) for c in children} or None


def nested_parent_ids(session: Session, project: Project) -> dict | None:
    """``parents_as_ids``: {parent: {grandparent: {... {domain: None}}}}; None at a domain."""
    ancestors = project_ancestors(session, project.id) + [project.domain_id]
    tree: dict | None = None
    for ancestor in reversed(ancestors):
        tree = {ancestor: tree}
    return tree


def tag_filter(stmt, filters: dict):
    """Keystone's tag filters on a project query: ``tags`` (all of), ``tags-any`` (one of),
    ``not-tags`` (not all of), ``not-tags-any`` (none of); each a comma-separated list."""
    def has(tag: str):
        return exists().where(and_(ProjectTag.project_id == Project.id, ProjectTag.name == tag))

    for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
        if filters.get(key):
            conds = [has(t) for t in filters[key].split(",")]
            combined = or_(*conds) if key.endswith("-any") else and_(*conds)
            stmt = stmt.where(not_(combined) if key.startswith("not-") else combined)
    return stmt


class ProjectService:
    """Identity v3's project calls (hierarchy and tags included)."""

    def __init__(self, db: Database, settings: Settings, identity: IdentityService) -> None:
        self.db = db
        self.settings = settings
        self.identity = identity

    def _target(self, project_id: str) -> dict:
        """A project as a policy target: its id and its domain's (the domain itself for a
        project acting as a domain; None for an unknown id, whose 404 comes after policy)."""
        with self.db.read() as s:
            domain_id = s.scalar(select(Project.domain_id).where(Project.id == project_id))
            if domain_id is None and s.get(Domain, project_id) is not None:
                domain_id = project_id
        return {"project_id": project_id, "domain_id": domain_id}

    # ---- reads ---------------------------------------------------------------------------
    def list_projects(self, ctx: AuthContext, filters: dict) -> list[Project | Domain]:
        policy.enforce(ctx, "identity:list_projects", {"domain_id": filters.get("domain_id") or ctx.domain_id})
        if ctx.domain_id:  # a domain-scoped token lists its own domain's, as Keystone
            filters = {**filters, "domain_id": ctx.domain_id}
        if filters.get("is_domain"):
            return self.identity.list_domains(ctx, {k: filters[k] for k in ("name", "enabled") if k in filters})
        with self.db.read() as s:
            stmt = select(Project)
            for key in ("name", "domain_id", "enabled"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(Project, key) == filters[key])
            parent = filters.get("parent_id")
            if parent is not None:
                stmt = stmt.where((Project.parent_id == parent) |
                                  (Project.parent_id.is_(None) & (Project.domain_id == parent)))
            return list(s.scalars(tag_filter(stmt, filters).order_by(Project.name)))

    def get_project(self, ctx: AuthContext, project_id: str) -> Project | Domain:
        """A project, or the domain of that id (a project acting as a domain)."""
        policy.enforce(ctx, "identity:get_project", self._target(project_id))
        with self.db.read() as s:
            found = s.get(Project, project_id) or s.get(Domain, project_id)
            if found is None:
                raise NotFound(f"Could not find project: {project_id}.")
            return found

    def hierarchy(self, ctx: AuthContext, project_id: str, subtree: str | None, parents: str | None) -> dict:
        """What ``subtree_as_list``/``_as_ids`` and ``parents_as_list``/``_as_ids`` add to a
        project: the lists hold only the projects the caller has a role on, as Keystone's."""
        out: dict = {}
        with self.db.read() as s:
            project = _get(s, Project, project_id, "project")
            mine = {p.id for p in assignments.projects_of_user(s, ctx.user_id, enabled_only=False)}
            if subtree == "list":
                out["subtree"] = [p for p in project_subtree(s, project_id) if p.id in mine]
            elif subtree == "ids":
                out["subtree"] = nested_ids(s, project_id)
            if parents == "list":
                out["parents"] = [s.get(Project, i) for i in project_ancestors(s, project_id) if i in mine]
            elif parents == "ids":
                out["parents"] = nested_parent_ids(s, project)
        return out

    # ---- writes --------------------------------------------------------------------------
    def create_project(self, ctx: AuthContext, req: NewProject) -> Project | Domain:
        policy.enforce(ctx, "identity:create_project", {"domain_id": req.domain_id or ctx.domain_id})
        if req.is_domain:
            return self.identity.create_domain(ctx, req.name, req.description, req.enabled)
        with self.db.write() as s:
            domain_id, parent_id = self._placement(s, ctx, req)
            if s.scalar(select(Project.id).where(Project.domain_id == domain_id, Project.name == req.name)):
                raise Conflict(f"Conflict occurred attempting to store project - it is not permitted to have "
                               f"two projects with the same name in the same domain : {req.name}.")
            project = Project(name=req.name, domain_id=domain_id, parent_id=parent_id, description=req.description,
                              enabled=req.enabled, tag_rows=[ProjectTag(name=t) for t in req.tags])
            s.add(project)
            bump_revision(s)
        return project

    @staticmethod
    def _placement(s: Session, ctx: AuthContext, req: NewProject) -> tuple[str, str | None]:
        """The new project's domain and parent project (None: directly under the domain), with
        Keystone's checks and answers. As Keystone, a request without ``domain_id`` names the
        caller's domain, also when it names a parent."""
        domain_id = req.domain_id or (ctx.user_domain.id if ctx.user_domain else DEFAULT_DOMAIN_ID)
        if not req.parent_id:
            if s.get(Domain, domain_id) is None:
                raise BadRequest(f"Could not find domain: {domain_id}.")
            return domain_id, None
        parent = s.get(Project, req.parent_id)
        if parent is None:
            if s.get(Domain, req.parent_id) is None:
                raise BadRequest(f"Could not find project: {req.parent_id}.")
            if domain_id != req.parent_id:
                raise BadRequest(f"Cannot create project, the parent ({req.parent_id}) is acting as a domain, "
                                 f"but this project's domain id ({domain_id}) does not match the parent's id.")
            return domain_id, None
        if domain_id != parent.domain_id:
            raise BadRequest(f"Cannot create project, since it specifies its domain_id {domain_id}, but "
                             f"specifies a parent in a different domain ({parent.domain_id}).")
        branch = [parent.id] + project_ancestors(s, parent.id)
        if len(branch) + 1 > MAX_DEPTH:
            raise Forbidden(f"Max hierarchy depth reached for {parent.id} branch.")
        for pid in branch:
            if not s.get(Project, pid).enabled:
                raise BadRequest(f"cannot create a project in a branch containing a disabled project: {pid}")
        return parent.domain_id, parent.id

    def update_project(self, ctx: AuthContext, project_id: str, changes: dict) -> Project | Domain:
        policy.enforce(ctx, "identity:update_project", self._target(project_id))
        with self.db.read() as s:
            acting_domain = s.get(Project, project_id) is None and s.get(Domain, project_id) is not None
        if acting_domain:
            return self.identity.update_domain(ctx, project_id, {k: v for k, v in changes.items()
                                                                 if k in ("name", "description", "enabled")})
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            self._check_update(s, project, changes)
            for key in ("name", "enabled"):
                if key in changes:
                    setattr(project, key, changes[key])
            if "description" in changes:
                project.description = changes["description"] or ""
            if "tags" in changes:
                project.tag_rows = [ProjectTag(name=t) for t in changes["tags"]]
            bump_revision(s)
        return project

    @staticmethod
    def _check_update(s: Session, project: Project, changes: dict) -> None:
        """Keystone's refusals of a project update (fixed attributes, names, the cascade rules)."""
        if "domain_id" in changes and changes["domain_id"] != project.domain_id:
            raise BadRequest("Update of `domain_id` is not allowed.")
        if "parent_id" in changes and changes["parent_id"] != (project.parent_id or project.domain_id):
            raise Forbidden("Update of `parent_id` is not allowed.")
        if "is_domain" in changes and changes["is_domain"] is not False:
            raise BadRequest("Update of `is_domain` is not allowed.")
        if "name" in changes and changes["name"] != project.name:
            if s.scalar(select(Project.id).where(Project.domain_id == project.domain_id,
                                                 Project.name == changes["name"])):
                raise Conflict(f"Duplicate entry: a project named {changes['name']} exists in this domain.")
        if changes.get("enabled") is False and project.enabled:
            if any(p.enabled for p in project_subtree(s, project.id)):
                raise Forbidden(f"Cannot disable project {project.id} since its subtree contains enabled projects.")
        if changes.get("enabled") is True and not project.enabled:
            if any(not s.get(Project, pid).enabled for pid in project_ancestors(s, project.id)):
                raise Forbidden(f"Cannot enable project {project.id} since it has disabled parents")

    def delete_project(self, ctx: AuthContext, project_id: str) -> None:
        policy.enforce(ctx, "identity:delete_project", self._target(project_id))
        with self.db.read() as s:
            acting_domain = s.get(Project, project_id) is None and s.get(Domain, project_id) is not None
        if acting_domain:
            return self.identity.delete_domain(ctx, project_id)
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            if s.scalar(select(Project.id).where(Project.parent_id == project.id).limit(1)):
                raise Forbidden(f"Cannot delete the project {project.id} since it is not a leaf in the hierarchy. "
                                f"Use the cascade option if you want to delete a whole subtree.")
            assignments.forget_target(s, project.id)
            s.execute(update(User).where(User.default_project_id == project.id).values(default_project_id=None))
            forget_owners(s, project_ids=[project.id])
            delegation_cleanup.forget_projects(s, [project.id])
            s.delete(project)
            bump_revision(s)

    # ---- tags ----------------------------------------------------------------------------
    def list_tags(self, ctx: AuthContext, project_id: str) -> list[str]:
        policy.enforce(ctx, "identity:list_project_tags", self._target(project_id))
        with self.db.read() as s:
            return _get(s, Project, project_id, "project").tags

    def check_tag(self, ctx: AuthContext, project_id: str, tag: str) -> None:
        policy.enforce(ctx, "identity:get_project_tag", self._target(project_id))
        with self.db.read() as s:
            if tag not in _get(s, Project, project_id, "project").tags:
                raise NotFound(f"Could not find project tag: {tag}.")

    def replace_tags(self, ctx: AuthContext, project_id: str, tags: list[str]) -> list[str]:
        policy.enforce(ctx, "identity:update_project_tags", self._target(project_id))
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            project.tag_rows = [ProjectTag(name=t) for t in tags]
            bump_revision(s)
            return list(tags)

    def add_tag(self, ctx: AuthContext, project_id: str, tag: str) -> None:
        """Add one tag; 400 when the project has it already or has ``MAX_TAGS``, as Keystone."""
        policy.enforce(ctx, "identity:create_project_tag", self._target(project_id))
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            if tag in project.tags:
                raise BadRequest(f"{project.tags + [tag]} has non-unique elements")
            if len(project.tags) >= MAX_TAGS:
                raise BadRequest(f"A project has at most {MAX_TAGS} tags.")
            project.tag_rows.append(ProjectTag(name=tag))
            bump_revision(s)

    def delete_tag(self, ctx: AuthContext, project_id: str, tag: str | None) -> None:
        """Remove one tag (404 when absent), or every tag when ``tag`` is None."""
        policy.enforce(ctx, "identity:delete_project_tag" if tag else "identity:delete_project_tags",
                       self._target(project_id))
        with self.db.write() as s:
            project = _get(s, Project, project_id, "project")
            if tag is not None and tag not in project.tags:
                raise NotFound(f"Could not find project tag: {tag}.")
            project.tag_rows = [t for t in project.tag_rows if tag is not None and t.name != tag]
            bump_revision(s)
