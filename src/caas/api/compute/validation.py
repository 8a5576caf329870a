"""The request checks the compute noun modules share, written after Nova's JSON schemas
(``nova/api/validation``) with their messages: ``wrapper``, ``keys``, ``nova_name``,
``nova_text``, ``utf8``, ``query_uint``, ``invalid`` and ``not_of_type``."""

from __future__ import annotations

import unicodedata

from caas.api.framework import Call
from caas.errors import BadRequest
from caas.numbers import INT32_MAX, parse_int


def shown(value) -> str:
    return value if isinstance(value, str) else repr(value)


def invalid(field: str, value, message: str) -> BadRequest:
    """Nova's schema error: "Invalid input for field/attribute F. Value: V. M"."""
    return BadRequest(f"Invalid input for field/attribute {field}. Value: {shown(value)[:300]}. {message}")


def not_of_type(field: str, value, *types: str) -> BadRequest:
    return invalid(field, value, f"{shown(value)[:100]!r} is not of type {', '.join(repr(t) for t in types)}")


def unexpected(extra: list[str]) -> str:
    names = ", ".join(repr(e) for e in extra)
    return f"Additional properties are not allowed ({names} {'were' if len(extra) > 1 else 'was'} unexpected)"


def wrapper(body, key: str) -> dict:
    """``body`` must be ``{key: {...}}`` and nothing else (Nova's schemas refuse any other
    top-level key); the inner object."""
    if not isinstance(body, dict):
        raise BadRequest(f"{shown(body)[:100]!r} is not of type 'object'" if body is not None
                         else "The request body is missing or empty.")
    if key not in body:
        raise BadRequest(f"'{key}' is a required property")
    extra = sorted(k for k in body if k != key)
    if extra:
        raise BadRequest(unexpected(extra))
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
        raise invalid(field, obj, unexpected(extra))
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
    return min(value, INT32_MAX)


def version_at_least(call: Call, minor: int) -> bool:
    return call.version is not None and call.version >= (2, minor)
