"""Errors raised by web handlers; ``web/middlewares.py`` turns them (and the
engine's and storage's errors) into HTTP statuses and JSON bodies.

    ApiError(status, code, message, fields)
     ├── BadJson          400  the body is not JSON
     ├── Invalid          422  the body fails the schema or a rule (fields name each)
     ├── Unauthorized     401  missing, expired or bad token; bad credentials
     ├── Forbidden        403  authenticated, not allowed
     ├── NotFoundError    404  unknown or not the caller's
     ├── ConflictError    409  taken email, duplicate account, idempotency clash
     ├── RequestTimeout   408  the body did not arrive in time
     ├── TooManyRequests  429  throttled (login failures, rate limits)
     └── Unavailable      503  a dependency is down (database, broker, an actor)
"""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, fields: dict[str, str] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code is not None:
            self.code = code


class BadJson(ApiError):
    status = 400
    code = "bad_json"


class Invalid(ApiError):
    status = 422
    code = "invalid"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFoundError(ApiError):
    status = 404
    code = "not_found"


class ConflictError(ApiError):
    status = 409
    code = "conflict"


class RequestTimeout(ApiError):
    status = 408
    code = "request_timeout"


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: float, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class Unavailable(ApiError):
    """503; with ``retry_after_s`` the response carries ``Retry-After``."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, retry_after_s: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s
