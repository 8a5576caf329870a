"""Identity v3's catalog calls: regions, services and endpoints (read and written, with
Keystone's validation; unknown attributes kept), and OS-EP-FILTER (endpoint groups, project ↔
endpoint and project ↔ endpoint group associations), as one route table (``ROUTES``) over
``call.services.catalog`` and ``call.services.endpoint_filter``."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.identity import views as V
from caas.api.identity.routes import filters
from caas.api.identity.schemas import Id, Text

Str255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Url = Annotated[StrictStr, Field(min_length=1, max_length=2048)]
Interface = Literal["admin", "internal", "public"]
KNOWN = {"id", "links"}


class Open(BaseModel):
    """A body whose unknown attributes Keystone keeps (``model_extra``). A field whose default
    is None and whose type is not Optional refuses an explicit null (defaults are not validated)."""

    model_config = ConfigDict(extra="allow")


class RegionBody(Open):
    id: Optional[Str255] = None
    description: Optional[Text] = None
    parent_region_id: Optional[Str255] = None


class ServiceCreate(Open):
    type: Str255
    name: Annotated[StrictStr, Field(max_length=255)] = None
    description: Optional[Text] = None
    enabled: StrictBool = True


class ServiceUpdate(Open):
    type: Str255 = None
    name: Annotated[StrictStr, Field(max_length=255)] = None
    description: Optional[Text] = None
    enabled: StrictBool = None


class EndpointCreate(Open):
    service_id: Id
    interface: Interface
    url: Url
    region_id: Optional[Str255] = None
    region: Optional[Str255] = None  # the legacy name of region_id
    enabled: StrictBool = True


class EndpointUpdate(Open):
    service_id: Id = None
    interface: Interface = None
    url: Url = None
    region_id: Optional[Str255] = None
    region: Optional[Str255] = None
    enabled: StrictBool = None


class GroupCreate(BaseModel):
    name: Str255
    filters: dict
    description: Optional[Text] = None


class GroupUpdate(BaseModel):
    name: Str255 = None
    filters: dict = None
    description: Optional[Text] = None


def _split(body: Open) -> tuple[dict, dict]:
    """The known attributes that were sent, and the others (kept as given); ``id`` stays with
    the known ones (an update refuses it)."""
    extra = dict(body.model_extra or {})
    fields = body.model_dump(exclude_unset=True, exclude=set(extra))
    if "id" in extra:
        fields["id"] = extra.pop("id")
    extra.pop("links", None)
    return fields, extra


def _endpoint_fields(body: Open) -> tuple[dict, dict]:
    """As ``_split``, with the legacy ``region`` read as ``region_id`` when that is absent."""
    fields, extra = _split(body)
    legacy = fields.pop("region", None)
    if "region_id" not in fields and legacy is not None:
        fields["region_id"] = legacy
    return fields, extra


# ---- regions -------------------------------------------------------------------------------
def list_regions(call: Call) -> Response:
    found = call.services.catalog.list_regions(call.auth(), filters(call, "parent_region_id"))
    return V.collection(call, "regions", [V.region(call, r) for r in found])


def get_region(call: Call) -> Response:
    r = call.services.catalog.get_region(call.auth(), call.params["region_id"])
    return json_response({"region": V.region(call, r)})


def create_region(call: Call) -> Response:
    fields, extra = _split(call.parse(wrapped("region", RegionBody)).region)
    r = call.services.catalog.create_region(call.auth(), fields, extra, call.params.get("region_id"))
    return json_response({"region": V.region(call, r)}, status=201)


def update_region(call: Call) -> Response:
    fields, extra = _split(call.parse(wrapped("region", RegionBody)).region)
    r = call.services.catalog.update_region(call.auth(), call.params["region_id"], fields, extra)
    return json_response({"region": V.region(call, r)})


def delete_region(call: Call) -> Response:
    call.services.catalog.delete_region(call.auth(), call.params["region_id"])
    return empty()


# ---- services ------------------------------------------------------------------------------
def list_services(call: Call) -> Response:
    found = call.services.catalog.list_services(call.auth(), filters(call, "type", "name"))
    return V.collection(call, "services", [V.service(call, s) for s in found])


def get_service(call: Call) -> Response:
    s = call.services.catalog.get_service(call.auth(), call.params["service_id"])
    return json_response({"service": V.service(call, s)})


def create_service(call: Call) -> Response:
    fields, extra = _split(call.parse(wrapped("service", ServiceCreate)).service)
    fields.pop("id", None)
    s = call.services.catalog.create_service(call.auth(), fields, extra)
    return json_response({"service": V.service(call, s)}, status=201)


def update_service(call: Call) -> Response:
    fields, extra = _split(call.parse(wrapped("service", ServiceUpdate)).service)
    s = call.services.catalog.update_service(call.auth(), call.params["service_id"], fields, extra)
    return json_response({"service": V.service(call, s)})


def delete_service(call: Call) -> Response:
    call.services.catalog.delete_service(call.auth(), call.params["service_id"])
    return empty()


# ---- endpoints -----------------------------------------------------------------------------
def list_endpoints(call: Call) -> Response:
    found = call.services.catalog.list_endpoints(call.auth(), filters(call, "interface", "service_id", "region_id"))
    return V.collection(call, "endpoints", [V.endpoint(call, e) for e in found])


def get_endpoint(call: Call) -> Response:
    e = call.services.catalog.get_endpoint(call.auth(), call.params["endpoint_id"])
    return json_response({"endpoint": V.endpoint(call, e)})


def create_endpoint(call: Call) -> Response:
    fields, extra = _endpoint_fields(call.parse(wrapped("endpoint", EndpointCreate)).endpoint)
    fields.pop("id", None)
    e = call.services.catalog.create_endpoint(call.auth(), fields, extra)
    return json_response({"endpoint": V.endpoint(call, e)}, status=201)


def update_endpoint(call: Call) -> Response:
    fields, extra = _endpoint_fields(call.parse(wrapped("endpoint", EndpointUpdate)).endpoint)
    e = call.services.catalog.update_endpoint(call.auth(), call.params["endpoint_id"], fields, extra)
    return json_response({"endpoint": V.endpoint(call, e)})


def delete_endpoint(call: Call) -> Response:
    call.services.catalog.delete_endpoint(call.auth(), call.params["endpoint_id"])
    return empty()


# ---- OS-EP-FILTER --------------------------------------------------------------------------
EPF = "/v3/OS-EP-FILTER"


def _groups(call: Call, found) -> Response:
    return V.collection(call, "endpoint_groups", [V.endpoint_group(call, g) for g in found])


def _endpoints(call: Call, found) -> Response:
    return V.collection(call, "endpoints", [V.endpoint(call, e) for e in found])


def _projects(call: Call, found) -> Response:
    return V.collection(call, "projects", [V.project(call, p) for p in found])


def list_groups(call: Call) -> Response:
    return _groups(call, call.services.endpoint_filter.list_groups(call.auth(), call.query.get("name")))


def create_group(call: Call) -> Response:
    body = call.parse(wrapped("endpoint_group", GroupCreate)).endpoint_group
    g = call.services.endpoint_filter.create_group(call.auth(), body.name, body.filters, body.description)
    return json_response({"endpoint_group": V.endpoint_group(call, g)}, status=201)


def get_group(call: Call) -> Response:
    g = call.services.endpoint_filter.get_group(call.auth(), call.params["group_id"])
    return json_response({"endpoint_group": V.endpoint_group(call, g)})


def update_group(call: Call) -> Response:
    body = call.parse(wrapped("endpoint_group", GroupUpdate)).endpoint_group
    g = call.services.endpoint_filter.update_group(call.auth(), call.params["group_id"],
                                                   body.model_dump(exclude_unset=True))
    return json_response({"endpoint_group": V.endpoint_group(call, g)})


def delete_group(call: Call) -> Response:
    call.services.endpoint_filter.delete_group(call.auth(), call.params["group_id"])
    return empty()


def group_endpoints(call: Call) -> Response:
    return _endpoints(call, call.services.endpoint_filter.endpoints_in_group(call.auth(), call.params["group_id"]))


def group_projects(call: Call) -> Response:
    return _projects(call, call.services.endpoint_filter.projects_of_group(call.auth(), call.params["group_id"]))


def project_groups(call: Call) -> Response:
    return _groups(call, call.services.endpoint_filter.groups_of_project(call.auth(), call.params["project_id"]))


def _pair(call: Call) -> tuple:
    return call.auth(), call.params["group_id"], call.params["project_id"]


def add_group_project(call: Call) -> Response:
    call.services.endpoint_filter.add_group_project(*_pair(call))
    return empty()


def check_group_project(call: Call) -> Response:
    ctx, group_id, project_id = _pair(call)
    call.services.endpoint_filter.check_group_project(ctx, group_id, project_id)
    if call.request.method == "HEAD":
        return empty(200)
    return json_response({"project_endpoint_group": {
        "endpoint_group_id": group_id, "project_id": project_id,
        "links": {"self": f"/OS-EP-FILTER/endpoint_groups/{group_id}/projects/{project_id}"}}})


def remove_group_project(call: Call) -> Response:
    call.services.endpoint_filter.remove_group_project(*_pair(call))
    return empty()


def _assoc(call: Call) -> tuple:
    return call.auth(), call.params["project_id"], call.params["endpoint_id"]


def add_project_endpoint(call: Call) -> Response:
    call.services.endpoint_filter.add_project_endpoint(*_assoc(call))
    return empty()


def check_project_endpoint(call: Call) -> Response:
    call.services.endpoint_filter.check_project_endpoint(*_assoc(call))
    return empty()


def remove_project_endpoint(call: Call) -> Response:
    call.services.endpoint_filter.remove_project_endpoint(*_assoc(call))
    return empty()


def project_endpoints(call: Call) -> Response:
    return _endpoints(call, call.services.endpoint_filter.endpoints_of_project(call.auth(),
                                                                              call.params["project_id"]))


def endpoint_projects(call: Call) -> Response:
    return _projects(call, call.services.endpoint_filter.projects_of_endpoint(call.auth(),
                                                                             call.params["endpoint_id"]))


GROUP = EPF + "/endpoint_groups/{group_id}"
PROJECT_ENDPOINT = EPF + "/projects/{project_id}/endpoints/{endpoint_id}"

ROUTES = [
    Endpoint("GET", "/v3/regions", list_regions),
    Endpoint("POST", "/v3/regions", create_region),
    Endpoint("GET", "/v3/regions/{region_id}", get_region),
    Endpoint("PUT", "/v3/regions/{region_id}", create_region),
    Endpoint("PATCH", "/v3/regions/{region_id}", update_region),
    Endpoint("DELETE", "/v3/regions/{region_id}", delete_region),
    Endpoint("GET", "/v3/services", list_services),
    Endpoint("POST", "/v3/services", create_service),
    Endpoint("GET", "/v3/services/{service_id}", get_service),
    Endpoint("PATCH", "/v3/services/{service_id}", update_service),
    Endpoint("DELETE", "/v3/services/{service_id}", delete_service),
    Endpoint("GET", "/v3/endpoints", list_endpoints),
    Endpoint("POST", "/v3/endpoints", create_endpoint),
    Endpoint("GET", "/v3/endpoints/{endpoint_id}", get_endpoint),
    Endpoint("PATCH", "/v3/endpoints/{endpoint_id}", update_endpoint),
    Endpoint("DELETE", "/v3/endpoints/{endpoint_id}", delete_endpoint),
    Endpoint("GET", EPF + "/endpoint_groups", list_groups),
    Endpoint("POST", EPF + "/endpoint_groups", create_group),
    Endpoint("GET", GROUP, get_group),
    Endpoint("HEAD", GROUP, get_group),
    Endpoint("PATCH", GROUP, update_group),
    Endpoint("DELETE", GROUP, delete_group),
    Endpoint("GET", GROUP + "/endpoints", group_endpoints),
    Endpoint("GET", GROUP + "/projects", group_projects),
    Endpoint("PUT", GROUP + "/projects/{project_id}", add_group_project),
    Endpoint("GET", GROUP + "/projects/{project_id}", check_group_project),
    Endpoint("HEAD", GROUP + "/projects/{project_id}", check_group_project),
    Endpoint("DELETE", GROUP + "/projects/{project_id}", remove_group_project),
    Endpoint("GET", EPF + "/projects/{project_id}/endpoint_groups", project_groups),
    Endpoint("GET", EPF + "/projects/{project_id}/endpoints", project_endpoints),
    Endpoint("PUT", PROJECT_ENDPOINT, add_project_endpoint),
    Endpoint("GET", PROJECT_ENDPOINT, check_project_endpoint),
    Endpoint("HEAD", PROJECT_ENDPOINT, check_project_endpoint),
    Endpoint("DELETE", PROJECT_ENDPOINT, remove_project_endpoint),
    Endpoint("GET", EPF + "/endpoints/{endpoint_id}/projects", endpoint_projects),
]
