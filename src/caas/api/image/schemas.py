"""Requests of the Image v2 API: a new image's flat body (as a ``NewImage``), JSON-patch bodies
in both of Glance's drafts (as ``Change`` operations), the query of an image list (as an
``ImageQuery``) and the announced upload size."""

from __future__ import annotations

from typing import Any

from caas.api.framework import Call
from caas.errors import BadRequest
from caas.image import attributes as A
from caas.image.query import SORT_KEYS, ImageQuery
from caas.image.service import Change, NewImage
from caas.numbers import parse_int

# The PATCH media types, and the JSON-patch draft each speaks.
PATCH_TYPES = {"application/openstack-images-v2.1-json-patch": 10,
               "application/openstack-images-v2.0-json-patch": 4}


def parse_image(body: Any) -> NewImage:
    """Glance's flat image object: its writable core attributes (checked in ``A.WRITABLE``'s
    order), an ``id``, and any other key as a string property (in the body's order)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    attrs = dict(body)
    new_id = A.check_id(attrs.pop("id")) if "id" in attrs else None
    core = {key: A.check_core(key, attrs.pop(key)) for key in A.WRITABLE if key in attrs}
    for key, value in attrs.items():
        A.check_name(key)
        A.check_property(key, value)
    owner_given = "owner" in core
    core["tags"] = tuple(core.get("tags", ()))
    return NewImage(id=new_id, owner_given=owner_given, properties=tuple(attrs.items()), **core)


def _pointer(path: Any) -> tuple[str, str | None]:
    """The attribute a JSON pointer names, and the list position for ``/tags/N`` (or ``-``,
    the end): jsonpatch writes those when it diffs tag lists (openstacksdk's ``update_image`` on
    an image object). Nothing else on an image has a second level (400)."""
    if not isinstance(path, str):
        raise BadRequest("The 'path' of a change must be a string.")
    if not path.startswith("/"):
        raise BadRequest(f'Pointer `{path}` does not start with "/".')
    tokens = path[1:].split("/")
    if not all(t.strip() for t in tokens) or len(tokens) > 2 or (len(tokens) == 2 and tokens[0] != "tags"):
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    for token in tokens:
        if "~" in token.replace("~0", "").replace("~1", ""):
            raise BadRequest(f'Pointer `{path}` contains "~" not part of a recognized escape sequence.')
    name, *index = [t.replace("~1", "/").replace("~0", "~").strip() for t in tokens]
    return name, index[0] if index else None


def parse_changes(body: Any, draft: int) -> list[Change]:
    """Glance's JSON-patch bodies: draft 10 ({"op", "path", "value"}, the v2.1 media type) and
    draft 4 ({"add"|"replace"|"remove": path, "value"}, v2.0)."""
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise BadRequest("Operations must be JSON objects.")
        if draft == 10:
            op = raw.get("op")
            if op not in ("add", "replace", "remove"):
                raise BadRequest(f"Invalid operation: `{op}`. It must be one of the following: add, replace, remove.")
            if "path" not in raw:
                raise BadRequest("Unable to find 'path' in JSON Schema change")
            path = raw["path"]
        else:
            ops = [k for k in ("add", "replace", "remove") if k in raw]
            if len(ops) != 1:
                raise BadRequest('Operation objects must contain exactly one member named "add", "remove", '
                                 'or "replace".')
            op, path = ops[0], raw[ops[0]]
        if op != "remove" and "value" not in raw:
            raise BadRequest(f'Operation "{op}" requires a member named "value".')
        name, index = _pointer(path)
        changes.append(Change(op, name, raw.get("value"), strict_add=draft == 4, index=index))
    return changes


def parse_query(call: Call) -> ImageQuery:
    q = ImageQuery()
    sort_keys: list[str] = []
    sort_dirs: list[str] = []
    new_sort = None
    for key, value in call.query.multi_items():
        if key == "limit":
            q.limit = parse_int(value, "limit", None, message="limit param must be an integer")
            if q.limit < 0:
                raise BadRequest("limit param must be positive")
        elif key == "marker":
            q.marker = value
        elif key == "tag":
            q.tags.append(value.strip())
        elif key == "sort_key":
            sort_keys.append(value.strip())
        elif key == "sort_dir":
            sort_dirs.append(value.strip())
        elif key == "sort":
            new_sort = value
        elif key == "member_status":
            if value not in (*A.MEMBER_STATUSES, "all"):
                raise BadRequest(f"Invalid status: {value}")
            q.member_status = value
        elif key == "visibility":
            if value not in (*A.VISIBILITIES, "all"):
                raise BadRequest(f"Invalid visibility value: {value}")
            q.visibility = value
        elif key == "changes-since":
            raise BadRequest('The "changes-since" filter is no longer available on v2.')
        else:
            q.filters[key] = value
    if new_sort is not None:
        if sort_keys or sort_dirs:
            raise BadRequest("Old and new sorting syntax cannot be combined")
        for part in new_sort.split(","):
            key, _, direction = part.partition(":")
            sort_keys.append(key.strip())
            sort_dirs.append(direction.strip() or "desc")
    for key in sort_keys:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}.")
    for direction in sort_dirs:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    if len(sort_dirs) > 1 and len(sort_dirs) != len(sort_keys):
        raise BadRequest("Number of sort dirs does not match the number of sort keys")
    if len(sort_dirs) <= 1:
        sort_dirs = (sort_dirs or ["desc"]) * len(sort_keys)
    q.sort = list(zip(sort_keys, sort_dirs))
    return q


def image_size(call: Call) -> int | None:
    raw = call.header("x-openstack-image-size")
    if raw is None:
        return None
    return parse_int(raw, "X-OpenStack-Image-Size", 0, message="Invalid or missing image size in request headers.")
