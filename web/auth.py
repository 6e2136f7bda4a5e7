"""JWT: issuing tokens at login, and the guards every protected handler calls.

HS256 with the secret from settings; claims ``sub`` (the user id as a string),
``iat``, ``exp``; decoded with an algorithm allow-list, so ``alg: none`` and
other algorithms are refused. Any bad, expired or missing token is 401 with
the same body shape. Roles are read from the database on each admin request,
so a promotion or demotion counts at once.
"""

from __future__ import annotations

import time

import jwt
from aiohttp import web

from storage import UserRepo
from web import logs
from web.errors import Forbidden, Unauthorized
from web.keys import SESSIONS, SETTINGS

ALGORITHM = "HS256"
_ALLOWED = [ALGORITHM]


def issue_token(user_id: int, secret: str, lifetime_s: int, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "iat": issued, "exp": issued + lifetime_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> int:
    """The user id in a valid token; :class:`Unauthorized` otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=_ALLOWED, options={"require": ["sub", "exp", "iat"]})
        return int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("invalid token", code="invalid_token") from None


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer token is required", code="missing_token")
    return token.strip()


def require_user(request: web.Request) -> int:
    """The caller's user id (and tag the request's logs with it)."""
    user_id = verify_token(bearer(request), request.app[SETTINGS].jwt_secret)
    logs.user_id.set(str(user_id))
    return user_id


async def require_admin(request: web.Request) -> int:
    user_id = require_user(request)
    async with request.app[SESSIONS]() as session:
        user = await UserRepo(session).get(user_id)
    if user is None:
        raise Unauthorized("invalid token", code="invalid_token")
    if user.role != "admin":
        raise Forbidden("administrators only", code="admin_only")
    return user_id
