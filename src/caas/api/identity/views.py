"""Keystone's representation of each noun: the identity service's records as Identity v3
renders them (with ``links`` under the caller's ``/identity/v3``), tokens, role assignments
and the version document."""

from __future__ import annotations

import datetime as dt
import time

from starlette.responses import Response

from caas.api.framework import Call, json_response
from caas.context import AuthContext
from caas.identity import compliance
from caas.identity.models import Domain
from caas.identity.roles import is_immutable

VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def v3(call: Call) -> str:
    """The caller's address of Identity v3."""
    return call.base_url + "/identity/v3"


def links(call: Call, path: str) -> dict:
    return {"self": f"{v3(call)}/{path}"}


def collection(call: Call, key: str, items: list) -> Response:
    """A list answer: ``{key: items, links: {...}}`` (Keystone pages nothing)."""
    self_url = str(call.request.url)
    return json_response({key: items, "links": {"self": self_url, "previous": None, "next": None}})


def version_doc(call: Call) -> dict:
    return {"id": VERSION_ID, "status": "stable", "updated": VERSION_UPDATED,
            "links": [{"rel": "self", "href": v3(call) + "/"}], "media-types": MEDIA_TYPES}


def domain(call: Call, d) -> dict:
    return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": [], "options": {}, "links": links(call, f"domains/{d.id}")}


def project(call: Call, p) -> dict:
    """A project; a domain (a Domain row) as the project acting as that domain."""
    if isinstance(p, Domain):
        return {"id": p.id, "name": p.name, "domain_id": None, "description": p.description,
                "enabled": p.enabled, "parent_id": None, "is_domain": True, "tags": [],
                "options": {}, "links": links(call, f"projects/{p.id}")}
    return {"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
            "enabled": p.enabled, "parent_id": p.parent_id or p.domain_id, "is_domain": False,
            "tags": p.tags, "options": {}, "links": links(call, f"projects/{p.id}")}


def user(call: Call, u) -> dict:
    view = dict(u.extra or {})
    enabled = compliance.shown_enabled(call.services.settings, u, time.time())  # inactive: false
    view.update({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": enabled,
                 "password_expires_at": iso(u.password_expires_at) if u.password_expires_at else None,
                 "options": {}, "links": links(call, f"users/{u.id}")})
    if u.default_project_id:
        view["default_project_id"] = u.default_project_id
    if u.description:
        view["description"] = u.description
    if u.email:
        view["email"] = u.email
    return view


def updated_user(call: Call, u) -> dict:
    """A user as Keystone answers its update: the view, and the extra attributes again under
    ``extra`` (description and email are extra attributes to Keystone)."""
    extra = dict(u.extra or {})
    extra.update({key: getattr(u, key) for key in ("description", "email") if getattr(u, key)})
    return {**user(call, u), "extra": extra}


def role(call: Call, r) -> dict:
    options = {"immutable": True} if is_immutable(r) else {}
    return {"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
            "options": options, "links": links(call, f"roles/{r.id}")}


def region(call: Call, r) -> dict:
    return {**(r.extra or {}), "id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": links(call, f"regions/{r.id}")}


def service(call: Call, s) -> dict:
    """A service with the attributes it was given beyond Keystone's (``description`` only when set)."""
    view = {**(s.extra or {}), "id": s.id, "type": s.type, "name": s.name, "enabled": s.enabled,
            "links": links(call, f"services/{s.id}")}
    if s.description is not None:
        view["description"] = s.description
    return view


def endpoint(call: Call, e) -> dict:
    return {**(e.extra or {}), "id": e.id, "interface": e.interface, "region": e.region_id,
            "region_id": e.region_id, "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
            "links": links(call, f"endpoints/{e.id}")}


def endpoint_group(call: Call, g) -> dict:
    return {"id": g.id, "name": g.name, "description": g.description, "filters": g.filters,
            "links": links(call, f"OS-EP-FILTER/endpoint_groups/{g.id}")}


def token(ctx: AuthContext, catalog: list | None) -> dict:
    """``{"token": ...}`` for ``ctx``; ``catalog``: the service catalog to include (None: none)."""
    t = ctx.token
    body: dict = {
        "methods": list(t.methods),
        "user": {"domain": {"id": ctx.user_domain.id, "name": ctx.user_domain.name},
                 "id": ctx.user.id, "name": ctx.user.name,
                 "password_expires_at": iso(ctx.password_expires_at) if ctx.password_expires_at else None},
        "audit_ids": list(t.audit_ids),
        "expires_at": iso(t.expires_at),
        "issued_at": iso(t.issued_at),
    }
    if ctx.project:
        body["project"] = {"domain": {"id": ctx.project_domain.id, "name": ctx.project_domain.name},
                           "id": ctx.project.id, "name": ctx.project.name}
        body["is_domain"] = False
    elif ctx.domain:
        body["domain"] = {"id": ctx.domain.id, "name": ctx.domain.name}
    elif ctx.system:
        body["system"] = {"all": True}
    if ctx.roles:
        body["roles"] = [{"id": r.id, "name": r.name} for r in ctx.roles]
    if catalog is not None:
        body["catalog"] = catalog
    if t.oauth:
        body["OS-OAUTH1"] = {"access_token_id": t.oauth[0], "consumer_id": t.oauth[1]}
    return {"token": body}
