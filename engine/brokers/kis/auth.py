"""Credentials of one KIS app key: the REST access token and the WebSocket approval key.

The access token lives 24 h and KIS issues at most one a minute (``EGW00133``) and
sends the user a KakaoTalk notice for each, so it is cached and refreshed only when
it is near expiry; concurrent callers share one issuance. The approval key is
fetched once and again only when the stream says it is no longer accepted.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import aiohttp

from engine.brokers.kis.errors import KisTokenError
from engine.brokers.kis.transport import Response, exchange
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
ISSUE_INTERVAL_S = 60.0  # KIS: one token issuance per minute
REFRESH_MARGIN_S = 3600.0  # renew a token this long before it expires


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
        self._approval_lock = asyncio.Lock()
        self.issuances = 0

    def __repr__(self) -> str:
        return f"KisAuth(app_key=...{self.app_key[-4:]})"

    @property
    def app_secret(self) -> str:
        return self._app_secret

    # -- access token ---------------------------------------------------------

    async def access_token(self) -> str:
        """A valid token, issuing one only when none is cached or it is near expiry."""
        async with self._token_lock:
            now_ms = self._clock.now_ms()
            remaining_s = (self._token_expires_ms - now_ms) / 1000.0
            if self._token is not None and remaining_s > REFRESH_MARGIN_S:
                return self._token
            wait = self._issue_wait()
            if self._token is not None and remaining_s > 0 and wait > 0:
                return self._token  # near expiry but too soon to renew: keep using it
            if wait > 0:
                await self._clock.sleep(wait)
            return await self._issue()

    def invalidate_token(self, token: str) -> None:
        """KIS rejected ``token`` (expired or invalid): the next call issues a new one."""
        if self._token == token:
            self._token = None
            self._token_expires_ms = 0

    def _issue_wait(self) -> float:
        if self._last_issue is None:
            return 0.0
        return max(0.0, self._last_issue + ISSUE_INTERVAL_S - self._clock.monotonic())

    async def _issue(self) -> str:
        self._last_issue = self._clock.monotonic()
        self.issuances += 1
        resp = await self._post_credentials("/oauth2/tokenP", "appsecret")
        token = resp.body.get("access_token")
        if not isinstance(token, str) or not token:
            raise KisTokenError(resp.status, "", "token response without access_token")
        self._token = token
        self._token_expires_ms = self._expiry_ms(resp.body)
        log.info("KIS access token issued for app key ...%s", self.app_key[-4:])
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
            if self._approval is None:
                resp = await self._post_credentials("/oauth2/Approval", "secretkey")  # sic: not appsecret
                key = resp.body.get("approval_key")
                if not isinstance(key, str) or not key:
                    raise KisTokenError(resp.status, "", "approval response without approval_key")
                self._approval = key
                log.info("KIS approval key issued for app key ...%s", self.app_key[-4:])
            return self._approval

    def invalidate_approval(self) -> None:
        self._approval = None
