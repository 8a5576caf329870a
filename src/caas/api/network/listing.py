"""Neutron-style lists over rendered resources: filter by any field (repeat a key for OR),
``fields=`` selection, ``sort_key``/``sort_dir``, ``limit``/``marker``/``page_reverse`` paging
with a ``next``/``previous`` link, and the tag filters."""

from __future__ import annotations

from typing import Any

from caas import paging
from caas.errors import BadRequest
from caas.numbers import parse_int

CONTROL = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "tags", "tags-any", "not-tags",
           "not-tags-any"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# oslo's bool_from_string(strict=True), which Neutron's convert_to_boolean uses on filters.
TRUE_TEXT = {"1", "t", "true", "on", "y", "yes"}
FALSE_TEXT = {"0", "f", "false", "off", "n", "no"}


def _boolean(text: str) -> bool:
    """A boolean filter's value as Neutron reads it; 400 InvalidInput for anything else."""
    word = text.strip().lower()
    if word in TRUE_TEXT or word in FALSE_TEXT:
        return word in TRUE_TEXT
    raise BadRequest(f"Invalid input for operation: '{text[:100]}' cannot be converted to boolean.",
                     kind="InvalidInput")


def _matches(item: dict, key: str, wanted: list[str]) -> bool:
    if key == "fixed_ips":
        for want in wanted:
            k, _, v = want.partition("=")
            if not any(_text(ip.get(k)) == v for ip in item.get("fixed_ips", [])):
                return False
        return True
    value = item[key]
    if isinstance(value, list):
        return any(_text(v) in wanted for v in value)
    if isinstance(value, bool):
        return value in {_boolean(w) for w in wanted}
    return _text(value) in wanted


def _tags(item: dict, params) -> bool:
    tags = set(item.get("tags") or [])
    for key, check in (("tags", lambda want: want <= tags), ("tags-any", lambda want: bool(want & tags)),
                       ("not-tags", lambda want: not want <= tags), ("not-tags-any", lambda want: not want & tags)):
        for raw in params.getlist(key):
            if not check({t for t in raw.split(",") if t}):
                return False
    return True


def _sort_key(value: Any):
    return (value is None, _text(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else value)


def apply(items: list[dict], params, url: str, collection: str) -> dict:
    """The response body for a list: ``{collection: [...], collection_links: [...]}``."""
    keys = [k for k in dict.fromkeys(params.keys()) if k not in CONTROL]
    result = [i for i in items
              if all(k not in i or _matches(i, k, params.getlist(k)) for k in keys) and _tags(i, params)]
    sort_keys = params.getlist("sort_key") or ["id"]
    sort_dirs = params.getlist("sort_dir")
    if sort_dirs and len(sort_dirs) != len(sort_keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same.", kind="HTTPBadRequest")
    for key in sort_keys:
        if items and key not in items[0]:
            raise BadRequest(f"{key} is an invalid attribute for sort_key.", kind="HTTPBadRequest")
    dirs = sort_dirs or ["asc"] * len(sort_keys)
    for d in dirs:
        if d not in ("asc", "desc"):
            raise BadRequest(f"{d} is an invalid value for sort_dir, valid values are 'asc' and 'desc'.",
                             kind="HTTPBadRequest")
    result.sort(key=lambda i: _text(i.get("id")))  # ties in the sort keys fall back on the id
    for key, d in reversed(list(zip(sort_keys, dirs))):
        result.sort(key=lambda i: _sort_key(i.get(key)), reverse=d == "desc")
    result, links = _page(result, params, url)
    fields = [f for raw in params.getlist("fields") for f in raw.split(",") if f]
    if fields:
        result = [{k: v for k, v in i.items() if k in fields} for i in result]
    body = {collection: result}
    if links:
        body[f"{collection}_links"] = links
    return body


def _page(result: list[dict], params, url: str) -> tuple[list[dict], list[dict]]:
    """The page ``limit``/``marker``/``page_reverse`` ask for (all of ``result`` without a
    limit, or with 0), and its ``next``/``previous`` links. A marker not in ``result`` is 400
    whenever a limit is given."""
    limit_raw = params.get("limit")
    if limit_raw in (None, ""):
        return result, []
    limit = parse_int(limit_raw, "limit", 0, message=f"Limit must be an integer 0 or greater and not "
                                                    f"'{limit_raw[:100]}'", kind="HTTPBadRequest")
    marker = params.get("marker")
    reverse = _text(params.get("page_reverse")).lower() == "true"
    window, _ = paging.page(result, marker, limit or None, key=lambda i: i["id"], reverse=reverse,
                            missing=lambda m: BadRequest(f"Marker {m} not found.", kind="HTTPBadRequest"))
    if not limit:
        return result, []
    links = []
    if window and len(window) == limit:
        links.append({"rel": "next" if not reverse else "previous",
                      "href": _link(url, params, window[-1 if not reverse else 0]["id"], reverse)})
    if marker and window:
        links.append({"rel": "previous" if not reverse else "next",
                      "href": _link(url, params, window[0 if not reverse else -1]["id"], not reverse)})
    return window, links


def _link(url: str, params, marker: str, reverse: bool) -> str:
    return paging.href(url, params, marker, drop=("page_reverse",), extra=[("page_reverse", "True")] if reverse else [])
