"""Authenticated, throttled KIS REST calls for one app key.

Every call carries the headers of KIS_PROTOCOL.md §2.3, waits for its slot in the
app key's :class:`Throttle`, and has a timeout. ``EGW00201`` (too many calls) backs
the throttle off and retries a bounded number of times; an expired or invalid
token is dropped and re-issued once. Only idempotent calls (GET) are retried here;
orders belong to the account actor, which reconciles before any second send.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import KisApiError, KisRateLimited
from engine.brokers.kis.throttle import Throttle
from engine.brokers.kis.transport import TOKEN_EXPIRED, TOKEN_INVALID, Response, exchange

log = logging.getLogger(__name__)

RATE_LIMIT_BACKOFF_S = 1.0  # pause after EGW00201, times the attempt number


class KisRest:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        rest_url: str,
        auth: KisAuth,
        throttle: Throttle,
        *,
        timeout_s: float = 10.0,
        rate_limit_retries: int = 3,
        rate_limit_backoff_s: float = RATE_LIMIT_BACKOFF_S,
        custtype: str = "P",
    ) -> None:
        self._session = session
        self._rest_url = rest_url.rstrip("/")
        self.auth = auth
        self.throttle = throttle
        self._timeout_s = timeout_s
        self._retries = rate_limit_retries
        self._backoff_s = rate_limit_backoff_s
        self._custtype = custtype
        self.rate_limited = 0  # EGW00201 answers seen

    async def get(self, path: str, tr_id: str, params: dict[str, str], *, tr_cont: str = "") -> Response:
        return await self._call("GET", path, tr_id, params=params, tr_cont=tr_cont, retry=True)

    async def post(self, path: str, tr_id: str, body: dict[str, str]) -> Response:
        """A POST is sent once: a rate-limit answer means it was not executed and is raised."""
        return await self._call("POST", path, tr_id, body=body, retry=False)

    async def _call(
        self,
        method: str,
        path: str,
        tr_id: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
        tr_cont: str = "",
        retry: bool,
    ) -> Response:
        token_retried = False
        attempt = 0
        while True:
            token = await self.auth.access_token()
            headers: dict[str, Any] = {
                "content-type": "application/json; charset=utf-8",
                "authorization": f"Bearer {token}",
                "appkey": self.auth.app_key,
                "appsecret": self.auth.app_secret,
                "tr_id": tr_id,
                "custtype": self._custtype,
                "tr_cont": tr_cont,
            }
            await self.throttle.acquire()
            try:
                return await exchange(
                    self._session,
                    method,
                    f"{self._rest_url}{path}",
                    timeout_s=self._timeout_s,
                    headers=headers,
                    params=params,
                    json=body,
                )
            except KisRateLimited:
                self.rate_limited += 1
                self.throttle.penalize(self._backoff_s * (attempt + 1))
                if not retry or attempt >= self._retries:
                    raise
                attempt += 1
                log.warning("KIS rate limit on %s %s, retry %d", tr_id, path, attempt)
            except KisApiError as exc:
                if exc.code in (TOKEN_EXPIRED, TOKEN_INVALID) and not token_retried:
                    token_retried = True
                    self.auth.invalidate_token(token)
                    log.warning("KIS rejected the access token (%s), issuing a new one", exc.code)
                    continue
                raise
