"""The image's attributes as Glance defines them: the formats, visibilities and statuses, which
attributes a client may write, and ``check_core``/``check_property``/``check_name``, which hold
any value to them (BadRequest, or Forbidden for a name no client may set) before it reaches the
database. The API checks a new image's attributes with them, the service a change's. (The
JSON schemas Image v2 serves at ``/v2/schemas/image`` describe the same attributes; they are
the HTTP layer's.)"""

from __future__ import annotations

import re
from typing import Any

from caas.errors import BadRequest, Forbidden

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("community", "public", "private", "shared")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete",
            "deactivated")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
ID_PATTERN = r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
MAX_INT = 2**31 - 1  # min_ram and min_disk are 32-bit columns

# Attributes a client may set (create and PATCH); the rest of CORE is computed.
WRITABLE = ("name", "visibility", "protected", "os_hidden", "min_ram", "min_disk", "disk_format",
            "container_format", "owner", "tags")
# Never settable: Glance answers 403 "read-only" or "reserved" for these.
READ_ONLY = ("created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url", "self",
             "file", "schema", "id", "os_hash_algo", "os_hash_value", "stores", "locations")
RESERVED = ("location", "deleted", "deleted_at")
RESERVED_PREFIX = "os_glance"


def _fail(key: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid value for '{key}': {why}.")


def _string(key: str, value: Any, nullable: bool, max_length: int = 255) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise _fail(key, "must be a string" + (" or null" if nullable else ""))
    if len(value) > max_length:
        raise _fail(key, f"longer than {max_length} characters")


def check_core(key: str, value: Any) -> Any:
    """``value`` for the writable core attribute ``key``, checked against Glance's schema
    (strict JSON types: "true" is not a boolean, true is not an integer)."""
    if key in ("name", "owner"):
        _string(key, value, nullable=True)
    elif key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise _fail(key, "must be a boolean")
    elif key in ("min_ram", "min_disk"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, "must be an integer")
        if not 0 <= value <= MAX_INT:
            raise _fail(key, f"must be between 0 and {MAX_INT}")
    elif key == "visibility":
        if value not in VISIBILITIES:
            raise _fail(key, f"must be one of {', '.join(VISIBILITIES)}")
    elif key == "disk_format":
        if value is not None and value not in DISK_FORMATS:
            raise _fail(key, f"must be one of {', '.join(DISK_FORMATS)}")
    elif key == "container_format":
        if value is not None and value not in CONTAINER_FORMATS:
            raise _fail(key, f"must be one of {', '.join(CONTAINER_FORMATS)}")
    elif key == "tags":
        if not isinstance(value, list):
            raise _fail(key, "must be a list of strings")
        for tag in value:
            check_tag(tag)
        value = list(dict.fromkeys(value))  # Glance keeps a set
    else:  # pragma: no cover - callers only pass WRITABLE keys
        raise ValueError(key)
    return value


def check_tag(tag: Any) -> None:
    _string("tags", tag, nullable=False)


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not re.match(ID_PATTERN, value):
        raise _fail("id", "must be a UUID such as 0f9d8e7c-6b5a-4a3b-9c2d-1e0f9a8b7c6d")
    return value.lower()


def check_name(name: Any) -> None:
    """An attribute a client may name: a string that is not read-only or reserved (403)."""
    if not isinstance(name, str):
        raise BadRequest("Attribute names must be strings.")
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def check_property(key: str, value: Any) -> None:
    """An extra property: any name of up to 255 characters that is not read-only or reserved
    (those are 403, raised by the caller), with a string value."""
    if not isinstance(key, str) or not key or len(key) > 255:
        raise BadRequest("Custom property names must be 1 to 255 characters long.")
    if not isinstance(value, str):
        raise _fail(key, "extra properties must be strings")
