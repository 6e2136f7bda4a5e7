"""JWT: issuing tokens at login, and the guards every protected handler calls.

HS256 with the secret from settings; claims ``sub`` (the user id as a string),
``ver`` (the user's token version when it was issued), ``iat``, ``exp``;
decoded with an algorithm allow-list, so ``alg: none`` and other algorithms
are refused. Any bad, expired or missing token is 401 with the same body shape.

A token is also checked on every request that carries one (:func:`check_tokens`,
a middleware): a deleted user's token, or a token issued before the user's
last logout or password change (an older ``ver``), is 401 ``token_revoked``.
The user's current version is read from the database and kept in process
(:class:`TokenVersions`) for ``token_cache_s``: a logout or password change
in this process replaces it at once (:func:`revoked`), so revocation here is
immediate; in cluster mode the revocation is also broadcast on NATS
(``web/cluster.py``), and every other node keeps the new version as soon as the
message arrives. A change whose broadcast is lost, or made outside the server
(a deleted user, the database by hand), counts within ``token_cache_s``.
Roles are read from the database on each admin request, so a promotion or
demotion counts at once.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

import jwt
from aiohttp import web

from storage import UserRepo
from web import logs
from web.errors import Forbidden, Unauthorized
from web.keys import CLOCK, SESSIONS, SETTINGS

ALGORITHM = "HS256"
_ALLOWED = [ALGORITHM]
_CHECKED = web.RequestKey("auth_user_id", int)  # the user id whose token passed the database check
_REFUSED = web.RequestKey("auth_refused", Unauthorized)  # why a well-signed token was refused


class TokenVersions:
    """User id → (current token version, when it was read): the revocation check without a query.

    Versions only grow, so a read that lost a race with a logout never lowers what is kept.
    ``broadcast`` (set in cluster mode) tells the other nodes of a revocation made here."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._kept: dict[int, tuple[int, float]] = {}
        self._waiters: dict[int, list[tuple[int, asyncio.Future[None]]]] = {}
        self.hits = 0
        self.reads = 0
        self.broadcast: Callable[[int, int], Awaitable[None]] | None = None

    def get(self, user_id: int, now: float) -> int | None:
        kept = self._kept.get(user_id)
        if kept is None or now - kept[1] >= self.ttl_s:
            return None
        self.hits += 1
        return kept[0]

    def put(self, user_id: int, version: int, now: float) -> int:
        """Keep ``version`` (or the newer one kept already); returns the one kept."""
        kept = self._kept.get(user_id)
        if kept is not None:
            version = max(version, kept[0])
        self._kept[user_id] = (version, now)
        if len(self._kept) > 100_000:  # stale entries of users gone quiet
            self._kept = {u: v for u, v in self._kept.items() if now - v[1] < self.ttl_s}
        if user_id in self._waiters:
            self._wake(user_id, version)
        return version

    async def reached(self, user_id: int, version: int) -> None:
        """Return once this process keeps ``version`` (or a newer one) for the user: a revocation
        made here or broadcast by another node has arrived (cancel it to stop waiting)."""
        kept = self._kept.get(user_id)
        if kept is not None and kept[0] >= version:
            return
        future = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(user_id, [])
        waiting.append((version, future))
        try:
            await future
        finally:
            if (version, future) in waiting:
                waiting.remove((version, future))
            if not waiting:
                self._waiters.pop(user_id, None)

    def _wake(self, user_id: int, version: int) -> None:
        for wanted, future in self._waiters.get(user_id, ()):
            if wanted <= version and not future.done():
                future.set_result(None)

    def forget(self, user_id: int) -> None:
        self._kept.pop(user_id, None)


TOKEN_VERSIONS = web.AppKey("token_versions", TokenVersions)


def install(app: web.Application) -> None:
    """The app's token-version cache (call while building the app)."""
    app[TOKEN_VERSIONS] = TokenVersions(app[SETTINGS].token_cache_s)


async def revoked(app: web.Application, user_id: int, version: int) -> None:
    """The user's tokens older than ``version`` are revoked (committed): refuse them from now on,
    here at once and, in cluster mode, on the other nodes once the broadcast reaches them (it is
    sent before this returns; a lost one leaves them ``token_cache_s``)."""
    versions = app[TOKEN_VERSIONS]
    versions.put(user_id, version, app[CLOCK].monotonic())
    if versions.broadcast is not None:
        await versions.broadcast(user_id, version)


def issue_token(user_id: int, secret: str, lifetime_s: int, now: float | None = None, version: int = 0) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "ver": version, "iat": issued, "exp": issued + lifetime_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> tuple[int, int]:
    """(user id, token version) of a valid token; :class:`Unauthorized` otherwise.

    A token whose signature and claims were checked once is kept (:func:`_checked`, an LRU of
    10,000): a repeat costs a lookup and the expiry check, not PyJWT's decode (most of a cheap
    request's time)."""
    user_id, version, expires = _checked(token, secret)
    if time.time() >= expires:
        raise Unauthorized("token expired", code="token_expired")
    return user_id, version


@functools.lru_cache(maxsize=10_000)
def _checked(token: str, secret: str) -> tuple[int, int, int]:
    """(user id, version, expiry) of a well-signed token with good claims; a refusal raises (not kept)."""
    try:
        claims = jwt.decode(token, secret, algorithms=_ALLOWED, options={"require": ["sub", "exp", "iat"]})
        user_id = int(claims["sub"])
        version = claims.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool) or not 0 < user_id < 2**63:
            raise ValueError("bad claims")
        return user_id, version, int(claims["exp"])
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
    cache, clock = app[TOKEN_VERSIONS], app[CLOCK]
    current = cache.get(user_id, clock.monotonic())
    if current is None:
        started = clock.monotonic()
        cache.reads += 1
        async with app[SESSIONS]() as session:
            current = await UserRepo(session).token_version(user_id)
        if current is None:  # deleted: not kept, so a new read answers the same
            cache.forget(user_id)
        else:
            current = cache.put(user_id, current, started)  # a logout during the read wins
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
