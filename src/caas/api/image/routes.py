"""Image v2's routes as one table (``ROUTES``) of module-level handlers: version discovery,
schemas, images, image data (streamed both ways), tags, deactivate/reactivate and members.
Handlers reach the image service through ``call.services`` (the cloud)."""

from __future__ import annotations

import os
from typing import BinaryIO, Iterator

from starlette.responses import Response, StreamingResponse

from caas import paging
from caas.api.framework import Call, Endpoint, empty, json_response
from caas.api.image import schemas as S
from caas.api.image import views as V
from caas.errors import BadRequest, NotFound
from caas.image.store import READ_BLOCK

OCTET = "application/octet-stream"


def _blocks(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while block := fh.read(READ_BLOCK):
            yield block


# ---- version discovery (no token needed, as in Glance) -------------------------------------
def versions(call: Call) -> Response:
    return json_response(V.versions_doc(call), status=300)


def versions_explicit(call: Call) -> Response:
    return json_response(V.versions_doc(call))


def schema(call: Call) -> Response:
    call.auth()
    if call.params["name"] not in V.SCHEMAS:
        raise NotFound("The resource could not be found.")
    return json_response(V.SCHEMAS[call.params["name"]])


# ---- images --------------------------------------------------------------------------------
def list_images(call: Call) -> Response:
    ctx = call.project_auth()
    rows, next_marker = call.services.image.list_images(ctx, S.parse_query(call))
    body = {"images": [V.image(i) for i in rows], "first": paging.href("/v2/images", call.query),
            "schema": "/v2/schemas/images"}
    if next_marker:
        body["next"] = paging.href("/v2/images", call.query, marker=next_marker)
    return json_response(body)


def create_image(call: Call) -> Response:
    ctx = call.project_auth()
    if call.body is None:
        raise BadRequest("Body expected in request.")
    image = call.services.image.create_image(ctx, S.parse_image(call.body))
    return json_response(V.image(image), status=201, headers={"Location": f"{call.base_url}/image/v2/images/{image.id}"})


def show_image(call: Call) -> Response:
    return json_response(V.image(call.services.image.get_image(call.project_auth(), call.params["image_id"])))


def update_image(call: Call) -> Response:
    ctx = call.project_auth()
    draft = S.PATCH_TYPES[call.header("content-type").split(";")[0].strip().lower()]
    if call.body is None:
        raise BadRequest("Body expected in request.")
    image = call.services.image.update_image(ctx, call.params["image_id"], S.parse_changes(call.body, draft))
    return json_response(V.image(image))


def delete_image(call: Call) -> Response:
    call.services.image.delete_image(call.project_auth(), call.params["image_id"])
    return empty()


def deactivate(call: Call) -> Response:
    call.services.image.set_active(call.project_auth(), call.params["image_id"], False)
    return empty()


def reactivate(call: Call) -> Response:
    call.services.image.set_active(call.project_auth(), call.params["image_id"], True)
    return empty()


# ---- data ----------------------------------------------------------------------------------
def upload(call: Call) -> Response:
    ctx = call.project_auth()
    call.services.image.upload(ctx, call.params["image_id"], call.stream(), S.image_size(call))
    return empty()


def download(call: Call) -> Response:
    image, fh = call.services.image.open_data(call.project_auth(), call.params["image_id"])
    if fh is None:
        return empty()  # Glance: 204 when an image has no data
    headers = {"Content-Length": str(os.fstat(fh.fileno()).st_size), "Content-MD5": image.checksum}
    if call.request.method == "HEAD":
        fh.close()
        return Response(b"", headers=headers, media_type=OCTET)
    return StreamingResponse(_blocks(fh), headers=headers, media_type=OCTET)


# ---- tags ----------------------------------------------------------------------------------
def add_tag(call: Call) -> Response:
    call.services.image.add_tag(call.project_auth(), call.params["image_id"], call.params["tag"])
    return empty()


def remove_tag(call: Call) -> Response:
    call.services.image.remove_tag(call.project_auth(), call.params["image_id"], call.params["tag"])
    return empty()


# ---- members -------------------------------------------------------------------------------
def list_members(call: Call) -> Response:
    rows = call.services.image.list_members(call.project_auth(), call.params["image_id"])
    return json_response({"members": [V.member(m) for m in rows], "schema": "/v2/schemas/members"})


def add_member(call: Call) -> Response:
    ctx = call.project_auth()
    if not isinstance(call.body, dict) or "member" not in call.body:
        raise BadRequest("Member to be added not specified")
    return json_response(V.member(call.services.image.add_member(ctx, call.params["image_id"], call.body["member"])))


def show_member(call: Call) -> Response:
    found = call.services.image.get_member(call.project_auth(), call.params["image_id"], call.params["member_id"])
    return json_response(V.member(found))


def update_member(call: Call) -> Response:
    ctx = call.project_auth()
    if not isinstance(call.body, dict) or "status" not in call.body:
        raise BadRequest("Status not specified")
    p = call.params
    return json_response(V.member(call.services.image.update_member(ctx, p["image_id"], p["member_id"],
                                                                    call.body["status"])))


def delete_member(call: Call) -> Response:
    call.services.image.delete_member(call.project_auth(), call.params["image_id"], call.params["member_id"])
    return empty()


ROUTES = [
    Endpoint("GET", "/", versions, inline=True),
    Endpoint("GET", "/versions", versions_explicit, inline=True),
    Endpoint("GET", "/v2/schemas/{name}", schema),
    Endpoint("GET", "/v2/images", list_images),
    Endpoint("POST", "/v2/images", create_image),
    Endpoint("GET", "/v2/images/{image_id}", show_image),
    Endpoint("PATCH", "/v2/images/{image_id}", update_image, media_types=tuple(S.PATCH_TYPES)),
    Endpoint("DELETE", "/v2/images/{image_id}", delete_image),
    Endpoint("POST", "/v2/images/{image_id}/actions/deactivate", deactivate),
    Endpoint("POST", "/v2/images/{image_id}/actions/reactivate", reactivate),
    Endpoint("PUT", "/v2/images/{image_id}/file", upload, raw_body=True, media_types=(OCTET,)),
    Endpoint("GET", "/v2/images/{image_id}/file", download),
    Endpoint("PUT", "/v2/images/{image_id}/tags/{tag}", add_tag),
    Endpoint("DELETE", "/v2/images/{image_id}/tags/{tag}", remove_tag),
    Endpoint("GET", "/v2/images/{image_id}/members", list_members),
    Endpoint("POST", "/v2/images/{image_id}/members", add_member),
    Endpoint("GET", "/v2/images/{image_id}/members/{member_id}", show_member),
    Endpoint("PUT", "/v2/images/{image_id}/members/{member_id}", update_member),
    Endpoint("DELETE", "/v2/images/{image_id}/members/{member_id}", delete_member),
]
