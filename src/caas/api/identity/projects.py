"""Identity v3's project calls: CRUD with the hierarchy (``parent_id``, ``subtree_as_list``,
``parents_as_ids``, ...) and tags (``/v3/projects/{id}/tags``, the ``tags``/``tags-any``/
``not-tags``/``not-tags-any`` filters), as one route table (``ROUTES``) over
``call.services.projects``."""

from __future__ import annotations

import uuid
from typing import Annotated, Optional

from pydantic import Field, StrictBool, StrictStr, field_validator
from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.identity import views as V
from caas.api.identity.routes import filters
from caas.api.identity.schemas import Id, Model, Name64, Text
from caas.errors import BadRequest
from caas.identity.projects import MAX_TAGS, NewProject

Tag = Annotated[StrictStr, Field(min_length=1, max_length=255, pattern=r"^[^,/]*$")]


def _unique(tags: list[str] | None) -> list[str] | None:
    if tags is not None and len(set(tags)) != len(tags):
        raise ValueError(f"{tags} has non-unique elements")
    return tags


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]


class ProjectCreate(Model):
    name: Name64
    domain_id: Optional[Id] = None
    parent_id: Optional[Id] = None
    description: Optional[Text] = None
    enabled: StrictBool = True
    is_domain: StrictBool = False
    tags: Tags = []

    _tags = field_validator("tags")(classmethod(lambda cls, v: _unique(v)))


class ProjectUpdate(Model):
    # No default of None is validated: an explicit null where a value belongs is 400.
    name: Name64 = None
    domain_id: Optional[Id] = None
    parent_id: Optional[Id] = None
    is_domain: StrictBool = None
    description: Optional[Text] = None
    enabled: StrictBool = None
    tags: Tags = None

    _tags = field_validator("tags")(classmethod(lambda cls, v: _unique(v)))


class TagList(Model):
    tags: Tags

    _tags = field_validator("tags")(classmethod(lambda cls, v: _unique(v)))


def _view(call: Call, p, **more) -> dict:
    body = V.project(call, p)
    links = body.pop("links")
    return {**body, **more, "links": links}


def _parent_filter(value: str | None) -> str | None:
    """The ``parent_id`` query value; 400 unless it is a UUID, as Keystone's."""
    if value is not None:
        try:
            uuid.UUID(value)
        except ValueError:
            raise BadRequest(f"Invalid input for field/attribute parent_id. Value: {value}. "
                             f"'{value}' is not a 'uuid'") from None
    return value


def list_projects(call: Call) -> Response:
    f = filters(call, "name", "domain_id", "enabled", "parent_id", "is_domain", "tags", "tags-any", "not-tags",
                "not-tags-any", bools=("enabled", "is_domain"))
    _parent_filter(f.get("parent_id"))
    found = call.services.projects.list_projects(call.auth(), f)
    return V.collection(call, "projects", [V.project(call, p) for p in found])


def create_project(call: Call) -> Response:
    body = call.parse(wrapped("project", ProjectCreate)).project
    req = NewProject(name=body.name, domain_id=body.domain_id, parent_id=body.parent_id,
                     description=body.description or "", enabled=body.enabled, is_domain=body.is_domain,
                     tags=body.tags)
    p = call.services.projects.create_project(call.auth(), req)
    return json_response({"project": V.project(call, p)}, status=201)


def _hierarchy_asked(call: Call) -> tuple[str | None, str | None]:
    """Which of subtree and parents to add ("list", "ids" or None each); 400 for both forms."""
    out = []
    for what in ("subtree", "parents"):
        as_list, as_ids = f"{what}_as_list" in call.query, f"{what}_as_ids" in call.query
        if as_list and as_ids:
            raise BadRequest(f"Cannot use {what}_as_list and {what}_as_ids query params at the same time.")
        out.append("list" if as_list else "ids" if as_ids else None)
    return out[0], out[1]


def get_project(call: Call) -> Response:
    ctx = call.auth()
    project_id = call.params["project_id"]
    p = call.services.projects.get_project(ctx, project_id)
    subtree, parents = _hierarchy_asked(call)
    more = {}
    if subtree or parents:
        more = call.services.projects.hierarchy(ctx, project_id, subtree, parents)
        for key in ("subtree", "parents"):
            if isinstance(more.get(key), list):
                more[key] = [{"project": V.project(call, q)} for q in more[key]]
    return json_response({"project": _view(call, p, **more)})


def update_project(call: Call) -> Response:
    body = call.parse(wrapped("project", ProjectUpdate)).project
    p = call.services.projects.update_project(call.auth(), call.params["project_id"],
                                              body.model_dump(exclude_unset=True))
    # Keystone's answer to an update carries the project's (empty) extra attributes.
    return json_response({"project": _view(call, p, extra={})})


def delete_project(call: Call) -> Response:
    call.services.projects.delete_project(call.auth(), call.params["project_id"])
    return empty()


# ---- tags ----------------------------------------------------------------------------------
def _tags(call: Call, tags: list[str]) -> Response:
    return json_response({"links": {"self": V.v3(call)}, "tags": tags})


def list_tags(call: Call) -> Response:
    return _tags(call, call.services.projects.list_tags(call.auth(), call.params["project_id"]))


def replace_tags(call: Call) -> Response:
    body = call.parse(TagList)
    return _tags(call, call.services.projects.replace_tags(call.auth(), call.params["project_id"], body.tags))


def delete_tags(call: Call) -> Response:
    call.services.projects.delete_tag(call.auth(), call.params["project_id"], None)
    return empty()


def _tag(call: Call) -> str:
    """The path's tag, checked as a body's would be (no ',' or '/', 1 to 255 characters)."""
    tag = call.params["tag"]
    if not tag or len(tag) > 255 or "," in tag or "/" in tag:
        raise BadRequest(f"'{tag}' does not match '^[^,/]*$'")
    return tag


def check_tag(call: Call) -> Response:
    call.services.projects.check_tag(call.auth(), call.params["project_id"], _tag(call))
    return empty()


def add_tag(call: Call) -> Response:
    call.services.projects.add_tag(call.auth(), call.params["project_id"], _tag(call))
    return empty(201)


def delete_tag(call: Call) -> Response:
    call.services.projects.delete_tag(call.auth(), call.params["project_id"], _tag(call))
    return empty()


ROUTES = [
    Endpoint("GET", "/v3/projects", list_projects),
    Endpoint("POST", "/v3/projects", create_project),
    Endpoint("GET", "/v3/projects/{project_id}", get_project),
    Endpoint("PATCH", "/v3/projects/{project_id}", update_project),
    Endpoint("DELETE", "/v3/projects/{project_id}", delete_project),
    Endpoint("GET", "/v3/projects/{project_id}/tags", list_tags),
    Endpoint("PUT", "/v3/projects/{project_id}/tags", replace_tags),
    Endpoint("DELETE", "/v3/projects/{project_id}/tags", delete_tags),
    Endpoint("GET", "/v3/projects/{project_id}/tags/{tag}", check_tag),
    Endpoint("HEAD", "/v3/projects/{project_id}/tags/{tag}", check_tag),
    Endpoint("PUT", "/v3/projects/{project_id}/tags/{tag}", add_tag),
    Endpoint("DELETE", "/v3/projects/{project_id}/tags/{tag}", delete_tag),
]
