"""The one place errors become HTTP responses, and where requests get their id.

Body: ``{"error": {"code", "message", "fields": {name: message}}}``. Web errors
(web/errors.py) carry their status; the engine's and the domain's (the two
roots drawn in engine/errors.py) are mapped by :data:`STATUSES`, first match
wins; anything else is a 500 whose details go to the log, never the client.
Handlers translate the domain errors that need their own words (an order
refused by a rule, bad swing parameters) into ``ApiError`` themselves.
"""

from __future__ import annotations

import logging
import re
import uuid

from aiohttp import web
from sqlalchemy import exc as sa_exc

from engine.cluster.errors import ClusterError
from engine.runtime import ActorStopped, AskTimeout, MailboxFull
from storage import Conflict, DatabaseUnavailable, NotFound
from web import logs
from web.bodies import respond
from web.errors import ApiError, TooManyRequests, Unavailable
from web.schemas import ErrorBody, ErrorDetail

log = logging.getLogger(__name__)

# (error, status, code, logged as a warning): what escapes a handler, by kind.
STATUSES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str, bool], ...] = (
    (NotFound, 404, "not_found", False),
    (Conflict, 409, "conflict", False),
    (DatabaseUnavailable, 503, "database_unavailable", True),
    ((sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError), 503, "database_unavailable", True),
    ((MailboxFull, ActorStopped, AskTimeout), 503, "engine_busy", True),
    (ClusterError, 503, "cluster_unavailable", True),  # the owner is moving or unreachable: try again shortly
)
SAFE_MESSAGE = {sa_exc.SQLAlchemyError: "the database is unavailable; try again"}  # never echo the driver's text


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    return respond(ErrorBody(ErrorDetail(code, message, fields or {})), status=status, headers=headers)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def request_id_of(request: web.Request) -> str:
    """The client's X-Request-Id when it is 1-64 safe characters (no spaces, quotes or newlines that
    could forge log fields), else a fresh one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]


STATIC_PREFIX = "/static/"
STATIC_CACHE = "public, no-cache"


def cache_control(request: web.Request, response: web.StreamResponse) -> str:
    """Answers may carry tokens, balances, orders: never stored by a browser or a proxy (``no-store``).
    The dashboard's files carry nothing private: kept, but revalidated on every use by their ETag, so a
    visit costs a 304 per file instead of the 1.7 MB Swagger bundle again, and a new release is seen at
    once. (A ``max-age`` would need versioned URLs, which a page without a build step cannot write.)"""
    if request.path.startswith(STATIC_PREFIX) and response.status in (200, 304):
        return STATIC_CACHE
    return "no-store"


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (``on_response_prepare``: errors, 404s and WebSocket upgrades too)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", cache_control(request, response))
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


@web.middleware
async def request_context(request: web.Request, handler):  # type: ignore[no-untyped-def]
    rid = request_id_of(request)
    token = logs.request_id.set(rid)
    user_token = logs.user_id.set("-")
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        logs.request_id.reset(token)
        logs.user_id.reset(user_token)


@web.middleware
async def errors(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except TooManyRequests as exc:
        return error_response(exc.status, exc.code, exc.message, exc.fields,
                              headers={"Retry-After": str(max(1, round(exc.retry_after_s)))})
    except Unavailable as exc:
        retry = {"Retry-After": str(max(1, round(exc.retry_after_s)))} if exc.retry_after_s else None
        return error_response(exc.status, exc.code, exc.message, exc.fields, headers=retry)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.fields)
    except web.HTTPException as exc:
        if exc.status == 413:
            return error_response(413, "too_large", "request body too large")
        if exc.status < 400 or exc.empty_body:
            raise
        reason = exc.reason or "error"
        return error_response(exc.status, reason.lower().replace(" ", "_"), reason)
    except Exception as exc:
        for kind, status, code, warn in STATUSES:
            if isinstance(exc, kind):
                message = _safe_message(exc)
                if warn:
                    log.warning("%s on %s %s: %s", code, request.method, request.path, message)
                return error_response(status, code, message)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


def _safe_message(exc: BaseException) -> str:
    for kind, message in SAFE_MESSAGE.items():
        if isinstance(exc, kind):
            return message
    return str(exc)
