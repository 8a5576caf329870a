"""Identity v3's OAuth1 (``OS-OAUTH1``): consumers, request and access tokens (their answers
form-encoded, as OAuth1 wants), the authorization of a request token, and a user's access tokens;
the route table ``ROUTES`` over ``call.services.oauth1``. Authenticating with the ``oauth1``
method is ``POST /v3/auth/tokens`` (routes.issue_token calls ``authenticate``)."""

from __future__ import annotations

from typing import Annotated, Optional
from urllib.parse import urlencode

from pydantic import Field, StrictStr, ValidationError, model_validator
from starlette.responses import Response

from caas.api.framework import Call, Endpoint, empty, json_response, validation_message
from caas.api.identity import views as V
from caas.api.identity.schemas import Id, Model, Name255
from caas.errors import BadRequest
from caas.identity.oauth1 import SignedRequest, iso

FORM = "application/x-www-form-urlencoded"


class RoleRef(Model):
    id: Optional[Id] = None
    name: Optional[Name255] = None

    @model_validator(mode="after")
    def _one(self) -> "RoleRef":
        if (self.id is None) == (self.name is None):
            raise ValueError("a role is given by its id or by its name")
        return self


class Authorize(Model):
    roles: Annotated[list[RoleRef], Field(max_length=100)]


class ConsumerBody(Model):
    description: Optional[Annotated[StrictStr, Field(max_length=65535)]] = None


def signed(call: Call) -> SignedRequest:
    """The request as oauthlib checks its signature: the URL the client called."""
    return SignedRequest(url=str(call.request.url), method=call.request.method, headers=dict(call.request.headers))


def _consumer_body(call: Call) -> dict:
    """The ``consumer`` object of the body (Keystone takes a missing one as empty), checked;
    its extra attributes are kept."""
    body = call.body if call.body is not None else {}
    found = body.get("consumer", {}) if isinstance(body, dict) else None
    if not isinstance(found, dict):
        raise BadRequest("Invalid input for field/attribute consumer: an object is required.")
    try:
        ConsumerBody.model_validate(found)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from None
    return found


# ---- views -----------------------------------------------------------------------------------
def consumer(call: Call, c, secret: str | None = None) -> dict:
    view = {**(c.extra or {}), "id": c.id, "description": c.description,
            "links": V.links(call, f"OS-OAUTH1/consumers/{c.id}")}
    if secret is not None:
        view["secret"] = secret
    return view


def access_token(call: Call, t) -> dict:
    base = f"users/{t.authorizing_user_id}/OS-OAUTH1/access_tokens/{t.id}"
    return {"id": t.id, "consumer_id": t.consumer_id, "authorizing_user_id": t.authorizing_user_id,
            "project_id": t.project_id, "expires_at": iso(t.expires_at),
            "links": {"self": f"{V.v3(call)}/{base}", "roles": f"{V.v3(call)}/{base}/roles"}}


def token_role(call: Call, r) -> dict:
    """A role as an access token lists it: without its description, as Keystone."""
    view = V.role(call, r)
    view.pop("description", None)
    return view


def _form(token, secret: str) -> Response:
    body = urlencode({"oauth_token": token.id, "oauth_token_secret": secret, "oauth_expires_at": iso(token.expires_at)})
    return Response(body.encode(), status_code=201, media_type=FORM)


# ---- consumers -------------------------------------------------------------------------------
def create_consumer(call: Call) -> Response:
    body = _consumer_body(call)
    extra = {k: v for k, v in body.items() if k not in ("id", "description", "secret", "links")}
    c, secret = call.services.oauth1.create_consumer(call.auth(), body.get("description"), extra)
    return json_response({"consumer": consumer(call, c, secret)}, status=201)


def list_consumers(call: Call) -> Response:
    found = call.services.oauth1.list_consumers(call.auth())
    return V.collection(call, "consumers", [consumer(call, c) for c in found])


def get_consumer(call: Call) -> Response:
    return json_response({"consumer": consumer(call, call.services.oauth1.get_consumer(
        call.auth(), call.params["consumer_id"]))})


def update_consumer(call: Call) -> Response:
    body = _consumer_body(call)
    if not body:
        raise BadRequest("Invalid input for field/attribute consumer: at least one attribute is required.")
    c = call.services.oauth1.update_consumer(call.auth(), call.params["consumer_id"], body)
    return json_response({"consumer": consumer(call, c)})


def delete_consumer(call: Call) -> Response:
    call.services.oauth1.delete_consumer(call.auth(), call.params["consumer_id"])
    return empty()


# ---- the OAuth1 dance ------------------------------------------------------------------------
def request_token(call: Call) -> Response:
    token, secret = call.services.oauth1.create_request_token(signed(call))
    return _form(token, secret)


def authorize(call: Call) -> Response:
    roles = call.parse(Authorize).roles
    verifier = call.services.oauth1.authorize(call.auth(), call.params["request_token_id"],
                                              [r.model_dump(exclude_none=True) for r in roles])
    return json_response({"token": {"oauth_verifier": verifier}})


def create_access_token(call: Call) -> Response:
    token, secret = call.services.oauth1.create_access_token(signed(call))
    return _form(token, secret)


# ---- a user's access tokens ------------------------------------------------------------------
def list_access_tokens(call: Call) -> Response:
    found = call.services.oauth1.list_access_tokens(call.auth(), call.params["user_id"])
    return V.collection(call, "access_tokens", [access_token(call, t) for t in found])


def get_access_token(call: Call) -> Response:
    p = call.params
    t = call.services.oauth1.get_access_token(call.auth(), p["user_id"], p["access_token_id"])
    return json_response({"access_token": access_token(call, t)})


def delete_access_token(call: Call) -> Response:
    p = call.params
    call.services.oauth1.delete_access_token(call.auth(), p["user_id"], p["access_token_id"])
    return empty()


def access_token_roles(call: Call) -> Response:
    p = call.params
    roles = call.services.oauth1.access_token_roles(call.auth(), p["user_id"], p["access_token_id"])
    return V.collection(call, "roles", [token_role(call, r) for r in roles])


def access_token_role(call: Call) -> Response:
    p = call.params
    r = call.services.oauth1.access_token_role(call.auth(), p["user_id"], p["access_token_id"], p["role_id"])
    return json_response({"role": token_role(call, r)})


CONSUMER = "/v3/OS-OAUTH1/consumers/{consumer_id}"
ACCESS = "/v3/users/{user_id}/OS-OAUTH1/access_tokens"
ROUTES = [
    Endpoint("POST", "/v3/OS-OAUTH1/consumers", create_consumer),
    Endpoint("GET", "/v3/OS-OAUTH1/consumers", list_consumers),
    Endpoint("GET", CONSUMER, get_consumer),
    Endpoint("PATCH", CONSUMER, update_consumer),
    Endpoint("DELETE", CONSUMER, delete_consumer),
    Endpoint("POST", "/v3/OS-OAUTH1/request_token", request_token),
    Endpoint("PUT", "/v3/OS-OAUTH1/authorize/{request_token_id}", authorize),
    Endpoint("POST", "/v3/OS-OAUTH1/access_token", create_access_token),
    Endpoint("GET", ACCESS, list_access_tokens),
    Endpoint("GET", ACCESS + "/{access_token_id}", get_access_token),
    Endpoint("DELETE", ACCESS + "/{access_token_id}", delete_access_token),
    Endpoint("GET", ACCESS + "/{access_token_id}/roles", access_token_roles),
    Endpoint("GET", ACCESS + "/{access_token_id}/roles/{role_id}", access_token_role),
]
