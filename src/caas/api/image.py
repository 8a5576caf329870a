"""Image v2 over HTTP (mounted at /image): version discovery, schemas, images, image data
(streamed both ways), tags, deactivate/reactivate and members, in Glance's shapes.

Errors are JSON, ``{"code": N, "title": "...", "message": "..."}`` (Glance renders webob errors
by the Accept header; openstacksdk reads ``message`` from a flat object like this one).
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Iterator
from urllib.parse import urlencode

from starlette.responses import Response, StreamingResponse

from caas.api.framework import BodyRules, Call, ServiceAPI, empty, json_response
from caas.errors import BadRequest, CaasError, NotFound
from caas.image import schema as S
from caas.image.models import Image, ImageMember
from caas.image.service import SORT_KEYS, Change, ImageQuery
from caas.image.store import READ_BLOCK
from caas.numbers import parse_int

# What we implement is Glance's v2 up to 2.7 (hidden images, multihash), without import (2.6's
# addition, announced per image by a header we never send), stores, caches or tasks.
VERSIONS = [("2.7", "CURRENT")] + [(f"2.{n}", "SUPPORTED") for n in range(6, -1, -1)]
PATCH_TYPES = {"application/openstack-images-v2.1-json-patch": 10,
               "application/openstack-images-v2.0-json-patch": 4}
OCTET = "application/octet-stream"
PAGING = ("limit", "marker", "sort", "sort_key", "sort_dir", "tag", "member_status", "visibility")


def glance_error(exc: CaasError) -> dict:
    return {"code": exc.status, "title": exc.title, "message": exc.message}


def _iso(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(image: Image) -> dict:
    view: dict[str, Any] = dict(image.extra)
    href = f"/v2/images/{image.id}"
    view.update({
        "name": image.name, "disk_format": image.disk_format, "container_format": image.container_format,
        "visibility": image.visibility, "size": image.size, "virtual_size": image.virtual_size,
        "status": image.status, "checksum": image.checksum, "protected": image.protected,
        "min_ram": image.min_ram, "min_disk": image.min_disk, "owner": image.owner, "os_hidden": image.os_hidden,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value, "id": image.id,
        "created_at": _iso(image.created_at), "updated_at": _iso(image.updated_at), "tags": image.tag_list,
        "self": href, "file": f"{href}/file", "schema": "/v2/schemas/image",
    })
    return view


def member_view(m: ImageMember) -> dict:
    return {"created_at": _iso(m.created_at), "image_id": m.image_id, "member_id": m.member,
            "schema": "/v2/schemas/member", "status": m.status, "updated_at": _iso(m.updated_at)}


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
            if value not in (*S.MEMBER_STATUSES, "all"):
                raise BadRequest(f"Invalid status: {value}")
            q.member_status = value
        elif key == "visibility":
            if value not in (*S.VISIBILITIES, "all"):
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


def _image_size(call: Call) -> int | None:
    raw = call.header("x-openstack-image-size")
    if raw is None:
        return None
    return parse_int(raw, "X-OpenStack-Image-Size", 0, message="Invalid or missing image size in request headers.")


def _blocks(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while block := fh.read(READ_BLOCK):
            yield block


def build(cloud) -> ServiceAPI:
    images = cloud.image
    # Glance's JSON deserializer reads a body whatever its type (PATCH and uploads name theirs)
    api = ServiceAPI("image", glance_error, max_body=cloud.settings.max_body_bytes,
                     validate_token=cloud.tokens.validate, body_rules=BodyRules(types=None))

    # ---- version discovery (no token needed, as in Glance) -------------------------------
    def versions_doc(call: Call) -> dict:
        href = f"{call.base_url}/image/v2/"
        return {"versions": [{"id": f"v{v}", "status": status, "links": [{"rel": "self", "href": href}]}
                             for v, status in VERSIONS]}

    @api.route("GET", "/", inline=True)
    def versions(call: Call) -> Response:
        return json_response(versions_doc(call), status=300)

    @api.route("GET", "/versions", inline=True)
    def versions_explicit(call: Call) -> Response:
        return json_response(versions_doc(call))

    # ---- schemas -------------------------------------------------------------------------
    schemas = {"image": S.IMAGE_SCHEMA, "images": S.IMAGES_SCHEMA, "member": S.MEMBER_SCHEMA,
               "members": S.MEMBERS_SCHEMA}

    @api.route("GET", "/v2/schemas/{name}")
    def schema(call: Call) -> Response:
        call.auth()
        if call.params["name"] not in schemas:
            raise NotFound("The resource could not be found.")
        return json_response(schemas[call.params["name"]])

    # ---- images --------------------------------------------------------------------------
    @api.route("GET", "/v2/images")
    def list_images(call: Call) -> Response:
        ctx = call.project_auth()
        rows, next_marker = images.list_images(ctx, parse_query(call))
        params = [(k, v) for k, v in call.query.multi_items() if k != "marker"]
        body: dict[str, Any] = {"images": [image_view(i) for i in rows], "first": "/v2/images",
                                "schema": "/v2/schemas/images"}
        if params:
            body["first"] += "?" + urlencode(params)
        if next_marker:
            body["next"] = "/v2/images?" + urlencode(params + [("marker", next_marker)])
        return json_response(body)

    @api.route("POST", "/v2/images")
    def create_image(call: Call) -> Response:
        ctx = call.project_auth()
        if call.body is None:
            raise BadRequest("Body expected in request.")
        image = images.create_image(ctx, call.body)
        return json_response(image_view(image), status=201,
                             headers={"Location": f"{call.base_url}/image/v2/images/{image.id}"})

    @api.route("GET", "/v2/images/{image_id}")
    def show_image(call: Call) -> Response:
        return json_response(image_view(images.get_image(call.project_auth(), call.params["image_id"])))

    @api.route("PATCH", "/v2/images/{image_id}", media_types=tuple(PATCH_TYPES))
    def update_image(call: Call) -> Response:
        ctx = call.project_auth()
        draft = PATCH_TYPES[call.header("content-type").split(";")[0].strip().lower()]
        if call.body is None:
            raise BadRequest("Body expected in request.")
        image = images.update_image(ctx, call.params["image_id"], parse_changes(call.body, draft))
        return json_response(image_view(image))

    @api.route("DELETE", "/v2/images/{image_id}")
    def delete_image(call: Call) -> Response:
        images.delete_image(call.project_auth(), call.params["image_id"])
        return empty()

    @api.route("POST", "/v2/images/{image_id}/actions/deactivate")
    def deactivate(call: Call) -> Response:
        images.set_active(call.project_auth(), call.params["image_id"], False)
        return empty()

    @api.route("POST", "/v2/images/{image_id}/actions/reactivate")
    def reactivate(call: Call) -> Response:
        images.set_active(call.project_auth(), call.params["image_id"], True)
        return empty()

    # ---- data ----------------------------------------------------------------------------
    @api.route("PUT", "/v2/images/{image_id}/file", raw_body=True, media_types=(OCTET,))
    def upload(call: Call) -> Response:
        ctx = call.project_auth()
        images.upload(ctx, call.params["image_id"], call.stream(), _image_size(call))
        return empty()

    @api.route("GET", "/v2/images/{image_id}/file")
    def download(call: Call) -> Response:
        image, fh = images.open_data(call.project_auth(), call.params["image_id"])
        if fh is None:
            return empty()  # Glance: 204 when an image has no data
        headers = {"Content-Length": str(os.fstat(fh.fileno()).st_size), "Content-MD5": image.checksum}
        if call.request.method == "HEAD":
            fh.close()
            return Response(b"", headers=headers, media_type=OCTET)
        return StreamingResponse(_blocks(fh), headers=headers, media_type=OCTET)

    # ---- tags ----------------------------------------------------------------------------
    @api.route("PUT", "/v2/images/{image_id}/tags/{tag}")
    def add_tag(call: Call) -> Response:
        images.add_tag(call.project_auth(), call.params["image_id"], call.params["tag"])
        return empty()

    @api.route("DELETE", "/v2/images/{image_id}/tags/{tag}")
    def remove_tag(call: Call) -> Response:
        images.remove_tag(call.project_auth(), call.params["image_id"], call.params["tag"])
        return empty()

    # ---- members -------------------------------------------------------------------------
    @api.route("GET", "/v2/images/{image_id}/members")
    def list_members(call: Call) -> Response:
        rows = images.list_members(call.project_auth(), call.params["image_id"])
        return json_response({"members": [member_view(m) for m in rows], "schema": "/v2/schemas/members"})

    @api.route("POST", "/v2/images/{image_id}/members")
    def add_member(call: Call) -> Response:
        ctx = call.project_auth()
        if not isinstance(call.body, dict) or "member" not in call.body:
            raise BadRequest("Member to be added not specified")
        return json_response(member_view(images.add_member(ctx, call.params["image_id"], call.body["member"])))

    @api.route("GET", "/v2/images/{image_id}/members/{member_id}")
    def show_member(call: Call) -> Response:
        return json_response(member_view(images.get_member(call.project_auth(), call.params["image_id"],
                                                           call.params["member_id"])))

    @api.route("PUT", "/v2/images/{image_id}/members/{member_id}")
    def update_member(call: Call) -> Response:
        ctx = call.project_auth()
        if not isinstance(call.body, dict) or "status" not in call.body:
            raise BadRequest("Status not specified")
        member = images.update_member(ctx, call.params["image_id"], call.params["member_id"], call.body["status"])
        return json_response(member_view(member))

    @api.route("DELETE", "/v2/images/{image_id}/members/{member_id}")
    def delete_member(call: Call) -> Response:
        images.delete_member(call.project_auth(), call.params["image_id"], call.params["member_id"])
        return empty()

    return api
