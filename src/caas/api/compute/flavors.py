"""Compute flavors over HTTP: ``/v2.1/flavors`` (+ ``/detail``), flavor-manage (create, 2.55's
description update, delete), ``os-extra_specs`` and ``os-flavor-access`` with the
``addTenantAccess``/``removeTenantAccess`` actions, each in Nova's shapes for microversions
2.1 to 2.60 (``description`` from 2.55; ``swap`` is "" when 0; extra specs never inline, that is
2.61).

Also holds the request checks the compute noun modules share, written after Nova's JSON
schemas (``nova/api/validation``) with their messages: ``wrapper``, ``keys``, ``nova_name``,
``nova_text``, ``utf8``, ``query_uint`` and ``invalid``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from urllib.parse import quote, urlencode

from starlette.responses import Response

from caas.api.compute import api_root
from caas.api.framework import Call, empty, json_response
from caas.compute.flavors import MAX_LIMIT, SORT_KEYS
from caas.errors import BadRequest, NotFound
from caas.numbers import INT32_MAX, decimal, parse_int

Version = tuple[int, int]


# ---- Nova-style request checks (shared by the compute noun modules) -----------------------
def _shown(value) -> str:
    return value if isinstance(value, str) else repr(value)


def invalid(field: str, value, message: str) -> BadRequest:
    """Nova's schema error: "Invalid input for field/attribute F. Value: V. M"."""
    return BadRequest(f"Invalid input for field/attribute {field}. Value: {_shown(value)[:300]}. {message}")


def not_of_type(field: str, value, *types: str) -> BadRequest:
    return invalid(field, value, f"{_shown(value)[:100]!r} is not of type {', '.join(repr(t) for t in types)}")


def _unexpected(extra: list[str]) -> str:
    names = ", ".join(repr(e) for e in extra)
    return f"Additional properties are not allowed ({names} {'were' if len(extra) > 1 else 'was'} unexpected)"


def wrapper(body, key: str) -> dict:
    """``body`` must be ``{key: {...}}`` and nothing else (Nova's schemas refuse any other
    top-level key); the inner object."""
    if not isinstance(body, dict):
        raise BadRequest(f"{_shown(body)[:100]!r} is not of type 'object'" if body is not None
                         else "The request body is missing or empty.")
    if key not in body:
        raise BadRequest(f"'{key}' is a required property")
    extra = sorted(k for k in body if k != key)
    if extra:
        raise BadRequest(_unexpected(extra))
    inner = body[key]
    if not isinstance(inner, dict):
        raise not_of_type(key, inner, "object")
    return inner


def keys(obj: dict, field: str, allowed, required=()) -> dict:
    """``obj`` has every ``required`` key and no key outside ``allowed``."""
    for name in required:
        if name not in obj:
            raise invalid(field, obj, f"'{name}' is a required property")
    extra = sorted(k for k in obj if k not in allowed)
    if extra:
        raise invalid(field, obj, _unexpected(extra))
    return obj


def utf8(value: str, field: str) -> str:
    """Strings that cannot be stored (lone surrogates, from ``\\udXXX`` escapes) are 400."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(field, value.encode("utf-8", "backslashreplace").decode(),
                      "The value is not valid Unicode text.") from None
    return value


def _printable(ch: str) -> bool:
    # Nova's _is_printable over the characters below U+FFFF (the only ones its regex covers).
    if ord(ch) >= 0xFFFF:
        return False
    cat = unicodedata.category(ch)
    return not cat.startswith("C") and (not cat.startswith("Z") or cat == "Zs")


def _edge_ok(ch: str) -> bool:
    return _printable(ch) and unicodedata.category(ch) != "Zs"


def nova_name(value, field: str = "name") -> str:
    """Nova's ``name`` parameter: a string of 1 to 255 printable characters that does not start
    or end with whitespace."""
    if not isinstance(value, str):
        raise not_of_type(field, value, "string")
    if not value:
        raise invalid(field, value, "'' is too short")
    if len(value) > 255:
        raise invalid(field, value, f"{value[:50]!r}... is too long")
    if not (all(_printable(c) for c in value) and _edge_ok(value[0]) and _edge_ok(value[-1])):
        raise invalid(field, value, "An invalid 'name' value was provided. The name must be: printable "
                                    "characters. Can not start or end with whitespace.")
    return utf8(value, field)


def nova_text(value, field: str, max_length: int, nullable: bool = True) -> str | None:
    """Nova's description: printable characters (spaces anywhere), at most ``max_length``."""
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise not_of_type(field, value, "string", "null") if nullable else not_of_type(field, value, "string")
    if len(value) > max_length:
        raise invalid(field, value, f"{value[:50]!r}... is too long")
    if not all(_printable(c) for c in value):
        raise invalid(field, value, f"{value[:50]!r} does not match the description pattern (printable "
                                    "characters only)")
    return utf8(value, field)


def query_uint(call: Call, name: str) -> int | None:
    """A non-negative integer query parameter (Nova's pagination parameters); None if absent."""
    raw = call.query.get(name)
    if raw is None:
        return None
    value = parse_int(raw, name, 0, message=f"Invalid input for query parameters {name}. Value: {raw[:100]}. "
                                            f"{raw[:100]!r} does not match '^[0-9]*$'")
    return min(value, MAX_INT)


def version_at_least(call: Call, minor: int) -> bool:
    return call.version is not None and call.version >= (2, minor)


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
    raise invalid(field, value, f"{_shown(value)[:50]!r} is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', "
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
        raise invalid(field, specs, _unexpected(bad))
    return {k: _spec_value(k, v) for k, v in specs.items()}


# ---- views --------------------------------------------------------------------------------
def links(call: Call, collection: str, item_id: str) -> list[dict]:
    ref = quote(str(item_id), safe="")
    return [{"rel": "self", "href": f"{api_root(call)}/{collection}/{ref}"},
            {"rel": "bookmark", "href": f"{call.base_url}/compute/{collection}/{ref}"}]


def next_link(call: Call, collection: str, marker: str) -> dict:
    params = dict(sorted(call.query.items()))
    params["marker"] = marker
    return {"rel": "next", "href": f"{api_root(call)}/{collection}?{urlencode(params)}"}


def collection_links(call: Call, items: list, collection: str, marker_of) -> list[dict]:
    """Nova's ``*_links``: a next link when the page is full (``limit``, capped by the maximum)."""
    limit = decimal(call.query.get("limit", ""), 0)  # a bad one was refused before (query_uint)
    max_items = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
    if max_items and max_items == len(items):
        return [next_link(call, collection, marker_of(items[-1]))]
    return []


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
def register(api, cloud) -> None:
    compute = cloud.compute

    def _list(call: Call, detail: bool) -> Response:
        ctx = call.project_auth()
        rows = compute.list_flavors(ctx, **_list_args(call))
        render = flavor_view if detail else flavor_brief
        body = {"flavors": [render(call, f) for f in rows]}
        more = collection_links(call, rows, "flavors/detail" if detail else "flavors", lambda f: f.id)
        if more:
            body["flavors_links"] = more
        return json_response(body)

    @api.route("GET", "/v2.1/flavors")
    def list_flavors(call: Call) -> Response:
        return _list(call, detail=False)

    @api.route("GET", "/v2.1/flavors/detail")
    def list_flavors_detail(call: Call) -> Response:
        return _list(call, detail=True)

    @api.route("POST", "/v2.1/flavors")
    def create_flavor(call: Call) -> Response:
        ctx = call.project_auth()
        flavor = compute.create_flavor(ctx, **parse_flavor_create(call))
        return json_response({"flavor": flavor_view(call, flavor)})

    @api.route("GET", "/v2.1/flavors/{flavor_id}")
    def show_flavor(call: Call) -> Response:
        ctx = call.project_auth()
        return json_response({"flavor": flavor_view(call, compute.show_flavor(ctx, call.params["flavor_id"]))})

    @api.route("PUT", "/v2.1/flavors/{flavor_id}")
    def update_flavor(call: Call) -> Response:
        ctx = call.project_auth()
        if not version_at_least(call, 55):
            raise NotFound("The resource could not be found.")
        body = keys(wrapper(call.body, "flavor"), "flavor", {"description"}, ("description",))
        description = nova_text(body["description"], "description", 65535)
        flavor = compute.update_flavor(ctx, call.params["flavor_id"], description)
        return json_response({"flavor": flavor_view(call, flavor)})

    @api.route("DELETE", "/v2.1/flavors/{flavor_id}")
    def delete_flavor(call: Call) -> Response:
        ctx = call.project_auth()
        compute.delete_flavor(ctx, call.params["flavor_id"])
        return empty(202)

    # ---- extra specs ---------------------------------------------------------------------
    @api.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs")
    def list_extra_specs(call: Call) -> Response:
        ctx = call.project_auth()
        return json_response({"extra_specs": compute.flavor_extra_specs(ctx, call.params["flavor_id"])})

    @api.route("POST", "/v2.1/flavors/{flavor_id}/os-extra_specs")
    def create_extra_specs(call: Call) -> Response:
        ctx = call.project_auth()
        body = call.body
        if not isinstance(body, dict) or "extra_specs" not in body:
            raise BadRequest("'extra_specs' is a required property")
        extra = sorted(k for k in body if k != "extra_specs")
        if extra:
            raise BadRequest(_unexpected(extra))
        specs = parse_extra_specs(body["extra_specs"])
        compute.set_flavor_extra_specs(ctx, call.params["flavor_id"], specs, "create")
        return json_response({"extra_specs": body["extra_specs"]})  # Nova echoes the request

    @api.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
    def show_extra_spec(call: Call) -> Response:
        ctx = call.project_auth()
        key = call.params["key"]
        return json_response({key: compute.flavor_extra_spec(ctx, call.params["flavor_id"], key)})

    @api.route("PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
    def update_extra_spec(call: Call) -> Response:
        ctx = call.project_auth()
        body = call.body
        if not isinstance(body, dict):
            raise BadRequest(f"{_shown(body)[:100]!r} is not of type 'object'")
        if len(body) != 1:
            raise BadRequest(f"{_shown(body)[:100]} {'has too many' if body else 'does not have enough'} "
                             "properties")
        specs = parse_extra_specs(body, "body")
        if call.params["key"] not in body:
            raise BadRequest("Request body and URI mismatch")
        compute.set_flavor_extra_specs(ctx, call.params["flavor_id"], specs, "update")
        return json_response(body)

    @api.route("DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
    def delete_extra_spec(call: Call) -> Response:
        ctx = call.project_auth()
        compute.delete_flavor_extra_spec(ctx, call.params["flavor_id"], call.params["key"])
        return empty(200)

    # ---- access --------------------------------------------------------------------------
    @api.route("GET", "/v2.1/flavors/{flavor_id}/os-flavor-access")
    def list_access(call: Call) -> Response:
        ctx = call.project_auth()
        flavor_id = call.params["flavor_id"]
        return json_response(_access_view(flavor_id, compute.flavor_access(ctx, flavor_id)))

    @api.route("POST", "/v2.1/flavors/{flavor_id}/action")
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
            projects = compute.add_flavor_access(ctx, flavor_id, tenant, refuse_public=version_at_least(call, 7))
        else:
            projects = compute.remove_flavor_access(ctx, flavor_id, tenant)
        return json_response(_access_view(flavor_id, projects))
