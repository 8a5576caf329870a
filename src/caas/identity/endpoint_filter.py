"""OS-EP-FILTER: endpoint groups (the endpoints whose service, region or interface match a
group's ``filters``) and which endpoints a project sees, directly (project ↔ endpoint) or
through groups (project ↔ endpoint group). A project with any of either sees only those
endpoints in its tokens' catalog (``catalog.token_catalog``); every call here is admin's.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.context import AuthContext
from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, NotFound
from caas.identity import policy
from caas.identity.models import Endpoint, EndpointGroup, Project, ProjectEndpoint, ProjectEndpointGroup
from caas.identity.service import _get, bump_revision

FILTER_KEYS = ("service_id", "region_id", "interface")


def check_filters(filters: dict) -> None:
    """400 unless ``filters`` is a non-empty object of Keystone's filter keys only."""
    if not filters:
        raise BadRequest("filters field is required and cannot be empty")
    if set(filters) - set(FILTER_KEYS):
        raise BadRequest("Expecting to find service_id or region_id or interface in endpoint_group. The server "
                         "could not comply with the request since it is either malformed or otherwise incorrect. "
                         "The client is assumed to be in error.")


def group_endpoints(s: Session, group: EndpointGroup) -> list[Endpoint]:
    """The endpoints matching every filter of ``group``."""
    stmt = select(Endpoint)
    for key, value in (group.filters or {}).items():
        stmt = stmt.where(getattr(Endpoint, key) == value)
    return list(s.scalars(stmt.order_by(Endpoint.service_id, Endpoint.interface, Endpoint.id)))


def project_endpoint_ids(s: Session, project_id: str) -> set[str]:
    """The endpoints associated with a project, directly or through its endpoint groups."""
    ids = set(s.scalars(select(ProjectEndpoint.endpoint_id).where(ProjectEndpoint.project_id == project_id)))
    groups = s.scalars(select(EndpointGroup).join(ProjectEndpointGroup,
                                                  ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id)
                       .where(ProjectEndpointGroup.project_id == project_id))
    for group in groups:
        ids |= {ep.id for ep in group_endpoints(s, group)}
    return ids


class EndpointFilterService:
    """Endpoint groups and project endpoint associations (OS-EP-FILTER)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _admin(self, ctx: AuthContext, action: str) -> None:
        policy.enforce(ctx, f"identity:{action}")

    # ---- endpoint groups -----------------------------------------------------------------
    def list_groups(self, ctx: AuthContext, name: str | None = None) -> list[EndpointGroup]:
        self._admin(ctx, "list_endpoint_groups")
        with self.db.read() as s:
            stmt = select(EndpointGroup)
            if name is not None:
                stmt = stmt.where(EndpointGroup.name == name)
            return list(s.scalars(stmt.order_by(EndpointGroup.name, EndpointGroup.id)))

    def get_group(self, ctx: AuthContext, group_id: str) -> EndpointGroup:
        self._admin(ctx, "get_endpoint_group")
        with self.db.read() as s:
            return _get_group(s, group_id)

    def create_group(self, ctx: AuthContext, name: str, filters: dict, description: str | None) -> EndpointGroup:
        self._admin(ctx, "create_endpoint_group")
        check_filters(filters)
        with self.db.write() as s:
            group = EndpointGroup(name=name, filters=filters, description=description)
            s.add(group)
            bump_revision(s)
        return group

    def update_group(self, ctx: AuthContext, group_id: str, changes: dict) -> EndpointGroup:
        self._admin(ctx, "update_endpoint_group")
        if "filters" in changes:
            check_filters(changes["filters"])
        with self.db.write() as s:
            group = _get_group(s, group_id)
            for key in ("name", "filters", "description"):
                if key in changes:
                    setattr(group, key, changes[key])
            bump_revision(s)
        return group

    def delete_group(self, ctx: AuthContext, group_id: str) -> None:
        self._admin(ctx, "delete_endpoint_group")
        with self.db.write() as s:
            _get_group(s, group_id)
            s.execute(delete(EndpointGroup).where(EndpointGroup.id == group_id))
            bump_revision(s)

    def endpoints_in_group(self, ctx: AuthContext, group_id: str) -> list[Endpoint]:
        self._admin(ctx, "list_endpoints_associated_with_endpoint_group")
        with self.db.read() as s:
            return group_endpoints(s, _get_group(s, group_id))

    def projects_of_group(self, ctx: AuthContext, group_id: str) -> list[Project]:
        self._admin(ctx, "list_projects_associated_with_endpoint_group")
        with self.db.read() as s:
            _get_group(s, group_id)
            stmt = (select(Project).join(ProjectEndpointGroup, ProjectEndpointGroup.project_id == Project.id)
                    .where(ProjectEndpointGroup.endpoint_group_id == group_id).order_by(Project.name))
            return list(s.scalars(stmt))

    def groups_of_project(self, ctx: AuthContext, project_id: str) -> list[EndpointGroup]:
        self._admin(ctx, "list_endpoint_groups_for_project")
        with self.db.read() as s:
            _get(s, Project, project_id, "project")
            stmt = (select(EndpointGroup).join(ProjectEndpointGroup,
                                               ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id)
                    .where(ProjectEndpointGroup.project_id == project_id).order_by(EndpointGroup.name))
            return list(s.scalars(stmt))

    def add_group_project(self, ctx: AuthContext, group_id: str, project_id: str) -> None:
        self._admin(ctx, "add_endpoint_group_to_project")
        with self.db.write() as s:
            _get_group(s, group_id)
            _get(s, Project, project_id, "project")
            if insert_if_absent(s, ProjectEndpointGroup, endpoint_group_id=group_id, project_id=project_id):
                bump_revision(s)

    def check_group_project(self, ctx: AuthContext, group_id: str, project_id: str) -> None:
        self._admin(ctx, "get_endpoint_group_in_project")
        with self.db.read() as s:
            _get_group(s, group_id)
            _get(s, Project, project_id, "project")
            if s.get(ProjectEndpointGroup, (group_id, project_id)) is None:
                raise NotFound("Endpoint Group Project Association not found")

    def remove_group_project(self, ctx: AuthContext, group_id: str, project_id: str) -> None:
        self._admin(ctx, "remove_endpoint_group_from_project")
        with self.db.write() as s:
            row = s.get(ProjectEndpointGroup, (group_id, project_id))
            if row is None:
                raise NotFound("Endpoint Group Project Association not found")
            s.delete(row)
            bump_revision(s)

    # ---- project ↔ endpoint --------------------------------------------------------------
    def add_project_endpoint(self, ctx: AuthContext, project_id: str, endpoint_id: str) -> None:
        self._admin(ctx, "add_endpoint_to_project")
        with self.db.write() as s:
            _get(s, Project, project_id, "project")
            _get(s, Endpoint, endpoint_id, "endpoint")
            if insert_if_absent(s, ProjectEndpoint, project_id=project_id, endpoint_id=endpoint_id):
                bump_revision(s)

    def check_project_endpoint(self, ctx: AuthContext, project_id: str, endpoint_id: str) -> None:
        self._admin(ctx, "check_endpoint_in_project")
        with self.db.read() as s:
            _get(s, Project, project_id, "project")
            _get(s, Endpoint, endpoint_id, "endpoint")
            if s.get(ProjectEndpoint, (project_id, endpoint_id)) is None:
                raise NotFound(f"Endpoint {endpoint_id} not found in project {project_id}")

    def remove_project_endpoint(self, ctx: AuthContext, project_id: str, endpoint_id: str) -> None:
        self._admin(ctx, "remove_endpoint_from_project")
        with self.db.write() as s:
            row = s.get(ProjectEndpoint, (project_id, endpoint_id))
            if row is None:
                raise NotFound(f"Endpoint {endpoint_id} not found in project {project_id}")
            s.delete(row)
            bump_revision(s)

    def endpoints_of_project(self, ctx: AuthContext, project_id: str) -> list[Endpoint]:
        self._admin(ctx, "list_endpoints_for_project")
        with self.db.read() as s:
            _get(s, Project, project_id, "project")
            ids = project_endpoint_ids(s, project_id)
            stmt = select(Endpoint).where(Endpoint.id.in_(ids))
            return list(s.scalars(stmt.order_by(Endpoint.service_id, Endpoint.interface, Endpoint.id)))

    def projects_of_endpoint(self, ctx: AuthContext, endpoint_id: str) -> list[Project]:
        self._admin(ctx, "list_projects_for_endpoint")
        with self.db.read() as s:
            _get(s, Endpoint, endpoint_id, "endpoint")
            stmt = (select(Project).join(ProjectEndpoint, ProjectEndpoint.project_id == Project.id)
                    .where(ProjectEndpoint.endpoint_id == endpoint_id).order_by(Project.name))
            return list(s.scalars(stmt))


def _get_group(s: Session, group_id: str) -> EndpointGroup:
    group = s.get(EndpointGroup, group_id)
    if group is None:
        raise NotFound(f"Could not find Endpoint Group: {group_id}.")
    return group
