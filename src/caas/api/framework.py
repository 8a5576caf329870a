"""A small framework over Starlette for OpenStack-style APIs.

``ServiceAPI`` collects synchronous handlers by (method, path). Each request costs one hop to
the thread pool: the body is read (bounded) on the event loop, then the handler runs in a
worker thread with a ``Call`` giving it the parsed JSON, the query and the caller's context.
Domain errors are rendered in the service's own error format; an unknown path is 404 and an
unknown method 405 in that format too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from caas.errors import (BadRequest, CaasError, Forbidden, MethodNotAllowed, NotFound, PayloadTooLarge, Unauthorized,
                         UnsupportedMediaType)

log = logging.getLogger("caas.api")

ErrorFormat = Callable[[CaasError], dict]
JSON_TYPE = "application/json"
# Every route takes every method, so that an unsupported one is a 405 in the API's own format.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


def json_response(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers, media_type=JSON_TYPE)


def empty(status: int = 204, headers: dict | None = None) -> Response:
    return Response(b"", status_code=status, headers=headers)


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"Invalid input for field '{loc or 'body'}': {err.get('msg')}")
    return "; ".join(parts) or "Invalid input."


@dataclass
class Call:
    """What a handler sees of a request."""

    request: Request
    body: Any
    params: dict[str, str]
    state: dict = field(default_factory=dict)
    validate_token: Callable[[str], Any] | None = None

    def auth(self):
        """The caller's AuthContext from X-Auth-Token; Unauthorized without a valid one."""
        token = self.request.headers.get("x-auth-token")
        if not token or self.validate_token is None:
            raise Unauthorized("The request you have made requires authentication.")
        return self.validate_token(token)

    def project_auth(self):
        """As ``auth``, for calls that need a project-scoped token (the cloud's resources)."""
        ctx = self.auth()
        if ctx.project is None:
            raise Forbidden("This call needs a project-scoped token.")
        return ctx

    @property
    def query(self):
        return self.request.query_params

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def parse(self, model: type[BaseModel]) -> BaseModel:
        """The body validated against ``model``; 400 with the field and reason otherwise."""
        if self.body is None:
            raise BadRequest("A request body is required.")
        try:
            return model.model_validate(self.body)
        except ValidationError as exc:
            raise BadRequest(validation_message(exc)) from None

    @property
    def base_url(self) -> str:
        return str(self.request.base_url).rstrip("/")


Handler = Callable[[Call], Response]


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, or None when it has none. Bounded by ``limit`` bytes whether or
    not the client sent Content-Length (413), malformed JSON is 400."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise PayloadTooLarge("Request is too large.")
        except ValueError:
            raise BadRequest("Invalid Content-Length header.") from None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("Request is too large.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    ctype = request.headers.get("content-type", JSON_TYPE).split(";")[0].strip().lower()
    if ctype and not (ctype == JSON_TYPE or ctype.endswith("+json") or ctype.endswith("-json")
                      or ctype == "text/plain"):
        raise UnsupportedMediaType(f"Unsupported content type: {ctype}; send {JSON_TYPE}.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body: the body is not valid JSON.") from None


def _strings(value: Any):
    """Every string (keys included) in a parsed JSON value."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for k, item in v.items():
                yield k
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)


def _refuse_nul(*groups) -> None:
    """NUL has no place in names or ids, and PostgreSQL cannot store it: 400, everywhere."""
    for group in groups:
        for s in group:
            if "\x00" in s:
                raise BadRequest("Invalid input: NUL characters (\\u0000) are not allowed.")


class ServiceAPI:
    """Routes of one service, mounted under its prefix."""

    def __init__(self, name: str, error_format: ErrorFormat, max_body: int = 1024 * 1024,
                 validate_token: Callable[[str], Any] | None = None) -> None:
        self.name = name
        self.validate_token = validate_token
        self.error_format = error_format
        self.max_body = max_body
        self._paths: dict[str, dict[str, Handler]] = {}

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            methods = self._paths.setdefault(path, {})
            methods[method] = fn
            if method == "GET" and "HEAD" not in methods:
                methods["HEAD"] = fn
            return fn
        return register

    def error(self, exc: CaasError) -> Response:
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Keystone uri="/identity"'
        return json_response(self.error_format(exc), status=exc.status, headers=headers)

    def _endpoint(self, methods: dict[str, Handler]):
        allow = ", ".join(methods)
        async def endpoint(request: Request) -> Response:
            try:
                handler = methods.get(request.method)
                if handler is None:
                    response = self.error(MethodNotAllowed(
                        f"The method {request.method} is not allowed for this resource."))
                    response.headers["Allow"] = allow
                    return response
                params = dict(request.path_params)
                _refuse_nul(params.values(), request.query_params.values())
                body = None
                if request.method in ("POST", "PUT", "PATCH", "DELETE"):
                    body = await read_json(request, self.max_body)
                    if body is not None:
                        _refuse_nul(_strings(body))
                call = Call(request=request, body=body, params=params, validate_token=self.validate_token)
                response = await run_in_threadpool(handler, call)
            except CaasError as exc:
                return self.error(exc)
            except Exception:  # noqa: BLE001 - a bug must still answer in the API's format
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return self.error(CaasError("An unexpected error prevented the server from fulfilling "
                                            "your request."))
            if request.method == "HEAD":
                response.body = b""
            return response
        return endpoint

    def has(self, path: str) -> bool:
        return path in self._paths

    def endpoint(self, path: str):
        """The ASGI endpoint of one registered path (for mounting it elsewhere too)."""
        return self._endpoint(self._paths[path])

    def router(self) -> Router:
        async def not_found(scope, receive, send):
            await self.error(NotFound("The resource could not be found."))(scope, receive, send)
        routes = [Route(path, self._endpoint(methods), methods=ALL_METHODS) for path, methods in self._paths.items()]
        return Router(routes=routes, default=not_found)
