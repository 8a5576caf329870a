"""OAuth1 delegation (``OS-OAUTH1``), as Keystone: an admin registers a consumer (its secret
shown once); the consumer asks for a request token for a project (a request signed with its
key); a user with roles on that project authorizes the request token with some of them (and
gets the verifier); the consumer exchanges token and verifier for an access token; requests
signed with the access token then get Keystone tokens (method ``oauth1``) scoped to that project
with exactly the authorized roles (those the user still has). Signatures (HMAC-SHA1) are
checked by oauthlib's endpoints (``oauth1_validator``). Secrets are stored encrypted.

Deleting a consumer deletes its tokens; deleting an access token, or its user or project, ends
the tokens made with it (the identity revision is bumped; validation looks the access token up).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from oauthlib.oauth1 import AccessTokenEndpoint, RequestTokenEndpoint, ResourceEndpoint
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header
from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.context import AuthContext
from caas.db import Database
from caas.errors import BadRequest, Forbidden, NotFound, Unauthorized
from caas.identity import oauth1_nonces, policy
from caas.identity.credential_models import OAuthAccessToken, OAuthConsumer, OAuthRequestToken
from caas.identity.models import Project, Role
from caas.identity.oauth1_validator import VERIFIER_CHARS, Validator
from caas.identity.secrets import SecretBox
from caas.identity.assignments import roles_of_user
from caas.identity.revocation import bump_revision

REQUEST_TOKEN_DURATION = 28800  # Keystone's [oauth1] defaults, in seconds
ACCESS_TOKEN_DURATION = 86400


@dataclass(frozen=True)
class SignedRequest:
    """What oauthlib checks of an HTTP request: its URL as the client signed it, method and
    headers (the Authorization header carries the OAuth parameters)."""

    url: str
    method: str
    headers: dict


@dataclass(frozen=True)
class Grant:
    """A checked oauth1 authentication: whose access token, for which project and roles."""

    user_id: str
    project_id: str
    access_token_id: str
    consumer_id: str
    role_ids: tuple[str, ...]


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def oauth_params(req: SignedRequest) -> dict:
    """The OAuth parameters of the Authorization header; 400 without one (Keystone's words)."""
    header = req.headers.get("authorization")
    if not header:
        raise BadRequest("No Authorization headers found, cannot proceed with OAuth related calls")
    try:
        return dict(parse_authorization_header(header))
    except (ValueError, TypeError):
        raise BadRequest("Malformed Authorization header, cannot proceed with OAuth related calls") from None


def _required(params: dict, name: str) -> str:
    value = params.get(name)
    if not value:
        raise BadRequest(f"Expecting to find {name} in request. The server could not comply with the request "
                         "since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
    return value


def _oauthlib_verdict(body: str | None, status: int) -> None:
    """Keystone's reading of an oauthlib endpoint's answer: no body is a bad signature (401), an
    error body a 400 that says what oauthlib found."""
    if not body:
        raise Unauthorized("Invalid signature")
    params = dict(parse_qsl(body))
    if "error" in params:
        raise BadRequest(f"Validation failed with errors: {params['error']}, detail message is: "
                         f"{params.get('error_description')}.")


class OAuth1Service:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    # ---- lookups for the validator (None: no such thing) ---------------------------------
    def _row(self, model, id_: str):
        with self.db.read() as s:
            return s.get(model, id_) if id_ else None

    def consumer_secret(self, consumer_id: str) -> str | None:
        row = self._row(OAuthConsumer, consumer_id)
        return self.box.decrypt(row.encrypted_secret) if row else None

    def request_token_secret(self, token_id: str) -> str | None:
        row = self._row(OAuthRequestToken, token_id)
        return self.box.decrypt(row.encrypted_secret) if row else None

    def access_token_secret(self, token_id: str) -> str | None:
        row = self._row(OAuthAccessToken, token_id)
        return self.box.decrypt(row.encrypted_secret) if row else None

    def request_token_consumer(self, token_id: str) -> str | None:
        row = self._row(OAuthRequestToken, token_id)
        return row.consumer_id if row else None

    def request_token_verifier(self, token_id: str) -> str | None:
        row = self._row(OAuthRequestToken, token_id)
        return row.verifier if row else None

    def access_token_consumer(self, token_id: str) -> str | None:
        row = self._row(OAuthAccessToken, token_id)
        return row.consumer_id if row else None

    def nonce_seen(self, consumer_id: str, timestamp: str, nonce: str) -> bool:
        with self.db.read() as s:
            return oauth1_nonces.seen(s, consumer_id, timestamp, nonce)

    @staticmethod
    def _accept_once(s: Session, params: dict, refusal: str) -> None:
        """Record the accepted request's nonce in ``s`` (the transaction that acts on it); 401
        ``refusal`` (Keystone's words for a request oauthlib refused) when it was seen already:
        a replay that raced the first request past oauthlib's check."""
        if not oauth1_nonces.remember(s, params["oauth_consumer_key"], params["oauth_timestamp"],
                                      params["oauth_nonce"], time.time()):
            raise Unauthorized(refusal)

    # ---- consumers -----------------------------------------------------------------------
    def create_consumer(self, ctx: AuthContext, description: str | None, extra: dict) -> tuple[OAuthConsumer, str]:
        """A new consumer and its secret (shown this once)."""
        policy.enforce(ctx, "identity:create_consumer")
        secret = uuid.uuid4().hex
        with self.db.write() as s:
            consumer = OAuthConsumer(id=uuid.uuid4().hex, encrypted_secret=self.box.encrypt(secret),
                                     description=description, extra=extra)
            s.add(consumer)
        return consumer, secret

    def list_consumers(self, ctx: AuthContext) -> list[OAuthConsumer]:
        policy.enforce(ctx, "identity:list_consumers")
        with self.db.read() as s:
            return list(s.scalars(select(OAuthConsumer).order_by(OAuthConsumer.created_at, OAuthConsumer.id)))

    @staticmethod
    def _consumer(s: Session, consumer_id: str) -> OAuthConsumer:
        consumer = s.get(OAuthConsumer, consumer_id)
        if consumer is None:
            raise NotFound(f"Could not find consumer: {consumer_id}.")
        return consumer

    def get_consumer(self, ctx: AuthContext, consumer_id: str) -> OAuthConsumer:
        policy.enforce(ctx, "identity:get_consumer")
        with self.db.read() as s:
            return self._consumer(s, consumer_id)

    def update_consumer(self, ctx: AuthContext, consumer_id: str, changes: dict) -> OAuthConsumer:
        """Change the description and extra attributes (never the secret: 400)."""
        policy.enforce(ctx, "identity:update_consumer")
        if "secret" in changes:
            raise BadRequest("Invalid input for field/attribute consumer: a consumer's secret cannot be changed.")
        if changes.get("id", consumer_id) != consumer_id:
            raise BadRequest("Cannot change ID")
        with self.db.write() as s:
            consumer = self._consumer(s, consumer_id)
            if "description" in changes:
                consumer.description = changes["description"]
            extra = {k: v for k, v in changes.items() if k not in ("id", "description")}
            if extra:
                consumer.extra = {**(consumer.extra or {}), **extra}
        return consumer

    def delete_consumer(self, ctx: AuthContext, consumer_id: str) -> None:
        """Delete a consumer, its request and access tokens, and so the tokens made with them."""
        policy.enforce(ctx, "identity:delete_consumer")
        with self.db.write() as s:
            consumer = self._consumer(s, consumer_id)
            for model in (OAuthAccessToken, OAuthRequestToken):
                for row in s.scalars(select(model).where(model.consumer_id == consumer_id)):
                    s.delete(row)
            s.delete(consumer)
            bump_revision(s)

    # ---- request tokens ------------------------------------------------------------------
    def create_request_token(self, req: SignedRequest) -> tuple[OAuthRequestToken, str]:
        """A request token for the signed request's consumer and its ``Requested-Project-Id``.
        Returns (token row, its secret)."""
        params = oauth_params(req)
        consumer_id = _required(params, "oauth_consumer_key")
        project_id = req.headers.get("requested-project-id")
        if not project_id:
            raise BadRequest("Expecting to find Requested-Project-Id in request. The server could not comply with "
                             "the request since it is either malformed or otherwise incorrect. The client is "
                             "assumed to be in error.")
        with self.db.read() as s:
            if s.get(Project, project_id) is None:
                raise NotFound(f"Could not find project: {project_id}.")
            self._consumer(s, consumer_id)
        endpoint = RequestTokenEndpoint(Validator(self), token_generator=lambda *a, **k: uuid.uuid4().hex)
        _, body, status = endpoint.create_request_token_response(req.url, http_method=req.method, body=None,
                                                                 headers=req.headers)
        _oauthlib_verdict(body, status)
        secret = uuid.uuid4().hex
        with self.db.write() as s:
            self._accept_once(s, params, "Invalid signature")
            token = OAuthRequestToken(id=uuid.uuid4().hex, encrypted_secret=self.box.encrypt(secret),
                                      consumer_id=consumer_id, requested_project_id=project_id,
                                      expires_at=time.time() + REQUEST_TOKEN_DURATION)
            s.add(token)
        return token, secret

    def authorize(self, ctx: AuthContext, request_token_id: str, roles: list[dict]) -> str:
        """The caller authorizes a request token with ``roles`` ({"id"} or {"name"}), each one it
        holds on the requested project (401 otherwise, as Keystone); returns the verifier."""
        policy.enforce(ctx, "identity:authorize_request_token")
        if ctx.token.oauth:
            raise Forbidden("Cannot authorize a request token with a token issued via delegation.")
        with self.db.write() as s:
            token = s.get(OAuthRequestToken, request_token_id)
            if token is None:
                raise NotFound(f"Could not find request token: {request_token_id}.")
            if token.expires_at is not None and time.time() > token.expires_at:
                raise Unauthorized("Request token is expired")
            wanted = {self._role_id(s, r) for r in roles}
            held = {r.id for r in roles_of_user(s, ctx.user_id, project_id=token.requested_project_id)}
            if not wanted <= held:
                raise Unauthorized("authorizing user does not have role required")
            token.authorizing_user_id = ctx.user_id
            token.role_ids = sorted(wanted)
            token.verifier = "".join(secrets.choice(VERIFIER_CHARS) for _ in range(8))
            return token.verifier

    @staticmethod
    def _role_id(s: Session, ref: dict) -> str:
        if ref.get("id"):
            return ref["id"]
        role_id = s.scalar(select(Role.id).where(Role.name == ref["name"]))
        if role_id is None:
            raise NotFound(f"Could not find role: {ref['name']}.")
        return role_id

    # ---- access tokens -------------------------------------------------------------------
    def create_access_token(self, req: SignedRequest) -> tuple[OAuthAccessToken, str]:
        """Exchange an authorized request token (signed with it and its verifier) for an access
        token; the request token is used up. Returns (token row, its secret)."""
        params = oauth_params(req)
        consumer_id = _required(params, "oauth_consumer_key")
        request_token_id = _required(params, "oauth_token")
        verifier = _required(params, "oauth_verifier")
        with self.db.read() as s:
            request_token = s.get(OAuthRequestToken, request_token_id)
            if request_token is None:
                raise NotFound(f"Could not find request token: {request_token_id}.")
            if request_token.expires_at is not None and time.time() > request_token.expires_at:
                raise Unauthorized("Request token is expired")
            if s.get(OAuthConsumer, consumer_id) is None:
                raise Unauthorized("Provided consumer does not exist.")
            if request_token.consumer_id != consumer_id:
                raise Unauthorized("Provided consumer key does not match stored consumer key.")
        endpoint = AccessTokenEndpoint(Validator(self), token_generator=lambda *a, **k: uuid.uuid4().hex)
        _, body, status = endpoint.create_access_token_response(req.url, http_method=req.method, body=None,
                                                                headers=req.headers)
        if not body and request_token.verifier != verifier:
            raise Unauthorized("Provided verifier does not match stored verifier")
        _oauthlib_verdict(body, status)
        if not request_token.authorizing_user_id:
            raise Unauthorized("Request Token does not have an authorizing user id.")
        secret = uuid.uuid4().hex
        with self.db.write() as s:
            self._accept_once(s, params, "Invalid signature")
            used = s.get(OAuthRequestToken, request_token_id)
            if used is None:  # exchanged meanwhile by a parallel request
                raise NotFound(f"Could not find request token: {request_token_id}.")
            token = OAuthAccessToken(id=uuid.uuid4().hex, encrypted_secret=self.box.encrypt(secret),
                                     consumer_id=consumer_id, authorizing_user_id=used.authorizing_user_id,
                                     project_id=used.requested_project_id, role_ids=list(used.role_ids or []),
                                     expires_at=time.time() + ACCESS_TOKEN_DURATION)
            s.add(token)
            s.delete(used)
        return token, secret

    def list_access_tokens(self, ctx: AuthContext, user_id: str) -> list[OAuthAccessToken]:
        policy.enforce(ctx, "identity:list_access_tokens", {"user_id": user_id})
        with self.db.read() as s:
            return list(s.scalars(select(OAuthAccessToken).where(OAuthAccessToken.authorizing_user_id == user_id)
                                  .order_by(OAuthAccessToken.id)))

    @staticmethod
    def _access_token(s: Session, user_id: str, token_id: str) -> OAuthAccessToken:
        token = s.get(OAuthAccessToken, token_id)
        if token is None or token.authorizing_user_id != user_id:
            raise NotFound(f"Could not find access token: {token_id}.")
        return token

    def get_access_token(self, ctx: AuthContext, user_id: str, token_id: str) -> OAuthAccessToken:
        policy.enforce(ctx, "identity:get_access_token", {"user_id": user_id})
        with self.db.read() as s:
            return self._access_token(s, user_id, token_id)

    def delete_access_token(self, ctx: AuthContext, user_id: str, token_id: str) -> None:
        """Delete an access token; the Keystone tokens made with it stop working."""
        policy.enforce(ctx, "identity:delete_access_token", {"user_id": user_id})
        with self.db.write() as s:
            s.delete(self._access_token(s, user_id, token_id))
            bump_revision(s)

    def access_token_roles(self, ctx: AuthContext, user_id: str, token_id: str) -> list[Role]:
        policy.enforce(ctx, "identity:list_access_token_roles", {"user_id": user_id})
        with self.db.read() as s:
            token = self._access_token(s, user_id, token_id)
            return list(s.scalars(select(Role).where(Role.id.in_(token.role_ids or [])).order_by(Role.name)))

    def access_token_role(self, ctx: AuthContext, user_id: str, token_id: str, role_id: str) -> Role:
        policy.enforce(ctx, "identity:get_access_token_role", {"user_id": user_id})
        with self.db.read() as s:
            token = self._access_token(s, user_id, token_id)
            role = s.get(Role, role_id) if role_id in (token.role_ids or []) else None
            if role is None:
                raise NotFound(f"Could not find role: {role_id}.")
            return role

    # ---- authentication (method oauth1) --------------------------------------------------
    def authenticate(self, req: SignedRequest) -> Grant:
        """Check a request signed with an access token; what it grants. 401 for a token that
        expired, is unknown or whose signature is wrong."""
        params = oauth_params(req)
        token_id = _required(params, "oauth_token")
        with self.db.read() as s:
            token = s.get(OAuthAccessToken, token_id)
            if token is None:
                raise NotFound(f"Could not find access token: {token_id}.")
        if token.expires_at is not None and time.time() > token.expires_at:
            raise Unauthorized("Access token is expired")
        endpoint = ResourceEndpoint(Validator(self))
        valid, _ = endpoint.validate_protected_resource_request(req.url, http_method=req.method, body=None,
                                                                headers=req.headers, realms=None)
        if not valid:
            raise Unauthorized("Could not validate the access token")
        with self.db.write() as s:
            self._accept_once(s, params, "Could not validate the access token")
        return Grant(user_id=token.authorizing_user_id, project_id=token.project_id, access_token_id=token.id,
                     consumer_id=token.consumer_id, role_ids=tuple(token.role_ids or ()))
