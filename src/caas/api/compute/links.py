"""Compute's links, as Nova writes them: an item's ``self`` (on the API the request came in on,
v2.1 or the legacy v2) and ``bookmark`` links, and the ``next`` link of a list page."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from caas.api.compute import api_root
from caas.api.framework import Call
from caas.compute.common import MAX_LIMIT
from caas.numbers import decimal


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
