"""Glance's representation of images and members, the JSON schemas served at
``/v2/schemas/{image,images,member,members}`` (which describe the same attributes), and the
version document."""

from __future__ import annotations

from typing import Any

from caas.api.framework import Call
from caas.image.attributes import CONTAINER_FORMATS, DISK_FORMATS, ID_PATTERN, MEMBER_STATUSES, STATUSES, VISIBILITIES
from caas.image.models import Image, ImageMember

# What we implement is Glance's v2 up to 2.7 (hidden images, multihash), without import (2.6's
# addition, announced per image by a header we never send), stores, caches or tasks.
VERSIONS = [("2.7", "CURRENT")] + [(f"2.{n}", "SUPPORTED") for n in range(6, -1, -1)]


def versions_doc(call: Call) -> dict:
    href = f"{call.base_url}/image/v2/"
    return {"versions": [{"id": f"v{v}", "status": status, "links": [{"rel": "self", "href": href}]}
                         for v, status in VERSIONS]}


def _iso(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def image(image: Image) -> dict:
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


def member(m: ImageMember) -> dict:
    return {"created_at": _iso(m.created_at), "image_id": m.image_id, "member_id": m.member,
            "schema": "/v2/schemas/member", "status": m.status, "updated_at": _iso(m.updated_at)}


def _s(description: str, **kw) -> dict:
    return {"type": ["null", "string"], "description": description, **kw}


def _ro(schema: dict) -> dict:
    return {**schema, "readOnly": True}


PROPERTIES: dict[str, dict] = {
    "id": {"type": "string", "description": "An identifier for the image", "pattern": ID_PATTERN},
    "name": _s("Descriptive name for the image", maxLength=255),
    "status": _ro({"type": "string", "description": "Status of the image", "enum": list(STATUSES)}),
    "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": list(VISIBILITIES)},
    "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
    "checksum": _ro(_s("md5 hash of image contents.", maxLength=32)),
    "os_hash_algo": _ro(_s("Algorithm to calculate the os_hash_value", maxLength=64)),
    "os_hash_value": _ro(_s("Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
                            maxLength=128)),
    "owner": _s("Owner of the image", maxLength=255),
    "size": _ro({"type": ["null", "integer"], "description": "Size of image file in bytes"}),
    "virtual_size": _ro({"type": ["null", "integer"], "description": "Virtual size of image in bytes"}),
    "container_format": _s("Format of the container", enum=[None, *CONTAINER_FORMATS]),
    "disk_format": _s("Format of the disk", enum=[None, *DISK_FORMATS]),
    "created_at": _ro({"type": "string", "description": "Date and time of image registration"}),
    "updated_at": _ro({"type": "string", "description": "Date and time of the last image modification"}),
    "tags": {"type": "array", "description": "List of strings related to the image",
             "items": {"type": "string", "maxLength": 255}},
    "direct_url": _ro({"type": "string", "description": "URL to access the image file kept in external store"}),
    "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
    "self": _ro({"type": "string", "description": "An image self url"}),
    "file": _ro({"type": "string", "description": "An image file url"}),
    "schema": _ro({"type": "string", "description": "An image schema url"}),
}

IMAGE_SCHEMA: dict = {
    "name": "image",
    "properties": PROPERTIES,
    "additionalProperties": {"type": "string"},
    "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
              {"rel": "describedby", "href": "{schema}"}],
}

IMAGES_SCHEMA: dict = {
    "name": "images",
    "properties": {
        "images": {"type": "array", "items": IMAGE_SCHEMA},
        "schema": {"type": "string"},
        "first": {"type": "string"},
        "next": {"type": "string"},
    },
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}


MEMBER_SCHEMA: dict = {
    "name": "member",
    "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "image_id": {"type": "string", "description": "An identifier for the image", "pattern": ID_PATTERN},
        "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
        "status": {"type": "string", "description": "The status of this image member",
                   "enum": list(MEMBER_STATUSES)},
        "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
        "schema": {"type": "string", "readOnly": True},
    },
}

MEMBERS_SCHEMA: dict = {
    "name": "members",
    "properties": {"members": {"type": "array", "items": MEMBER_SCHEMA}, "schema": {"type": "string"}},
    "links": [{"rel": "describedby", "href": "{schema}"}],
}


SCHEMAS = {"image": IMAGE_SCHEMA, "images": IMAGES_SCHEMA, "member": MEMBER_SCHEMA, "members": MEMBERS_SCHEMA}
