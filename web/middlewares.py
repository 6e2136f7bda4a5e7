"""The one place errors become HTTP responses, and where requests get their id.

Body: ``{"error": {"code", "message", "fields": {name: message}}}``. Web errors
(web/errors.py) carry their status; storage and engine errors are mapped
here; anything else is a 500 whose details go to the log, never the client.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from sqlalchemy import exc as sa_exc

from engine.cluster.errors import ClusterError
from engine.runtime import ActorStopped, AskTimeout, MailboxFull
from storage import Conflict, DatabaseUnavailable, NotFound
from web import logs
from web.bodies import respond
from web.errors import ApiError, TooManyRequests
from web.schemas import ErrorBody, ErrorDetail

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    return respond(ErrorBody(ErrorDetail(code, message, fields or {})), status=status, headers=headers)


@web.middleware
async def request_context(request: web.Request, handler):  # type: ignore[no-untyped-def]
    rid = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]
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
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.fields)
    except web.HTTPException as exc:
        if exc.status == 413:
            return error_response(413, "too_large", "request body too large")
        if exc.status < 400 or exc.empty_body:
            raise
        reason = exc.reason or "error"
        return error_response(exc.status, reason.lower().replace(" ", "_"), reason)
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except Conflict as exc:
        return error_response(409, "conflict", str(exc))
    except DatabaseUnavailable as exc:
        log.warning("database unavailable: %s", exc)
        return error_response(503, "database_unavailable", str(exc))
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        log.warning("database error on %s %s: %s", request.method, request.path, type(exc).__name__)
        return error_response(503, "database_unavailable", "the database is unavailable; try again")
    except (MailboxFull, ActorStopped, AskTimeout) as exc:
        log.warning("engine busy: %s", exc)
        return error_response(503, "engine_busy", str(exc))
    except ClusterError as exc:  # the owner is moving or unreachable: try again shortly
        log.warning("cluster: %s", exc)
        return error_response(503, "cluster_unavailable", str(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")
