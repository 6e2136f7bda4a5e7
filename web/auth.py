"""JWT: issuing tokens at login, and the guards every protected handler calls.

HS256 with the secret from settings; claims ``sub`` (the user id as a string),
``ver`` (the user's token version when it was issued), ``iat``, ``exp``;
decoded with an algorithm allow-list, so ``alg: none`` and other algorithms
are refused. Any bad, expired or missing token is 401 with the same body shape.

A token is also checked against the database on every request that carries
one (:func:`check_tokens`, a middleware): a deleted user's token, or a token
issued before the user's last logout or password change (an older ``ver``),
is 401 ``token_revoked``. Roles are read from the database on each admin
request, so a promotion or demotion counts at once.
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
_CHECKED = web.RequestKey("auth_user_id", int)  # the user id whose token passed the database check
_REFUSED = web.RequestKey("auth_refused", Unauthorized)  # why a well-signed token was refused


def issue_token(user_id: int, secret: str, lifetime_s: int, now: float | None = None, version: int = 0) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "ver": version, "iat": issued, "exp": issued + lifetime_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> tuple[int, int]:
    """(user id, token version) of a valid token; :class:`Unauthorized` otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=_ALLOWED, options={"require": ["sub", "exp", "iat"]})
        user_id = int(claims["sub"])
        version = claims.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool) or not 0 < user_id < 2**63:
            raise ValueError("bad claims")
        return user_id, version
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
        raise Unauthorized("invalid token", code="invalid_token") from None


def verify_token(token: str, secret: str) -> int:
    """The user id in a valid token (signature and expiry only); :class:`Unauthorized` otherwise."""
    return decode_token(token, secret)[0]


async def verify_live_token(app: web.Application, token: str) -> int:
    """The user id in a valid token whose user exists and whose version is current."""
    user_id, version = decode_token(token, app[SETTINGS].jwt_secret)
    async with app[SESSIONS]() as session:
        current = await UserRepo(session).token_version(user_id)
    if current is None or current != version:
        raise Unauthorized("token revoked", code="token_revoked")
    return user_id


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer token is required", code="missing_token")
    return token.strip()


@web.middleware
async def check_tokens(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Check a presented, well-signed token against the database before the handler runs."""
    if request.headers.get("Authorization"):
        try:
            token = bearer(request)
            decode_token(token, request.app[SETTINGS].jwt_secret)
        except Unauthorized:
            pass  # require_user answers it (unauthenticated routes ignore the header)
        else:
            try:
                request[_CHECKED] = await verify_live_token(request.app, token)
            except Unauthorized as exc:
                request[_REFUSED] = exc  # raised by require_user: /users/login ignores a stale header
    return await handler(request)


def require_user(request: web.Request) -> int:
    """The caller's user id (and tag the request's logs with it)."""
    user_id = verify_token(bearer(request), request.app[SETTINGS].jwt_secret)
    if request.get(_CHECKED) != user_id:  # revoked, or check_tokens did not run: never trust it unchecked
        raise request.get(_REFUSED) or Unauthorized("invalid token", code="invalid_token")
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
