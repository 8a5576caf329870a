"""Identity v3's credentials (``/v3/credentials``), EC2 credentials
(``/v3/users/{id}/credentials/OS-EC2``) and domain configuration (``/v3/domains/{id}/config``,
``/v3/domains/config/.../default``): their bodies, representations and route table
(``ROUTES``), over ``call.services.credentials`` and ``.domain_config``."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

from pydantic import Field, StrictStr
from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, wrapped
from caas.api.identity import views as V
from caas.api.identity.schemas import Id, Model
from caas.errors import BadRequest
from caas.identity.credentials import NewCredential
from caas.identity.domain_config import Target

Blob = Annotated[StrictStr, Field(max_length=65535)]
Type = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class CredentialCreate(Model):
    user_id: Id
    type: Type
    blob: Blob
    project_id: Optional[Id] = None


class CredentialUpdate(Model):
    user_id: Optional[Id] = None
    type: Optional[Type] = None
    blob: Optional[Blob] = None
    project_id: Optional[Id] = None


class Ec2Create(Model):
    tenant_id: Optional[Id] = None


class ConfigBody(Model):
    config: dict[str, Any]


# ---- views -----------------------------------------------------------------------------------
def credential(call: Call, c) -> dict:
    return {"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.type, "blob": c.blob,
            "links": V.links(call, f"credentials/{c.id}")}


def ec2(call: Call, c) -> dict:
    blob = json.loads(c.blob)
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": V.links(call, f"users/{c.user_id}/credentials/OS-EC2/{blob.get('access')}")}


# ---- credentials -----------------------------------------------------------------------------
def create_credential(call: Call) -> Response:
    body = call.parse(wrapped("credential", CredentialCreate)).credential
    c = call.services.credentials.create(call.auth(), NewCredential(body.user_id, body.type, body.blob,
                                                                    body.project_id))
    return json_response({"credential": credential(call, c)}, status=201)


def list_credentials(call: Call) -> Response:
    f = {k: call.query.get(k) for k in ("user_id", "type") if call.query.get(k) is not None}
    found = call.services.credentials.list(call.auth(), f)
    return V.collection(call, "credentials", [credential(call, c) for c in found])


def get_credential(call: Call) -> Response:
    c = call.services.credentials.get(call.auth(), call.params["credential_id"])
    return json_response({"credential": credential(call, c)})


def update_credential(call: Call) -> Response:
    changes = call.parse(wrapped("credential", CredentialUpdate)).credential.model_dump(exclude_unset=True)
    if not changes:
        raise BadRequest("Invalid input for field/attribute credential: at least one of user_id, type, blob and "
                         "project_id is required.")
    c = call.services.credentials.update(call.auth(), call.params["credential_id"], changes)
    return json_response({"credential": credential(call, c)})


def delete_credential(call: Call) -> Response:
    call.services.credentials.delete(call.auth(), call.params["credential_id"])
    return empty()


# ---- EC2 -------------------------------------------------------------------------------------
def create_ec2(call: Call) -> Response:
    body = Ec2Create() if call.body is None else call.parse(Ec2Create)
    c = call.services.credentials.ec2_create(call.auth(), call.params["user_id"], body.tenant_id)
    return json_response({"credential": ec2(call, c)}, status=201)


def list_ec2(call: Call) -> Response:
    found = call.services.credentials.ec2_list(call.auth(), call.params["user_id"])
    return V.collection(call, "credentials", [ec2(call, c) for c in found])


def get_ec2(call: Call) -> Response:
    c = call.services.credentials.ec2_get(call.auth(), call.params["user_id"], call.params["access"])
    return json_response({"credential": ec2(call, c)})


def delete_ec2(call: Call) -> Response:
    call.services.credentials.ec2_delete(call.auth(), call.params["user_id"], call.params["access"])
    return empty()


# ---- domain configuration --------------------------------------------------------------------
def _target(call: Call) -> Target:
    p = call.params
    return Target(p["domain_id"], p.get("group"), p.get("option"))


def put_config(call: Call) -> Response:
    config = call.parse(ConfigBody).config
    shown, created = call.services.domain_config.replace(call.auth(), call.params["domain_id"], config)
    return json_response({"config": shown}, status=201 if created else 200)


def get_config(call: Call) -> Response:
    return json_response({"config": call.services.domain_config.get(call.auth(), _target(call))})


def patch_config(call: Call) -> Response:
    config = call.parse(ConfigBody).config
    return json_response({"config": call.services.domain_config.update(call.auth(), _target(call), config)})


def delete_config(call: Call) -> Response:
    call.services.domain_config.delete(call.auth(), _target(call))
    return empty()


def default_config(call: Call) -> Response:
    p = call.params
    return json_response({"config": call.services.domain_config.default(call.auth(), p.get("group"),
                                                                         p.get("option"))})


def _config_rows(path: str, *methods: str) -> list[Endpoint]:
    handlers = {"PUT": put_config, "GET": get_config, "HEAD": get_config, "PATCH": patch_config,
                "DELETE": delete_config}
    return [Endpoint(m, path, handlers[m]) for m in methods]


EC2 = "/v3/users/{user_id}/credentials/OS-EC2"
CONFIG = "/v3/domains/{domain_id}/config"
ROUTES = [
    Endpoint("POST", "/v3/credentials", create_credential),
    Endpoint("GET", "/v3/credentials", list_credentials),
    Endpoint("GET", "/v3/credentials/{credential_id}", get_credential),
    Endpoint("PATCH", "/v3/credentials/{credential_id}", update_credential),
    Endpoint("DELETE", "/v3/credentials/{credential_id}", delete_credential),
    Endpoint("POST", EC2, create_ec2),
    Endpoint("GET", EC2, list_ec2),
    Endpoint("GET", EC2 + "/{access}", get_ec2),
    Endpoint("DELETE", EC2 + "/{access}", delete_ec2),
    *_config_rows(CONFIG, "PUT", "GET", "HEAD", "PATCH", "DELETE"),
    *_config_rows(CONFIG + "/{group}", "GET", "HEAD", "PATCH", "DELETE"),
    *_config_rows(CONFIG + "/{group}/{option}", "GET", "HEAD", "PATCH", "DELETE"),
    Endpoint("GET", "/v3/domains/config/default", default_config),
    Endpoint("GET", "/v3/domains/config/{group}/default", default_config),
    Endpoint("GET", "/v3/domains/config/{group}/{option}/default", default_config),
]
