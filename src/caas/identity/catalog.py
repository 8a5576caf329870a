"""The service catalog: regions (a tree), services and endpoints, written as Keystone writes
them, and the catalog a token carries (``token_catalog``). Every write checks policy and bumps
the identity revision, so the catalogs cached by token validation are rebuilt.

Attributes Keystone keeps as given (a service's or an endpoint's unknown keys) live in each
row's ``extra`` and come back in its body. caas's own entries (``Service.caas_key``,
``Endpoint.caas_managed``) are re-pointed by ``bootstrap.sync_catalog`` at every start and are
otherwise ordinary rows: an operator may change or delete them like any other.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.context import AuthContext
from caas.db import Database
from caas.db.base import new_id
from caas.errors import BadRequest, Conflict, Forbidden
from caas.identity import policy
from caas.identity.endpoint_filter import project_endpoint_ids
from caas.identity.models import Endpoint, Region, Service
from caas.identity.service import _get, bump_revision

INTERFACES = ("admin", "internal", "public")
# The names an endpoint URL may substitute ($(name)s or %(name)s), as Keystone's whitelist.
URL_SUBSTITUTIONS = ("tenant_id", "project_id", "user_id", "public_bind_host", "admin_bind_host",
                     "compute_host", "admin_port", "public_port", "public_endpoint", "admin_endpoint")
URL_PATTERN = re.compile(r"^[a-zA-Z0-9+.-]+:.+")
NOT_IN_TABLE = ("Expecting to find endpoint {0} in {1} table. The server could not comply with the request since "
                "it is either malformed or otherwise incorrect. The client is assumed to be in error.")


def check_url(url: str) -> None:
    """400 unless ``url`` is a URL whose substitutions are all Keystone's known names."""
    if not URL_PATTERN.match(url):
        raise BadRequest(f"Invalid input for field/attribute url. Value: {url}. '{url}' does not match "
                         f"'^[a-zA-Z0-9+.-]+:.+'")
    try:
        url.replace("$(", "%(") % dict(zip(URL_SUBSTITUTIONS, itertools.repeat("")))
    except (KeyError, TypeError, ValueError):
        raise BadRequest(f"Cannot create an endpoint with an invalid URL: {url}.") from None


def format_url(url: str, values: dict[str, str]) -> str | None:
    """``url`` with its substitutions filled from ``values``; None when it names one that
    ``values`` lacks (a project's endpoint in a token without a project: left out)."""
    try:
        return url.replace("$(", "%(") % values
    except (KeyError, TypeError, ValueError):
        return None


def region_subtree(s: Session, region_id: str) -> list[str]:
    """``region_id`` and the ids of every region below it."""
    found, frontier = [region_id], [region_id]
    while frontier:
        frontier = list(s.scalars(select(Region.id).where(Region.parent_region_id.in_(frontier))))
        found += frontier
    return found


class CatalogService:
    """Regions, services and endpoints (Identity v3's catalog calls)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # ---- regions -------------------------------------------------------------------------
    def list_regions(self, ctx: AuthContext, filters: dict) -> list[Region]:
        policy.enforce(ctx, "identity:list_regions")
        with self.db.read() as s:
            stmt = select(Region)
            if filters.get("parent_region_id") is not None:
                stmt = stmt.where(Region.parent_region_id == filters["parent_region_id"])
            return list(s.scalars(stmt.order_by(Region.id)))

    def get_region(self, ctx: AuthContext, region_id: str) -> Region:
        policy.enforce(ctx, "identity:get_region")
        with self.db.read() as s:
            return _get(s, Region, region_id, "region")

    def create_region(self, ctx: AuthContext, fields: dict, extra: dict, region_id: str | None = None) -> Region:
        """A new region (``region_id`` chosen by PUT, else the body's ``id``, else a new one);
        409 when the id is taken, 404 for an unknown parent."""
        policy.enforce(ctx, "identity:create_region")
        if region_id and fields.get("id") and fields["id"] != region_id:
            raise BadRequest(f'Conflicting region IDs specified: "{region_id}" != "{fields["id"]}"')
        region_id = region_id or fields.get("id") or new_id()
        with self.db.write() as s:
            if s.get(Region, region_id) is not None:
                raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")
            parent = fields.get("parent_region_id")
            if parent:
                _get(s, Region, parent, "region")
            region = Region(id=region_id, description=fields.get("description") or "", parent_region_id=parent,
                            extra=extra)
            s.add(region)
            bump_revision(s)
        return region

    def update_region(self, ctx: AuthContext, region_id: str, changes: dict, extra: dict) -> Region:
        """Change a region; 400 when its new parent would make a cycle."""
        policy.enforce(ctx, "identity:update_region")
        if "id" in changes:
            raise BadRequest("Cannot change ID")
        with self.db.write() as s:
            region = _get(s, Region, region_id, "region")
            parent = changes.get("parent_region_id")
            if parent:
                _get(s, Region, parent, "region")
                if parent in region_subtree(s, region_id):
                    raise BadRequest(f"The specified parent region {region_id} would create a circular region "
                                     f"hierarchy.")
            if "parent_region_id" in changes:
                region.parent_region_id = parent
            if "description" in changes:
                region.description = changes["description"] or ""
            region.extra = {**(region.extra or {}), **extra}
            bump_revision(s)
        return region

    def delete_region(self, ctx: AuthContext, region_id: str) -> None:
        """Delete a region and every region below it, as Keystone does; 403 while any of them
        has an endpoint."""
        policy.enforce(ctx, "identity:delete_region")
        with self.db.write() as s:
            _get(s, Region, region_id, "region")
            subtree = region_subtree(s, region_id)
            if s.scalar(select(Endpoint.id).where(Endpoint.region_id.in_(subtree)).limit(1)):
                raise Forbidden(f"Unable to delete region {region_id} because it or its child regions have "
                                f"associated endpoints.")
            for rid in reversed(subtree):  # leaves first: each row's parent still exists
                s.execute(delete(Region).where(Region.id == rid))
            bump_revision(s)

    # ---- services ------------------------------------------------------------------------
    def list_services(self, ctx: AuthContext, filters: dict) -> list[Service]:
        policy.enforce(ctx, "identity:list_services")
        with self.db.read() as s:
            stmt = select(Service)
            for key in ("type", "name"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(Service, key) == filters[key])
            return list(s.scalars(stmt.order_by(Service.type, Service.id)))

    def get_service(self, ctx: AuthContext, service_id: str) -> Service:
        policy.enforce(ctx, "identity:get_service")
        with self.db.read() as s:
            return _get(s, Service, service_id, "service")

    def create_service(self, ctx: AuthContext, fields: dict, extra: dict) -> Service:
        policy.enforce(ctx, "identity:create_service")
        with self.db.write() as s:
            service = Service(type=fields["type"], name=fields.get("name") or "",
                              description=fields.get("description"), enabled=fields.get("enabled", True),
                              extra=extra)
            s.add(service)
            bump_revision(s)
        return service

    def update_service(self, ctx: AuthContext, service_id: str, changes: dict, extra: dict) -> Service:
        policy.enforce(ctx, "identity:update_service")
        if "id" in changes:
            raise BadRequest("Cannot change ID")
        with self.db.write() as s:
            service = _get(s, Service, service_id, "service")
            for key in ("type", "name", "description", "enabled"):
                if key in changes:
                    setattr(service, key, changes[key] if key != "name" else changes[key] or "")
            service.extra = {**(service.extra or {}), **extra}
            bump_revision(s)
        return service

    def delete_service(self, ctx: AuthContext, service_id: str) -> None:
        """Delete a service and its endpoints (Keystone does both)."""
        policy.enforce(ctx, "identity:delete_service")
        with self.db.write() as s:
            _get(s, Service, service_id, "service")
            s.execute(delete(Endpoint).where(Endpoint.service_id == service_id))
            s.execute(delete(Service).where(Service.id == service_id))
            bump_revision(s)

    # ---- endpoints -----------------------------------------------------------------------
    def list_endpoints(self, ctx: AuthContext, filters: dict) -> list[Endpoint]:
        policy.enforce(ctx, "identity:list_endpoints")
        with self.db.read() as s:
            stmt = select(Endpoint)
            for key in ("interface", "service_id", "region_id"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(Endpoint, key) == filters[key])
            return list(s.scalars(stmt.order_by(Endpoint.service_id, Endpoint.interface, Endpoint.id)))

    def get_endpoint(self, ctx: AuthContext, endpoint_id: str) -> Endpoint:
        policy.enforce(ctx, "identity:get_endpoint")
        with self.db.read() as s:
            return _get(s, Endpoint, endpoint_id, "endpoint")

    @staticmethod
    def _check_refs(s: Session, fields: dict) -> None:
        """400 (Keystone's words) when the endpoint names a service or a region that is not there."""
        if "service_id" in fields and s.get(Service, fields["service_id"]) is None:
            raise BadRequest(NOT_IN_TABLE.format("service_id", "service"))
        if fields.get("region_id") and s.get(Region, fields["region_id"]) is None:
            raise BadRequest(NOT_IN_TABLE.format("region_id", "region"))

    def create_endpoint(self, ctx: AuthContext, fields: dict, extra: dict) -> Endpoint:
        """A new endpoint; ``fields``: service_id, interface, url, region_id (or None), enabled."""
        policy.enforce(ctx, "identity:create_endpoint")
        check_url(fields["url"])
        with self.db.write() as s:
            self._check_refs(s, fields)
            endpoint = Endpoint(service_id=fields["service_id"], interface=fields["interface"], url=fields["url"],
                                region_id=fields.get("region_id"), enabled=fields.get("enabled", True), extra=extra)
            s.add(endpoint)
            bump_revision(s)
        return endpoint

    def update_endpoint(self, ctx: AuthContext, endpoint_id: str, changes: dict, extra: dict) -> Endpoint:
        policy.enforce(ctx, "identity:update_endpoint")
        if "id" in changes:
            raise BadRequest("Cannot change ID")
        if changes.get("url") is not None:
            check_url(changes["url"])
        with self.db.write() as s:
            endpoint = _get(s, Endpoint, endpoint_id, "endpoint")
            self._check_refs(s, changes)
            for key in ("service_id", "interface", "url", "region_id", "enabled"):
                if key in changes:
                    setattr(endpoint, key, changes[key])
            endpoint.extra = {**(endpoint.extra or {}), **extra}
            bump_revision(s)
        return endpoint

    def delete_endpoint(self, ctx: AuthContext, endpoint_id: str) -> None:
        policy.enforce(ctx, "identity:delete_endpoint")
        with self.db.write() as s:
            _get(s, Endpoint, endpoint_id, "endpoint")
            s.execute(delete(Endpoint).where(Endpoint.id == endpoint_id))
            bump_revision(s)


def token_catalog(s: Session, project_id: str | None, user_id: str) -> list[dict[str, Any]]:
    """The catalog of a token, as Keystone builds it: enabled services with their enabled
    endpoints, URLs filled with the token's project and user (an endpoint whose URL needs a
    project is left out of a token without one). A project with endpoint filters (OS-EP-FILTER:
    endpoints or endpoint groups associated with it) sees only those endpoints, and only the
    services they belong to; a project without any sees the whole catalog."""
    values = {"user_id": user_id}
    if project_id:
        values.update(project_id=project_id, tenant_id=project_id)
    only = project_endpoint_ids(s, project_id) if project_id else set()
    services = list(s.scalars(select(Service).where(Service.enabled.is_(True)).order_by(Service.type, Service.id)))
    endpoints = list(s.scalars(select(Endpoint).where(Endpoint.enabled.is_(True))
                               .order_by(Endpoint.interface, Endpoint.id)))
    result = []
    for svc in services:
        eps = []
        for ep in endpoints:
            if ep.service_id != svc.id or (only and ep.id not in only):
                continue
            url = format_url(ep.url, values)
            if url is not None:
                eps.append({**(ep.extra or {}), "id": ep.id, "interface": ep.interface, "region_id": ep.region_id, "url": url,
                            "region": ep.region_id})
        if eps or not only:
            result.append({"endpoints": eps, "id": svc.id, "type": svc.type, "name": svc.name or ""})
    return result

