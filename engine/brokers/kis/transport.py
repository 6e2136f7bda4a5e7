"""One KIS HTTP exchange: send, time out, decode JSON, turn error bodies into errors.

KIS answers business errors with HTTP 200 and ``rt_cd != "0"`` or with HTTP 500 and
the same body; token errors use ``error_code``/``error_description`` instead of
``msg_cd``/``msg1`` (KIS_PROTOCOL.md §2.1, §5). Bodies are decoded leniently.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from engine.brokers.kis.errors import (
    KisApiError,
    KisRateLimited,
    KisTokenError,
    KisTransportError,
)

RATE_LIMITED = "EGW00201"
TOKEN_TOO_SOON = "EGW00133"
TOKEN_INVALID = "EGW00121"
TOKEN_EXPIRED = "EGW00123"

_json = msgspec.json.Decoder()


class Response(msgspec.Struct, frozen=True):
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    json: dict[str, str] | None = None,
) -> Response:
    """One request; raises :class:`KisTransportError` or :class:`KisApiError`."""
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            raw = await resp.read()
            status = resp.status
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
    except asyncio.TimeoutError:
        raise KisTransportError(f"{method} {_path(url)}: no answer within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise KisTransportError(f"{method} {_path(url)}: {exc.__class__.__name__}: {exc}",
                                sent=not isinstance(exc, aiohttp.ClientConnectorError)) from None
    try:
        body = _json.decode(raw)
    except msgspec.DecodeError:
        raise KisTransportError(f"{method} {_path(url)}: HTTP {status}, body is not JSON") from None
    if not isinstance(body, dict):
        raise KisTransportError(f"{method} {_path(url)}: HTTP {status}, body is not an object")
    error = error_from(status, body)
    if error is not None:
        raise error
    if status != 200:
        raise KisApiError(status, "", f"HTTP {status} without an error code")
    return Response(status, body, resp_headers)


def error_from(status: int, body: dict[str, Any]) -> KisApiError | None:
    """The error a KIS body carries, or None for a success."""
    if "error_code" in body:
        code = str(body.get("error_code", ""))
        return KisTokenError(status, code, str(body.get("error_description", "")))
    rt_cd = body.get("rt_cd")
    if rt_cd is None or str(rt_cd) == "0":
        return None
    code = str(body.get("msg_cd", ""))
    message = str(body.get("msg1", ""))
    if code == RATE_LIMITED:
        return KisRateLimited(status, code, message)
    return KisApiError(status, code, message)


def _path(url: str) -> str:
    """The URL without its host (hosts are fine to log; query strings are not needed)."""
    return url.split("?", 1)[0]
