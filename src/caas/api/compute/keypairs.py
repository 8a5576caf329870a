"""Compute key pairs over HTTP: ``/v2.1/os-keypairs`` in Nova's shapes for microversions 2.1
to 2.60: ``type`` from 2.2 (and 201/204 instead of 200/202), ``user_id`` for admins from 2.10,
``limit``/``marker`` paging with ``keypairs_links`` from 2.35."""

from __future__ import annotations

import re

from starlette.responses import Response

from caas.api.compute.links import collection_links
from caas.api.compute.validation import (invalid, keys, nova_name, not_of_type, query_uint, utf8, version_at_least,
                                         wrapper)
from caas.api.framework import Call, Endpoint, empty, json_response
from caas.compute.common import isotime_us
from caas.compute.keypairs import keypair_number

# Nova's keypair_name_special_chars (before 2.92).
_NAME = re.compile(r"^[_\- a-zA-Z0-9]+$")


def _name(value) -> str:
    name = nova_name(value)
    if not _NAME.match(name):
        raise invalid("name", name, f"{name[:50]!r} does not match '^[_\\- a-zA-Z0-9]+$'")
    return name


def _brief(call: Call, k) -> dict:
    out = {"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint}
    if version_at_least(call, 2):
        out["type"] = k.type
    return out


def _detail(call: Call, k) -> dict:
    out = {**_brief(call, k), "user_id": k.user_id, "created_at": isotime_us(k.created_at), "deleted": False,
           "deleted_at": None, "id": keypair_number(k), "updated_at": None}
    return out


def _user_id(call: Call) -> str | None:
    """``?user_id=`` (admins, from 2.10; ignored before, as Nova)."""
    if not version_at_least(call, 10):
        return None
    values = call.query.getlist("user_id")
    return values[0] if values else None


def _keypairs(call: Call):
    return call.services.compute.keypairs



def list_keypairs(call: Call) -> Response:
    ctx = call.project_auth()
    paged = version_at_least(call, 35)
    limit = query_uint(call, "limit") if paged else None
    marker = call.query.get("marker") if paged else None
    rows = _keypairs(call).list_keypairs(ctx, user_id=_user_id(call), limit=limit, marker=marker)
    body = {"keypairs": [{"keypair": _brief(call, k)} for k in rows]}
    if paged:
        more = collection_links(call, rows, "os-keypairs", lambda k: k.name)
        if more:
            body["keypairs_links"] = more
    return json_response(body)

def create_keypair(call: Call) -> Response:
    ctx = call.project_auth()
    body = wrapper(call.body, "keypair")
    allowed = {"name", "public_key"}
    if version_at_least(call, 2):
        allowed.add("type")
    if version_at_least(call, 10):
        allowed.add("user_id")
    keys(body, "keypair", allowed, ("name",))
    name = _name(body["name"])
    public_key = body.get("public_key")
    if "public_key" in body:
        if not isinstance(public_key, str):
            raise not_of_type("public_key", public_key, "string")
        utf8(public_key, "public_key")
    key_type = body.get("type", "ssh")
    if key_type not in ("ssh", "x509"):
        raise invalid("type", key_type, f"{key_type!r} is not one of ['ssh', 'x509']")
    user_id = body.get("user_id")
    if user_id is not None:
        if not isinstance(user_id, str):
            raise not_of_type("user_id", user_id, "string")
        if not 1 <= len(user_id) <= 64:
            raise invalid("user_id", user_id, "A user id is 1 to 64 characters.")
        utf8(user_id, "user_id")
    keypair, private_key = _keypairs(call).create_keypair(ctx, name, public_key=public_key, key_type=key_type,
                                                  user_id=user_id)
    out = {"name": keypair.name, "public_key": keypair.public_key, "fingerprint": keypair.fingerprint,
           "user_id": keypair.user_id}
    if private_key is not None:
        out["private_key"] = private_key
    if version_at_least(call, 2):
        out["type"] = keypair.type
    return json_response({"keypair": out}, status=201 if version_at_least(call, 2) else 200)

def show_keypair(call: Call) -> Response:
    ctx = call.project_auth()
    keypair = _keypairs(call).show_keypair(ctx, call.params["name"], user_id=_user_id(call))
    return json_response({"keypair": _detail(call, keypair)})

def delete_keypair(call: Call) -> Response:
    ctx = call.project_auth()
    _keypairs(call).delete_keypair(ctx, call.params["name"], user_id=_user_id(call))
    return empty(204 if version_at_least(call, 2) else 202)


ROUTES = [
    Endpoint("GET", "/v2.1/os-keypairs", list_keypairs),
    Endpoint("POST", "/v2.1/os-keypairs", create_keypair),
    Endpoint("GET", "/v2.1/os-keypairs/{name}", show_keypair),
    Endpoint("DELETE", "/v2.1/os-keypairs/{name}", delete_keypair),
]
