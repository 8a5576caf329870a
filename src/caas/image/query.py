"""How an image list is chosen, as SQL: the query a list request makes (``ImageQuery``), the
conditions of what the caller may see and asked for (Glance's filters: ``in:``/``eq:`` on plain
attributes, time comparisons, size ranges, properties, tags), the sort columns with Glance's
tie-breakers, and the keyset condition of the rows after a marker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, or_

from caas.context import AuthContext
from caas.errors import BadRequest
from caas.image.models import Image, ImageMember, ImageProperty, ImageTag
from caas.numbers import parse_int

# Glance's limit_param_default and api_limit_max.
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")


@dataclass
class ImageQuery:
    """A list request: filters (already split from the query string), sorting and paging."""

    filters: dict[str, str] = field(default_factory=dict)  # attribute or property -> value
    tags: list[str] = field(default_factory=list)
    visibility: str | None = None  # public/private/shared/community/all
    member_status: str = "accepted"
    sort: list[tuple[str, str]] = field(default_factory=list)  # (key, asc|desc)
    limit: int | None = None
    marker: str | None = None


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise BadRequest(f"Invalid value '{raw}' for '{name}' filter. Valid values are 'true' or 'false'.")
    return value == "true"


def _split_op(raw: str) -> tuple[str, str]:
    """Glance's ``op:value`` filter syntax, for the two operators it has on plain attributes; any
    other colon belongs to the value (so a name such as ``a:b`` can still be looked up)."""
    head, sep, tail = raw.partition(":")
    if sep and head in ("in", "eq"):
        return head, tail
    return "eq", raw


def _in_values(raw: str) -> list[str]:
    """``in:a,"b,c",d`` -> ['a', 'b,c', 'd'] (quotes protect commas, as in Glance)."""
    out, cur, quoted = [], [], False
    for ch in raw:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quoted:
        raise BadRequest("Invalid filter value: unbalanced quotes.")
    out.append("".join(cur))
    return out


_TIME_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__", "neq": "__ne__"}


def _time_filter(column, name: str, raw: str):
    op, sep, value = raw.partition(":")
    if not sep or op not in _TIME_OPS:
        op, value = "eq", raw
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f'Bad "{name}" query filter format. Use ISO 8601 DateTime notation.') from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return getattr(column, _TIME_OPS[op])(when)


def conditions(ctx: AuthContext, q: ImageQuery) -> list:
    """What a list shows: non-admins see their own, public and accepted shared images;
    community images only when asked for (``visibility=community`` or ``all``) or their own;
    hidden images only with ``os_hidden=true``; then the query's filters and tags."""
    project = ctx.project_id
    conds = []
    if not ctx.is_admin:
        member_conds = [ImageMember.image_id == Image.id, ImageMember.member == project]
        if q.member_status != "all":
            member_conds.append(ImageMember.status == q.member_status)
        conds.append(or_(Image.owner == project, Image.visibility.in_(("public", "community")),
                         and_(Image.visibility == "shared", exists().where(*member_conds))))
    if q.visibility:
        if q.visibility != "all":
            conds.append(Image.visibility == q.visibility)
    else:
        conds.append(or_(Image.owner == project, Image.visibility != "community"))
    return conds + _filters(dict(q.filters)) + [exists().where(ImageTag.image_id == Image.id, ImageTag.value == tag)
                                                 for tag in q.tags]


def _filters(filters: dict[str, str]) -> list:
    """The conditions of Glance's filters (``filters`` is consumed): attributes, then any
    other name as a property."""
    conds = [Image.os_hidden.is_(_bool("os_hidden", filters.pop("os_hidden", "false")))]
    if "protected" in filters:
        conds.append(Image.protected.is_(_bool("protected", filters.pop("protected"))))
    for key in ("size_min", "size_max"):
        if key in filters:
            bound = parse_int(filters.pop(key), key, None, message="Unable to filter on a range with a "
                                                                  "non-numeric value.")
            conds.append(Image.size >= bound if key == "size_min" else Image.size <= bound)
    for key in ("created_at", "updated_at"):
        if key in filters:
            conds.append(_time_filter(getattr(Image, key), key, filters.pop(key)))
    for key in ("name", "id", "status", "container_format", "disk_format"):
        if key in filters:
            op, value = _split_op(filters.pop(key))
            column = getattr(Image, key)
            conds.append(column.in_(_in_values(value)) if op == "in" else column == value)
    for key in ("owner", "checksum", "os_hash_value", "os_hash_algo"):
        if key in filters:
            conds.append(getattr(Image, key) == filters.pop(key))
    for name, value in filters.items():  # anything else is a property
        conds.append(exists().where(ImageProperty.image_id == Image.id, ImageProperty.name == name,
                                    ImageProperty.value == value))
    return conds


def sort_columns(sort: list[tuple[str, str]]) -> list[tuple[Any, str]]:
    """(column, asc|desc) of a list's order: the asked keys (default ``created_at`` desc),
    then ``created_at`` and ``id`` as tie-breakers in the common direction (desc if mixed)."""
    sort = list(sort) or [("created_at", "desc")]
    tie_dir = sort[0][1] if len({d for _, d in sort}) == 1 else "desc"
    for key in ("created_at", "id"):
        if key not in [k for k, _ in sort]:
            sort.append((key, tie_dir))
    return [(_sort_column(k), d) for k, d in sort]


def page_size(limit: int | None) -> int:
    return min(limit if limit is not None else DEFAULT_LIMIT, MAX_LIMIT)


def _sort_column(key: str):
    column = getattr(Image, key)
    # NULLs sort as the lowest value on both backends, and compare in the page condition.
    if key in ("name", "container_format", "disk_format"):
        return func.coalesce(column, "")
    if key == "size":
        return func.coalesce(column, -1)
    return column


def after(columns: list, values) -> Any:
    """Rows strictly after the marker (whose sort values are ``values``) in the sort order
    (keyset paging)."""
    alternatives = []
    for i, (column, direction) in enumerate(columns):
        ties = [columns[j][0] == values[j] for j in range(i)]
        step = column > values[i] if direction == "asc" else column < values[i]
        alternatives.append(and_(*ties, step))
    return or_(*alternatives)
