"""A small framework over Starlette for OpenStack-style APIs.

``ServiceAPI`` collects synchronous handlers by (method, path): from a module's flat route
table (a list of ``Endpoint`` rows naming module-level handlers, added with ``add``; the
handler reaches its service through ``call.services``), or one by one with ``route``. Each request costs one hop to
the thread pool: the body is read (bounded) on the event loop, then the handler runs in a
worker thread with a ``Call`` giving it the parsed JSON, the query and the caller's context.
Domain errors are rendered in the service's own error format; an unknown path is 404 and an
unknown method 405 in that format too.

A route may name the media types it accepts (anything else is 415, checked before the body is
read), and a route with ``raw_body=True`` gets no parsed JSON and no size limit: its handler
reads ``call.stream()``, the body as blocks of bytes read ahead on the event loop (bounded), so
a file of any size passes through without being held in memory. Such handlers run in a thread
pool of their own, so that long transfers never starve the ordinary calls.

A service with microversions may also serve its routes under a legacy prefix (``Legacy``:
Nova's ``/v2`` beside ``/v2.1``): the same handlers at the minimum version, the version headers
ignored in requests and left out of responses, and ``call.legacy`` set for the links it builds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import anyio
import anyio.from_thread
import anyio.to_thread
from pydantic import BaseModel, ValidationError, create_model
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, Router, get_route_path

from caas.api.pools import WorkerPool
from caas.numbers import decimal
from caas.errors import (BadRequest, CaasError, Forbidden, MethodNotAllowed, NotAcceptable, NotFound, PayloadTooLarge,
                         Unauthorized, UnsupportedMediaType, wait_seconds)

log = logging.getLogger("caas.api")

ErrorFormat = Callable[[CaasError], dict]
JSON_TYPE = "application/json"
# Every route takes every method, so that an unsupported one is a 405 in the API's own format.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Raw bodies reach the handler in blocks of about this size, at most STREAM_DEPTH of them read
# ahead: the memory an upload holds is bounded by their product, whatever the body's size.
STREAM_BLOCK = 1024 * 1024
STREAM_DEPTH = 2
# Worker threads for raw-body handlers (each holds one for the whole transfer).
STREAM_THREADS = 16
# How deeply arrays and objects may nest in a request body: no OpenStack body nests past a
# dozen levels, and Python's parser and everything after it recurse (about 1,000 levels is a
# RecursionError).
MAX_JSON_DEPTH = 64


# The service types each API answers to in access rules (its name, unless listed).
SERVICE_TYPES = {"volume": ("volume", "block-storage", "volumev3"), "share": ("share", "sharev2", "shared-file-system")}


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
    validate_token: Callable[[str], Any] | None = None
    body_stream: "BodyStream | None" = None
    # The negotiated microversion (services with Microversions; else None).
    version: "Version | None" = None
    # Whether the request came in under the service's legacy prefix (see ``Legacy``).
    legacy: bool = False
    # What the service API was built over (the Cloud, or the services its handlers call):
    # module-level handlers reach their service through it.
    services: Any = None
    # The service API's name (its service type, as access rules name it).
    service: str = ""

    def auth(self):
        """The caller's AuthContext from X-Auth-Token; Unauthorized without a valid one, or
        for a token whose application credential's access rules do not allow this request."""
        token = self.request.headers.get("x-auth-token")
        if not token or self.validate_token is None:
            raise Unauthorized("The request you have made requires authentication.")
        ctx = self.validate_token(token)
        if ctx.app_cred is not None and not self._permitted(ctx.app_cred):
            raise Unauthorized("The request you have made requires authentication.")
        return ctx

    def _permitted(self, app_cred) -> bool:
        """Whether ``app_cred``'s access rules allow this request, as keystonemiddleware
        decides: the service's type, the method, and the path (under the service's prefix, as
        caas mounts it, or in full); a token may always validate itself."""
        method, path = self.request.method, self.request.url.path
        if self.service == "identity" and method == "GET" and path.endswith("/v3/auth/tokens"):
            return True
        types = SERVICE_TYPES.get(self.service, (self.service,))
        return app_cred.permits(types, method, (get_route_path(self.request.scope), path))

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

    def stream(self) -> Iterator[bytes]:
        """The raw body in blocks (``raw_body`` routes only; once). Raises BadRequest if the
        client goes away before sending all of it."""
        if self.body_stream is None:
            raise RuntimeError("call.stream() is for routes registered with raw_body=True")
        return iter(self.body_stream)

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

Version = tuple[int, int]


def parse_version(text: str) -> Version:
    """``"2.60"`` as ``(2, 60)``; ValueError for anything else."""
    major, dot, minor = text.strip().partition(".")
    # plain ASCII digits: isdigit() also takes "²" (which int() refuses) and "١" (which it reads)
    numbers = [decimal(part, 0, 9999) if part[:1] != "-" else None for part in (major, minor)]
    if not dot or None in numbers:
        raise ValueError(text)
    return numbers[0], numbers[1]


@dataclass(frozen=True)
class Microversions:
    """The microversion range a service serves (Nova's and Cinder's scheme).

    The request names its version with ``OpenStack-API-Version: <service> X.Y`` (or the legacy
    header, e.g. ``X-OpenStack-Nova-API-Version: X.Y``); ``latest`` is the maximum; no header
    is the minimum. A malformed version is 400, one outside the range 406. Every response
    echoes the version served and says it varies with those headers."""

    service: str
    minimum: str
    maximum: str
    legacy_header: str | None = None

    @property
    def min_version(self) -> Version:
        return parse_version(self.minimum)

    @property
    def max_version(self) -> Version:
        return parse_version(self.maximum)

    def negotiate(self, request: Request) -> Version:
        raw = None
        header = request.headers.get("openstack-api-version")
        if header:
            # "compute 2.60" (several services may be named, comma-separated).
            for item in header.split(","):
                name, _, value = item.strip().partition(" ")
                if name.lower() == self.service:
                    raw = value.strip()
        if raw is None and self.legacy_header:
            raw = request.headers.get(self.legacy_header)
        if raw is None or raw == "":
            return self.min_version
        if raw.lower() == "latest":
            return self.max_version
        try:
            version = parse_version(raw)
        except ValueError:
            raise BadRequest(f"API Version String {raw[:40]} is of invalid format. Must be of format "
                             "MajorNum.MinorNum.") from None
        if not self.min_version <= version <= self.max_version:
            raise NotAcceptable(f"Version {raw} is not supported by the API. Minimum is {self.minimum} and "
                                f"maximum is {self.maximum}.")
        return version

    def headers(self, version: Version) -> dict[str, str]:
        text = f"{version[0]}.{version[1]}"
        out = {"OpenStack-API-Version": f"{self.service} {text}", "Vary": "OpenStack-API-Version"}
        if self.legacy_header:
            out[self.legacy_header] = text
            out["Vary"] += f", {self.legacy_header}"
        return out


@dataclass(frozen=True)
class Legacy:
    """Every route under ``prefix`` ("/v2.1") served again under ``alias`` ("/v2") as Nova's
    legacy v2 compatibility does: no microversion negotiation (the request's version headers are
    ignored; the handler sees the minimum version) and no version headers in the answer. A path
    registered under the alias itself (its version document) is served as registered."""

    prefix: str
    alias: str

    def aliased(self, path: str) -> str | None:
        """``path`` under the alias, or None when it is not under the prefix."""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return self.alias + path[len(self.prefix):]
        return None

    def covers(self, path: str) -> bool:
        return path == self.alias or path.startswith(self.alias + "/")


@functools.lru_cache(maxsize=None)
def wrapped(key: str, inner: type[BaseModel]) -> type[BaseModel]:
    """A model for ``{key: inner}``, the shape of every OpenStack write body
    (``{"user": {...}}``, ``{"network": {...}}``); unknown top-level keys are ignored."""
    return create_model(f"{inner.__name__}Body", **{key: (inner, ...)})


@dataclass(frozen=True)
class Endpoint:
    """One row of a route table: ``method`` on ``path`` runs ``handler`` (a module-level
    function of a ``Call``). The options are ``ServiceAPI.route``'s."""

    method: str
    path: str
    handler: Handler
    raw_body: bool = False
    media_types: tuple[str, ...] | None = None
    unversioned: bool = False
    inline: bool = False


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class BodyRules:
    """How an API reads a JSON body, as its real counterpart does (read in their sources; the
    Keystone anchor asked). ``types``: the Content-Types it parses (``+json``: any
    ``application/...+json``; None: whatever the type); another type is ``refuse(refusal)``;
    ``untyped``: a body sent without a Content-Type is parsed (else ignored, as Cinder does);
    ``bom``: a UTF-8 byte order mark before the JSON is taken (Flask finds the encoding
    itself; oslo's jsonutils, behind the others, decodes plain UTF-8, so a BOM is malformed)."""

    types: tuple[str, ...] | None = (JSON_TYPE, "+json")
    refuse: type[CaasError] = UnsupportedMediaType
    refusal: str = "Unsupported content type: {ctype}; send application/json."
    untyped: bool = True
    bom: bool = False

    def accepts(self, ctype: str) -> bool:
        if self.types is None or ctype in self.types:
            return True
        return "+json" in self.types and ctype.startswith("application/") and ctype.endswith("+json")


async def read_json(request: Request, limit: int, rules: BodyRules = BodyRules(), check_type: bool = True) -> Any:
    """The request's JSON body, or None when it has none, read by the API's ``rules``. Bounded
    by ``limit`` bytes whether or not the client sent Content-Length (413), malformed JSON is
    400. ``check_type=False`` when the route has checked the Content-Type itself."""
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
    ctype = media_type(request) if check_type else None  # None: not checked here; "": none sent
    if ctype and not rules.accepts(ctype):
        raise rules.refuse(rules.refusal.format(ctype=ctype))
    if ctype == "" and not rules.untyped:
        return None
    try:
        return json.loads(raw if rules.bom else raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body: the body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest(f"Malformed request body: arrays and objects nest more than {MAX_JSON_DEPTH} "
                         "levels deep.") from None


def _strings(value: Any, max_depth: int = MAX_JSON_DEPTH):
    """Every string (keys included) in a parsed JSON value; BadRequest when arrays and objects
    nest deeper than ``max_depth``."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, (dict, list)):
            if depth >= max_depth:
                raise BadRequest(f"Malformed request body: arrays and objects nest more than {max_depth} "
                                 "levels deep.")
            if isinstance(v, dict):
                for k, item in v.items():
                    yield k
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in v)


def _refuse_nul(*groups) -> None:
    """NUL and lone surrogates (a JSON escape such as "\\ud800" that is no character) have no
    place in names or ids, and PostgreSQL cannot store them: 400, everywhere."""
    for group in groups:
        for s in group:
            if "\x00" in s:
                raise BadRequest("Invalid input: NUL characters (\\u0000) are not allowed.")
            if not s.isascii():
                try:
                    s.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadRequest("Invalid input: the text is not valid Unicode (a lone surrogate).") from None


class BodyStream:
    """A raw request body, from the event loop (``pump``) to the handler's worker thread
    (iteration), in blocks of about STREAM_BLOCK bytes with at most STREAM_DEPTH in flight.
    The pump marks the end explicitly, so a body cut short (client gone, request cancelled) is
    never mistaken for a complete one: the iteration raises BadRequest instead."""

    _END = object()

    def __init__(self, request: Request) -> None:
        self.request = request
        self._send, self._receive = anyio.create_memory_object_stream(max_buffer_size=STREAM_DEPTH)

    async def pump(self) -> None:
        async with self._send:
            pending: list[bytes] = []
            size = 0
            try:
                async for chunk in self.request.stream():
                    if chunk:
                        pending.append(chunk)
                        size += len(chunk)
                    if size >= STREAM_BLOCK:
                        await self._send.send(b"".join(pending))
                        pending, size = [], 0
            except ClientDisconnect:
                return  # closing without the end mark: the reader sees a cut body
            if pending:
                await self._send.send(b"".join(pending))
            await self._send.send(self._END)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                block = anyio.from_thread.run(self._receive.receive)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise BadRequest("The request body ended before it was complete.") from None
            if block is self._END:
                return
            yield block


class ServiceAPI:
    """Routes of one service, mounted under its prefix."""

    def __init__(self, name: str, error_format: ErrorFormat, max_body: int = 1024 * 1024,
                 validate_token: Callable[[str], Any] | None = None,
                 microversions: Microversions | None = None, body_rules: BodyRules = BodyRules(),
                 legacy: Legacy | None = None, services: Any = None) -> None:
        self.name = name
        self.services = services
        self.legacy = legacy
        self.body_rules = body_rules
        self.microversions = microversions
        self.validate_token = validate_token
        self.error_format = error_format
        self.max_body = max_body
        self._paths: dict[str, dict[str, Endpoint]] = {}
        # The threads its handlers run on (app.py gives each layer its own; see pools.py).
        self.pool = WorkerPool(name, threads=40, max_waiting=1000, max_wait=60.0)
        self._stream_limiter: anyio.CapacityLimiter | None = None

    def route(self, method: str, path: str, *, raw_body: bool = False,
              media_types: tuple[str, ...] | None = None, unversioned: bool = False,
              inline: bool = False) -> Callable[[Handler], Handler]:
        """Register a handler. ``media_types``: the only Content-Types accepted (else 415, even
        for an empty body). ``raw_body``: no JSON parsing and no size limit; the handler reads
        ``call.stream()``. ``unversioned``: no microversion negotiation (version discovery).
        ``inline``: the handler runs on the event loop, not in the pool, so it answers even when
        every thread is busy; only for handlers that do no I/O and return at once (version
        documents)."""
        def register(fn: Handler) -> Handler:
            self.add([Endpoint(method, path, fn, raw_body, media_types, unversioned, inline)])
            return fn
        return register

    def add(self, table: "Iterable[Endpoint]") -> "ServiceAPI":
        """Register every row of a route table (a module's flat list of ``Endpoint``); a GET
        also answers HEAD unless the table has its own HEAD."""
        for row in table:
            if row.media_types:
                row = dataclasses.replace(row, media_types=tuple(t.lower() for t in row.media_types))
            methods = self._paths.setdefault(row.path, {})
            methods[row.method] = row
            if row.method == "GET" and "HEAD" not in methods:
                methods["HEAD"] = row
        return self

    def error(self, exc: CaasError, version: Version | None = None, legacy: bool = False) -> Response:
        """``exc`` in the service's format (with the version headers, unless ``legacy``)."""
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Keystone uri="/identity"'
        wait = wait_seconds(exc)
        if wait:
            headers["Retry-After"] = str(wait)
        if self.microversions is not None and not legacy:
            headers.update(self.microversions.headers(version or self.microversions.min_version))
        return json_response(self.error_format(exc), status=exc.status, headers=headers)

    async def _run_streaming(self, handler: Handler, call: Call) -> Response:
        """The handler in a stream worker thread while the body is pumped on the event loop."""
        if self._stream_limiter is None:
            self._stream_limiter = anyio.CapacityLimiter(STREAM_THREADS)
        outcome: list = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.body_stream.pump)
            try:
                outcome.append(await anyio.to_thread.run_sync(handler, call, limiter=self._stream_limiter))
            except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the task group
                outcome.append(exc)
            tg.cancel_scope.cancel()  # a handler that answered early leaves the rest unread
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _endpoint(self, methods: dict[str, Endpoint], legacy: bool = False):
        """The endpoint of one path; ``legacy``: served under the legacy prefix (see ``Legacy``)."""
        allow = ", ".join(methods)
        async def endpoint(request: Request) -> Response:
            version: Version | None = None
            try:
                spec = methods.get(request.method)
                if self.microversions is not None and not (spec is not None and spec.unversioned):
                    version = self.microversions.min_version if legacy else self.microversions.negotiate(request)
                if spec is None:
                    response = self.error(MethodNotAllowed(
                        f"The method {request.method} is not allowed for this resource."), version, legacy)
                    response.headers["Allow"] = allow
                    return response
                params = dict(request.path_params)
                _refuse_nul(params.values(), request.query_params.values())
                if spec.media_types is not None and request.method in BODY_METHODS:
                    ctype = media_type(request)
                    if ctype not in spec.media_types:
                        raise UnsupportedMediaType(f"Unsupported content type: {ctype or '(none)'}; send "
                                                   f"{' or '.join(spec.media_types)}.")
                call = Call(request=request, body=None, params=params, validate_token=self.validate_token,
                            version=version, legacy=legacy, services=self.services, service=self.name)
                if spec.raw_body:
                    call.body_stream = BodyStream(request)
                    response = await self._run_streaming(spec.handler, call)
                else:
                    if request.method in BODY_METHODS:
                        call.body = await read_json(request, self.max_body, self.body_rules,
                                                check_type=spec.media_types is None)
                        if call.body is not None:
                            _refuse_nul(_strings(call.body))
                    response = spec.handler(call) if spec.inline else await self.pool.run(spec.handler, call)
            except CaasError as exc:
                return self.error(exc, version, legacy)
            except Exception:  # noqa: BLE001 - a bug must still answer in the API's format
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return self.error(CaasError("An unexpected error prevented the server from fulfilling "
                                            "your request."), version, legacy)
            if version is not None and not legacy:
                response.headers.update(self.microversions.headers(version))
            if request.method == "HEAD":
                response.body = b""
            return response
        return endpoint

    def has(self, path: str) -> bool:
        return path in self._paths

    def routes(self) -> list[tuple[str, str]]:
        """Every (method, path) registered (HEAD only where it was asked for explicitly)."""
        return [(m, path) for path, methods in self._paths.items() for m, spec in methods.items()
                if m != "HEAD" or spec is not methods.get("GET")]

    def endpoint(self, path: str):
        """The ASGI endpoint of one registered path (for mounting it elsewhere too)."""
        return self._endpoint(self._paths[path])

    def router(self) -> Router:
        async def not_found(scope, receive, send):
            version = None
            if self.legacy is not None and self.legacy.covers(get_route_path(scope)):
                await self.error(NotFound("The resource could not be found."), legacy=True)(scope, receive, send)
                return
            if self.microversions is not None:
                try:
                    version = self.microversions.negotiate(Request(scope))
                except CaasError as exc:
                    await self.error(exc)(scope, receive, send)
                    return
            await self.error(NotFound("The resource could not be found."), version)(scope, receive, send)
        routes = [Route(path, self._endpoint(methods), methods=ALL_METHODS) for path, methods in self._paths.items()]
        if self.legacy is not None:
            aliases = {self.legacy.aliased(path): methods for path, methods in self._paths.items()}
            routes += [Route(alias, self._endpoint(methods, legacy=True), methods=ALL_METHODS)
                       for alias, methods in aliases.items() if alias is not None and alias not in self._paths]
        return Router(routes=routes, default=not_found)
