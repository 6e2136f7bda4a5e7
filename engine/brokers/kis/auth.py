"""Credentials of one KIS app key: the REST access token and the WebSocket approval key.

The access token lives 24 h and KIS issues at most one a minute (``EGW00133``) and
sends the user a KakaoTalk notice for each, so it is cached and refreshed only when
it is near expiry; concurrent callers share one issuance. With a :class:`TokenStore`
the token and the time of its issuance outlive the process (``storage`` keeps them
encrypted), so a restart reuses the token instead of asking for one inside the
minute. An ``EGW00133`` answer (too soon) marks the minute as used: the next
caller waits for the rest of it.

The approval key is fetched when first needed, again when it is a day old
(:data:`APPROVAL_MAX_AGE_S`) and after :meth:`invalidate_approval` (the stream
calls it on every reconnect).
"""

from __future__ import annotations

import asyncio
import logging
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from typing import Protocol

import aiohttp
import msgspec

from engine.brokers.kis.errors import KisTokenError
from engine.brokers.kis.transport import TOKEN_TOO_SOON, Response, exchange
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
ISSUE_INTERVAL_S = 60.0  # KIS: one token issuance per minute
REFRESH_MARGIN_S = 3600.0  # renew a token this long before it expires
APPROVAL_MAX_AGE_S = 86_400.0  # a WebSocket approval key is fetched anew after a day
_FINGERPRINT_SALT = b"autotrader-kis-app-key"


def key_fingerprint(app_key: str) -> str:
    """A short keyed digest that tells app keys apart in logs without revealing any of them.

    (Masking to the last 4 characters made different keys look alike and leaked 4 characters.)
    """
    digest = hmac.new(_FINGERPRINT_SALT, app_key.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"key#{digest[:8]}"


class StoredToken(msgspec.Struct, frozen=True):
    """An access token as a :class:`TokenStore` keeps it (epoch milliseconds, UTC)."""

    token: str
    expires_ms: int
    issued_ms: int


class TokenStore(Protocol):
    """Where tokens outlive the process: one entry per (REST host, app key)."""

    async def load(self, scope: str, app_key: str) -> StoredToken | None: ...

    async def save(self, scope: str, app_key: str, token: StoredToken) -> None: ...


class KisAuth:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        rest_url: str,
        app_key: str,
        app_secret: str,
        clock: Clock,
        *,
        timeout_s: float = 10.0,
        store: TokenStore | None = None,
        max_wait_s: float = ISSUE_INTERVAL_S,
    ) -> None:
        self._session = session
        self._rest_url = rest_url.rstrip("/")
        self.app_key = app_key
        self._app_secret = app_secret
        self._clock = clock
        self._timeout_s = timeout_s
        self._token: str | None = None
        self._token_expires_ms = 0
        self._last_issue: float | None = None  # clock.monotonic() of the last issuance attempt
        self._token_lock = asyncio.Lock()
        self._approval: str | None = None
        self._approval_ms = 0
        self._approval_lock = asyncio.Lock()
        self.store = store
        self.max_wait_s = max_wait_s  # a caller waits this long at most for the next issuance slot
        self._loaded = store is None
        self.issuances = 0
        self.approvals = 0
        self.fingerprint = key_fingerprint(app_key)

    def __repr__(self) -> str:
        return f"KisAuth({self.fingerprint})"

    @property
    def app_secret(self) -> str:
        return self._app_secret

    # -- access token ---------------------------------------------------------

    async def access_token(self) -> str:
        """A valid token, issuing one only when none is cached or it is near expiry."""
        async with self._token_lock:
            if not self._loaded:
                await self._load()
            now_ms = self._clock.now_ms()
            remaining_s = (self._token_expires_ms - now_ms) / 1000.0
            if self._token is not None and remaining_s > REFRESH_MARGIN_S:
                return self._token
            wait = self._issue_wait()
            if self._token is not None and remaining_s > 0 and wait > 0:
                return self._token  # near expiry but too soon to renew: keep using it
            if wait > self.max_wait_s:
                raise KisTokenError(0, TOKEN_TOO_SOON, f"no access token yet: KIS issues one a minute, "
                                    f"the next in {wait:.0f} s")
            if wait > 0:
                await self._clock.sleep(wait)
            return await self._issue()

    def invalidate_token(self, token: str) -> None:
        """KIS rejected ``token`` (expired or invalid): the next call issues a new one."""
        if self._token == token:
            self._token = None
            self._token_expires_ms = 0

    def use_store(self, store: TokenStore) -> None:
        """Keep tokens in ``store`` from now on (read it before the next issuance)."""
        self.store = store
        self._loaded = self._token is not None

    @property
    def token_ready(self) -> bool:
        """A token is cached and not expired (no issuance needed to call KIS now)."""
        return self._token is not None and self._token_expires_ms > self._clock.now_ms()

    async def _load(self) -> None:
        assert self.store is not None
        try:
            stored = await self.store.load(self._rest_url, self.app_key)
        except Exception as exc:  # a store that cannot answer must not stop trading: issue instead
            log.warning("KIS token store unreadable for %s: %s", self.fingerprint, exc)
            stored = None
        self._loaded = True
        if stored is None:
            return
        now_ms = self._clock.now_ms()
        age_s = max(0.0, (now_ms - stored.issued_ms) / 1000.0)
        if age_s < ISSUE_INTERVAL_S:
            self._last_issue = self._clock.monotonic() - age_s
        if stored.expires_ms > now_ms and self._token is None:
            self._token, self._token_expires_ms = stored.token, stored.expires_ms
            log.info("KIS access token for %s reused from the store", self.fingerprint)

    async def _persist(self) -> None:
        if self.store is None:
            return
        entry = StoredToken(self._token or "", self._token_expires_ms, self._clock.now_ms())
        try:
            await self.store.save(self._rest_url, self.app_key, entry)
        except Exception as exc:  # the token still works for this process
            log.warning("KIS token for %s not persisted: %s", self.fingerprint, exc)

    def _issue_wait(self) -> float:
        if self._last_issue is None:
            return 0.0
        return max(0.0, self._last_issue + ISSUE_INTERVAL_S - self._clock.monotonic())

    async def _issue(self) -> str:
        self._last_issue = self._clock.monotonic()
        self.issuances += 1
        try:
            resp = await self._post_credentials("/oauth2/tokenP", "appsecret")
        except KisTokenError as exc:
            if exc.code == TOKEN_TOO_SOON:  # someone (another process, a restart) used this minute
                log.warning("KIS refused a token for %s within the minute (EGW00133)", self.fingerprint)
                self._last_issue = self._clock.monotonic()
            raise
        token = resp.body.get("access_token")
        if not isinstance(token, str) or not token:
            raise KisTokenError(resp.status, "", "token response without access_token")
        self._token = token
        self._token_expires_ms = self._expiry_ms(resp.body)
        log.info("KIS access token issued for %s", self.fingerprint)
        await self._persist()
        return token

    async def _post_credentials(self, path: str, secret_field: str) -> Response:
        return await exchange(
            self._session, "POST", f"{self._rest_url}{path}", timeout_s=self._timeout_s,
            headers={"content-type": "application/json"},
            json={"grant_type": "client_credentials", "appkey": self.app_key, secret_field: self._app_secret},
        )

    def _expiry_ms(self, body: dict) -> int:
        # expires_in has no reference time and drifts; the KST timestamp is authoritative.
        stamp = body.get("access_token_token_expired")
        if isinstance(stamp, str):
            try:
                at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
                return int(at.timestamp() * 1000)
            except ValueError:
                log.warning("unreadable access_token_token_expired %r", stamp)
        try:
            seconds = float(body.get("expires_in", 86400))
        except (TypeError, ValueError):
            seconds = 86400.0
        return self._clock.now_ms() + int(seconds * 1000)

    # -- approval key ----------------------------------------------------------

    async def approval_key(self) -> str:
        async with self._approval_lock:
            age_s = (self._clock.now_ms() - self._approval_ms) / 1000.0
            if self._approval is None or age_s >= APPROVAL_MAX_AGE_S:
                resp = await self._post_credentials("/oauth2/Approval", "secretkey")  # sic: not appsecret
                key = resp.body.get("approval_key")
                if not isinstance(key, str) or not key:
                    raise KisTokenError(resp.status, "", "approval response without approval_key")
                self._approval = key
                self._approval_ms = self._clock.now_ms()
                self.approvals += 1
                log.info("KIS approval key issued for %s", self.fingerprint)
            return self._approval

    def invalidate_approval(self) -> None:
        self._approval = None
