"""List paging, one way for every API: which items make a page (``page``: after a marker, or
before it for Neutron's ``page_reverse``, skipping an offset, at most a limit), and the address
of the next or previous page (``href``: the request's own query with the page's marker, as
Cinder's and Glance's ``_get_next_link`` and Neutron's pagination helper write it, every
parameter kept, repeated ones too, the marker last).

The ground floor beside ``errors`` and ``context``: services page with ``page`` (they never see
a URL); the HTTP modules write links with ``href``."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")


def page(items: Sequence[T], marker: str | None, limit: int | None, *, key: Callable[[T], str] = lambda i: i.id,
         offset: int = 0, reverse: bool = False, missing: Callable[[str], Exception] | None = None,
         max_limit: int | None = None) -> tuple[list[T], bool]:
    """The page of ``items`` (in list order) that ``marker``, ``limit`` and ``offset`` name,
    and whether more items follow it (the page is full and cut short).

    The page starts after the item whose ``key`` is ``marker`` (from the first item when there
    is no marker), less the first ``offset`` items, and holds at most ``limit`` (None: no
    limit). ``max_limit`` (a server's cap, as Nova's ``[api] max_limit``) caps ``limit`` and
    stands for it when it is None. ``reverse``: the items before the marker (every item
    without one), the last ``limit`` of them. A marker that is no item's key raises
    ``missing(marker)`` (with no ``missing``: the page starts at the first item, as with no
    marker). A marker that may have been filtered out of ``items`` pages from where it would
    be: the caller puts it in ``items``, in its place."""
    if max_limit is not None:
        limit = max_limit if limit is None else min(limit, max_limit)
    start = 0
    if marker:
        keys = [key(i) for i in items]
        if marker in keys:
            start = keys.index(marker) + (0 if reverse else 1)
        elif missing is not None:
            raise missing(marker)
        else:
            marker = None
    if reverse:
        before = list(items[:start] if marker else items)
        window = before[-limit:] if limit else ([] if limit == 0 else before)
        return window, len(before) > len(window)
    rest = list(items[start + offset:])
    window = rest if limit is None else rest[:limit]
    return window, len(rest) > len(window)


def href(url: str, query, marker: str | None = None, drop: Iterable[str] = (),
         extra: Iterable[tuple[str, str]] = ()) -> str:
    """``url`` with ``query`` (a Starlette QueryParams) less its ``marker`` and the ``drop``
    keys, then ``marker=`` (when given) and the ``extra`` pairs. No query at all: the bare url."""
    dropped = {"marker", *drop}
    pairs = [(k, v) for k, v in query.multi_items() if k not in dropped]
    if marker is not None:
        pairs.append(("marker", marker))
    pairs.extend(extra)
    return f"{url}?{urlencode(pairs)}" if pairs else url
