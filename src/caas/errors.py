"""The one domain error hierarchy. Services raise these; the HTTP edge maps them to status
codes and renders them in each API's own error format. Services never raise HTTP errors."""

from __future__ import annotations

import math


class CaasError(Exception):
    """Base of every error a service raises on purpose. ``status`` is the HTTP mapping."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, message: str = "", kind: str | None = None) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title
        # The API-specific error name where one exists (Neutron's "NetworkNotFound", ...).
        self.kind = kind or type(self).__name__


class BadRequest(CaasError):
    status = 400
    title = "Bad Request"


class Unauthorized(CaasError):
    status = 401
    title = "Unauthorized"


class Forbidden(CaasError):
    status = 403
    title = "Forbidden"


class NotFound(CaasError):
    status = 404
    title = "Not Found"


class MethodNotAllowed(CaasError):
    status = 405
    title = "Method Not Allowed"


class NotAcceptable(CaasError):
    status = 406
    title = "Not Acceptable"


class Conflict(CaasError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(CaasError):
    status = 413
    title = "Request Entity Too Large"


class UnsupportedMediaType(CaasError):
    status = 415
    title = "Unsupported Media Type"


class QuotaExceeded(CaasError):
    status = 403
    title = "Quota Exceeded"


class NoValidHost(CaasError):
    status = 500
    title = "No Valid Host"


class ServiceUnavailable(CaasError):
    status = 503
    title = "Service Unavailable"


class TooManyRequests(CaasError):
    """Refused until ``retry_after`` seconds have passed (a throttle's wait)."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, message: str = "", kind: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message, kind)
        self.retry_after = retry_after


def wait_seconds(exc: CaasError) -> int | None:
    """How long a refusal asks the caller to wait before trying again (its ``retry_after``), in
    whole seconds and at least one, as a Retry-After header gives it; None when it asks for no
    wait."""
    seconds = getattr(exc, "retry_after", None)
    return max(1, math.ceil(seconds)) if seconds else None
