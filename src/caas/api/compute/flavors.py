"""Compute flavors over HTTP: ``/v2.1/flavors`` (+ ``/detail``), flavor-manage (create, 2.55's
description update, delete), ``os-extra_specs`` and ``os-flavor-access`` with the
``addTenantAccess``/``removeTenantAccess`` actions, each in Nova's shapes for microversions
2.1 to 2.60 (``description`` from 2.55; ``swap`` is "" when 0; extra specs never inline, that is
2.61)."""

from __future__ import annotations

import math
import re

from starlette.responses import Response

from caas.api.compute.links import collection_links, links
from caas.api.compute.validation import (invalid, keys, not_of_type, nova_name, nova_text, query_uint, shown,
                                         unexpected, utf8, version_at_least, wrapper)
from caas.api.framework import Call, Endpoint, empty, json_response
from caas.compute.flavors import SORT_KEYS
from caas.errors import BadRequest, NotFound
from caas.numbers import INT32_MAX, decimal, parse_int

Version = tuple[int, int]


# ---- flavor fields ------------------------------------------------------------------------
_FLAVOR_ID = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
_EXTRA_SPEC_KEY = re.compile(r"^[a-zA-Z0-9_:. -]{1,255}$")
_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")
_BOOL_ENUM = {"True": True, "TRUE": True, "true": True, "1": True, "ON": True, "On": True, "on": True, "YES": True,
              "Yes": True, "yes": True, "False": False, "FALSE": False, "false": False, "0": False, "OFF": False,
              "Off": False, "off": False, "NO": False, "No": False, "no": False}
MAX_INT = INT32_MAX
MAX_FLOAT = 3.40282e+38


def _int_field(value, field: str, minimum: int) -> int:
    """Nova's flavor integers: an integer, or a string of ASCII digits, in minimum..2^31-1."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise not_of_type(field, value, "integer", "string")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):  # Nova's pattern; "²" is a digit, but not ASCII
            raise invalid(field, value, f"{value[:50]!r} does not match '^[0-9]+$'")
        number = decimal(value, 0, MAX_INT)
        if number is None:  # ASCII digits, of a number too large
            raise invalid(field, value, f"{value[:50]} is greater than the maximum of {MAX_INT}")
        value = number
    if value < minimum:
        raise invalid(field, value, f"{value} is less than the minimum of {minimum}")
    if value > MAX_INT:
        raise invalid(field, value, f"{value} is greater than the maximum of {MAX_INT}")
    return value


def _flavor_id(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise not_of_type("id", value, "string", "number", "null")
    if isinstance(value, str):
        if value == "auto":  # novaclient's word for "make one up"
            return None
        if not 1 <= len(value) <= 255:
            raise invalid("id", value, f"{value[:50]!r} is too {'short' if not value else 'long'}")
        if not _FLAVOR_ID.match(value):
            raise invalid("id", value, f"{value[:50]!r} does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")
        return value
    if not value:  # Nova: a falsy id (0) means "make one up"
        return None
    text = str(value)
    if len(text) > 255 or (isinstance(value, float) and not math.isfinite(value)):
        raise invalid("id", value, "The flavor id is not valid.")
    return text


def _rxtx(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise not_of_type("rxtx_factor", value, "number", "string")
    if isinstance(value, str) and not re.match(r"^[0-9]+(\.[0-9]+)?$", value):
        raise invalid("rxtx_factor", value, f"{value[:50]!r} does not match '^[0-9]+(\\.[0-9]+)?$'")
    number = float(value)
    if not (math.isfinite(number) and 0 < number <= MAX_FLOAT):
        raise BadRequest(f"Invalid input received: 'rxtx_factor' argument must be a float between 0 and "
                         f"{MAX_FLOAT:g}")
    return number


def _bool_field(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _BOOL_ENUM:
        return _BOOL_ENUM[value]
    raise invalid(field, value, f"{shown(value)[:50]!r} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', "
                                "'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', "
                                "'Off', 'off', 'NO', 'No', 'no']")


def parse_flavor_create(call: Call) -> dict:
    """The keyword arguments of ``create_flavor`` from a POST /flavors body."""
    body = wrapper(call.body, "flavor")
    allowed = {"name", "id", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral", "swap", "rxtx_factor",
               "os-flavor-access:is_public"}
    if version_at_least(call, 55):
        allowed.add("description")
    keys(body, "flavor", allowed, ("name", "ram", "vcpus", "disk"))
    out = {"name": nova_name(body["name"]), "flavor_id": _flavor_id(body.get("id")),
           "ram": _int_field(body["ram"], "ram", 1), "vcpus": _int_field(body["vcpus"], "vcpus", 1),
           "disk": _int_field(body["disk"], "disk", 0)}
    if "OS-FLV-EXT-DATA:ephemeral" in body:
        out["ephemeral"] = _int_field(body["OS-FLV-EXT-DATA:ephemeral"], "OS-FLV-EXT-DATA:ephemeral", 0)
    if "swap" in body:
        out["swap"] = _int_field(body["swap"], "swap", 0)
    if "rxtx_factor" in body:
        out["rxtx_factor"] = _rxtx(body["rxtx_factor"])
    if "os-flavor-access:is_public" in body:
        out["is_public"] = _bool_field(body["os-flavor-access:is_public"], "os-flavor-access:is_public")
    if "description" in body:
        out["description"] = nova_text(body["description"], "description", 65535)
    return out


def _spec_value(key: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise not_of_type(key, value, "string", "number")
    text = value if isinstance(value, str) else str(value)
    if len(text) > 255:
        raise invalid(key, value, f"{text[:50]!r}... is too long")
    return utf8(text, key)


def parse_extra_specs(specs, field: str = "extra_specs") -> dict[str, str]:
    """Nova's flavor metadata: keys ``^[a-zA-Z0-9-_:. ]{1,255}$``, values strings or numbers
    of at most 255 characters (stored as strings)."""
    if not isinstance(specs, dict):
        raise not_of_type(field, specs, "object")
    bad = sorted(k for k in specs if not _EXTRA_SPEC_KEY.match(k))
    if bad:
        raise invalid(field, specs, unexpected(bad))
    return {k: _spec_value(k, v) for k, v in specs.items()}


# ---- views --------------------------------------------------------------------------------
def flavor_brief(call: Call, f) -> dict:
    out = {"id": f.id, "name": f.name, "links": links(call, "flavors", f.id)}
    if version_at_least(call, 55):
        out["description"] = f.description
    return out


def flavor_view(call: Call, f) -> dict:
    out = {"id": f.id, "name": f.name, "ram": f.ram, "disk": f.disk, "swap": f.swap or "",
           "OS-FLV-EXT-DATA:ephemeral": f.ephemeral, "OS-FLV-DISABLED:disabled": bool(f.disabled),
           "vcpus": f.vcpus, "os-flavor-access:is_public": bool(f.is_public), "rxtx_factor": f.rxtx_factor or "",
           "links": links(call, "flavors", f.id)}
    if version_at_least(call, 55):
        out["description"] = f.description
    return out


def _access_view(flavor_id: str, projects: list[str]) -> dict:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


# ---- list parameters ----------------------------------------------------------------------
def _is_public(raw: str | None) -> bool | None:
    if raw is None:
        return True  # Nova's default: public flavors (and the project's own private ones)
    if raw.strip().lower() == "none":
        return None
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadRequest(f"Invalid is_public filter [{raw}]")


def _min_filter(call: Call, name: str) -> int | None:
    raw = call.query.get(name)
    if raw is None:
        return None
    value = parse_int(raw, name, None, None, message=f"Invalid {name} filter [{raw}]")
    return max(-MAX_INT - 1, min(value, MAX_INT + 1))  # the columns are 32-bit: beyond is all or nothing


def _list_args(call: Call) -> dict:
    sort_key = call.query.get("sort_key") or "flavorid"
    if sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid input for query parameters sort_key. Value: {sort_key[:100]}. "
                         f"{sort_key[:100]!r} is not one of {sorted(SORT_KEYS)}")
    sort_dir = call.query.get("sort_dir") or "asc"
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {sort_dir[:100]}. "
                         f"{sort_dir[:100]!r} is not one of ['asc', 'desc']")
    return {"is_public": _is_public(call.query.get("is_public")), "min_ram": _min_filter(call, "minRam"),
            "min_disk": _min_filter(call, "minDisk"), "sort_key": sort_key, "sort_dir": sort_dir,
            "limit": query_uint(call, "limit"), "marker": call.query.get("marker")}


# ---- routes -------------------------------------------------------------------------------
def _flavors(call: Call):
    return call.services.compute.flavors



def _list(call: Call, detail: bool) -> Response:
    ctx = call.project_auth()
    rows = _flavors(call).list_flavors(ctx, **_list_args(call))
    render = flavor_view if detail else flavor_brief
    body = {"flavors": [render(call, f) for f in rows]}
    more = collection_links(call, rows, "flavors/detail" if detail else "flavors", lambda f: f.id)
    if more:
        body["flavors_links"] = more
    return json_response(body)

def list_flavors(call: Call) -> Response:
    return _list(call, detail=False)

def list_flavors_detail(call: Call) -> Response:
    return _list(call, detail=True)

def create_flavor(call: Call) -> Response:
    ctx = call.project_auth()
    flavor = _flavors(call).create_flavor(ctx, **parse_flavor_create(call))
    return json_response({"flavor": flavor_view(call, flavor)})

def show_flavor(call: Call) -> Response:
    ctx = call.project_auth()
    return json_response({"flavor": flavor_view(call, _flavors(call).show_flavor(ctx, call.params["flavor_id"]))})

def update_flavor(call: Call) -> Response:
    ctx = call.project_auth()
    if not version_at_least(call, 55):
        raise NotFound("The resource could not be found.")
    body = keys(wrapper(call.body, "flavor"), "flavor", {"description"}, ("description",))
    description = nova_text(body["description"], "description", 65535)
    flavor = _flavors(call).update_flavor(ctx, call.params["flavor_id"], description)
    return json_response({"flavor": flavor_view(call, flavor)})

def delete_flavor(call: Call) -> Response:
    ctx = call.project_auth()
    _flavors(call).delete_flavor(ctx, call.params["flavor_id"])
    return empty(202)

# ---- extra specs ---------------------------------------------------------------------


def list_extra_specs(call: Call) -> Response:
    ctx = call.project_auth()
    return json_response({"extra_specs": _flavors(call).flavor_extra_specs(ctx, call.params["flavor_id"])})

def create_extra_specs(call: Call) -> Response:
    ctx = call.project_auth()
    body = call.body
    if not isinstance(body, dict) or "extra_specs" not in body:
        raise BadRequest("'extra_specs' is a required property")
    extra = sorted(k for k in body if k != "extra_specs")
    if extra:
        raise BadRequest(unexpected(extra))
    specs = parse_extra_specs(body["extra_specs"])
    _flavors(call).set_flavor_extra_specs(ctx, call.params["flavor_id"], specs, "create")
    return json_response({"extra_specs": body["extra_specs"]})  # Nova echoes the request

def show_extra_spec(call: Call) -> Response:
    ctx = call.project_auth()
    key = call.params["key"]
    return json_response({key: _flavors(call).flavor_extra_spec(ctx, call.params["flavor_id"], key)})

def update_extra_spec(call: Call) -> Response:
    ctx = call.project_auth()
    body = call.body
    if not isinstance(body, dict):
        raise BadRequest(f"{shown(body)[:100]!r} is not of type 'object'")
    if len(body) != 1:
        raise BadRequest(f"{shown(body)[:100]} {'has too many' if body else 'does not have enough'} "
                         "properties")
    specs = parse_extra_specs(body, "body")
    if call.params["key"] not in body:
        raise BadRequest("Request body and URI mismatch")
    _flavors(call).set_flavor_extra_specs(ctx, call.params["flavor_id"], specs, "update")
    return json_response(body)

def delete_extra_spec(call: Call) -> Response:
    ctx = call.project_auth()
    _flavors(call).delete_flavor_extra_spec(ctx, call.params["flavor_id"], call.params["key"])
    return empty(200)

# ---- access --------------------------------------------------------------------------


def list_access(call: Call) -> Response:
    ctx = call.project_auth()
    flavor_id = call.params["flavor_id"]
    return json_response(_access_view(flavor_id, _flavors(call).flavor_access(ctx, flavor_id)))

def action(call: Call) -> Response:
    ctx = call.project_auth()
    body = call.body
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: too many body keys" if isinstance(body, dict) and body
                         else "Malformed request body: the action body must be one {action: {...}} object")
    name = next(iter(body))
    if name not in ("addTenantAccess", "removeTenantAccess"):
        raise NotFound(f"There is no such action: {name[:100]}")
    wrapped = wrapper(body, name)
    keys(wrapped, name, {"tenant"}, ("tenant",))
    tenant = wrapped["tenant"]
    if not isinstance(tenant, str):
        raise not_of_type("tenant", tenant, "string")
    if not 1 <= len(tenant) <= 255:
        raise invalid("tenant", tenant, f"{tenant[:50]!r} is too {'short' if not tenant else 'long'}")
    utf8(tenant, "tenant")
    flavor_id = call.params["flavor_id"]
    if name == "addTenantAccess":
        projects = _flavors(call).add_flavor_access(ctx, flavor_id, tenant, refuse_public=version_at_least(call, 7))
    else:
        projects = _flavors(call).remove_flavor_access(ctx, flavor_id, tenant)
    return json_response(_access_view(flavor_id, projects))


ROUTES = [
    Endpoint("GET", "/v2.1/flavors", list_flavors),
    Endpoint("GET", "/v2.1/flavors/detail", list_flavors_detail),
    Endpoint("POST", "/v2.1/flavors", create_flavor),
    Endpoint("GET", "/v2.1/flavors/{flavor_id}", show_flavor),
    Endpoint("PUT", "/v2.1/flavors/{flavor_id}", update_flavor),
    Endpoint("DELETE", "/v2.1/flavors/{flavor_id}", delete_flavor),
    Endpoint("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs", list_extra_specs),
    Endpoint("POST", "/v2.1/flavors/{flavor_id}/os-extra_specs", create_extra_specs),
    Endpoint("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", show_extra_spec),
    Endpoint("PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", update_extra_spec),
    Endpoint("DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", delete_extra_spec),
    Endpoint("GET", "/v2.1/flavors/{flavor_id}/os-flavor-access", list_access),
    Endpoint("POST", "/v2.1/flavors/{flavor_id}/action", action),
]
