"""Requests of the Shared File Systems v2 API: the query of a share list (``list_query``) and
the bodies of create, update, metadata and the access actions, read as Manila reads them (a
body without its resource key is 422, Manila's HTTPUnprocessableEntity) but with strict types
(a size must be a number, a name a string). Values are checked further by the service."""

from __future__ import annotations

from typing import Any

from caas.errors import BadRequest, CaasError
from caas.numbers import INT32_MAX, parse_int
from caas.share.service import SORT_KEYS, ShareQuery

MAX_LIMIT = 1000  # Manila's osapi_max_limit
TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")
# What a create may name that this cloud does not have (snapshots, networks, groups, types).
UNSUPPORTED_CREATE = (("snapshot_id", "a snapshot"), ("share_network_id", "a share network"),
                      ("share_group_id", "a share group"))


class Unprocessable(CaasError):
    """Manila's answer to a body without the expected resource key."""

    status = 422
    title = "Unprocessable Entity"


def body_of(body: Any, key: str) -> dict:
    """``body[key]``, an object; 422 as Manila (``is_valid_body``) otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise Unprocessable("Unable to process the contained instructions")
    return body[key]


def text(value: Any, field: str, limit: int = 255) -> str | None:
    """A name or description: a string (None clears it) of at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input received: {field} must be a string.")
    if len(value) > limit:
        raise BadRequest(f"Invalid input received: {field} has {len(value)} characters, more than {limit}.")
    return value


def size(value: Any) -> int:
    """A size in GiB: an integer, or its decimal digits as a string (Manila takes both)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT32_MAX:
        raise BadRequest(f"Invalid input received: Share size '{str(value)[:64]}' must be an integer and greater "
                         "than 0.", kind="InvalidInput")
    return value


def metadata(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Invalid input received: metadata must be an object of strings.")
    return value


def boolean(value: Any, name: str) -> bool:
    """A JSON boolean, or one of oslo's boolean strings."""
    if isinstance(value, bool):
        return value
    text_value = str(value).strip().lower()
    if text_value in TRUE_STRINGS:
        return True
    if text_value in FALSE_STRINGS:
        return False
    raise BadRequest(f"Invalid value '{str(value)[:64]}' for '{name}' parameter.")


def create(body: Any) -> dict:
    """The arguments of ``ShareService.create_share`` from a create's body."""
    share = body_of(body, "share")
    for field, what in UNSUPPORTED_CREATE:
        if share.get(field) is not None:
            raise BadRequest(f"Invalid input received: creating a share with {what} ({field}) is not supported by "
                             "this cloud.", kind="InvalidInput")
    if "size" not in share:
        raise BadRequest("Invalid input received: Share size 'None' must be an integer and greater than 0.")
    name = share.get("name", share.get("display_name"))
    description = share.get("description", share.get("display_description"))
    zone = share.get("availability_zone")
    if zone is not None and not isinstance(zone, str):
        raise BadRequest("Invalid input received: availability_zone must be a string.")
    return {"size": size(share["size"]), "share_proto": share.get("share_proto"), "name": text(name, "name"),
            "description": text(description, "description"), "metadata": metadata(share.get("metadata")),
            "is_public": boolean(share.get("is_public", False), "is_public"), "availability_zone": zone,
            "share_type": type_ref(share.get("share_type", share.get("volume_type")))}


def type_ref(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRequest("Invalid input received: share_type must be a string.")
    return value


def update(body: Any) -> dict:
    """The changes of an update: name and description (or their display_* names)."""
    share = body_of(body, "share")
    changes = {}
    for field, alias in (("name", "display_name"), ("description", "display_description")):
        for key in (alias, field):  # the plain name wins when both are sent
            if key in share:
                changes[field] = text(share[key], field)
    if "is_public" in share and boolean(share["is_public"], "is_public"):
        raise BadRequest("Invalid input received: public shares are not supported by this cloud.")
    return changes


def metadata_body(body: Any, key: str = "metadata") -> dict:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest("Malformed request body")
    return body[key]


def action_args(body: Any) -> tuple[str, Any]:
    """(name, arguments) of a share action: an object with exactly one key."""
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    return next(iter(body.items()))


def access(args: Any) -> tuple[Any, Any, Any]:
    """(access_type, access_to, access_level) of allow_access."""
    if not isinstance(args, dict):
        raise BadRequest("Malformed request body")
    for field in ("access_type", "access_to"):
        if not isinstance(args.get(field), str):
            raise BadRequest(f"Invalid input received: '{field}' is a required string.", kind="InvalidInput")
    level = args.get("access_level")
    if level is not None and not isinstance(level, str):
        raise BadRequest(f"Invalid or unsupported share access level: {str(level)[:64]}.")
    return args["access_type"], args["access_to"], level


def access_id(args: Any) -> str:
    if not isinstance(args, dict) or not isinstance(args.get("access_id"), str):
        raise BadRequest("Invalid input received: 'access_id' is a required string.", kind="InvalidInput")
    return args["access_id"]


def list_query(params) -> ShareQuery:
    """A share list's query string: ``name``, ``status``, ``all_tenants``, ``limit``,
    ``offset``, ``sort_key``, ``sort_dir`` (other filters match nothing Manila keeps here and
    are ignored)."""
    q = ShareQuery()
    limit = parse_int(params.get("limit", str(MAX_LIMIT)), "limit", None, message="limit param must be an integer")
    if limit < 0:
        raise BadRequest("limit param must be positive")
    q.limit = min(limit, MAX_LIMIT)
    q.offset = parse_int(params.get("offset", "0"), "offset", None, message="offset param must be an integer")
    if not 0 <= q.offset <= INT32_MAX:
        raise BadRequest("offset param must be positive")
    q.name = params.get("name", params.get("display_name"))
    q.status = params.get("status")
    if "all_tenants" in params:
        q.all_tenants = boolean(params["all_tenants"], "all_tenants")
    q.sort_key = params.get("sort_key", "created_at")
    q.sort_dir = params.get("sort_dir", "desc")
    if q.sort_key not in SORT_KEYS:
        raise BadRequest(f"Wrong sorting key provided - '{q.sort_key[:64]}'.")
    if q.sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Wrong sorting data provided: sort key is '{q.sort_key}' and sort direction is "
                         f"'{q.sort_dir[:64]}'.")
    return q
