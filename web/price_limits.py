"""``GET /realtime/price-limits/{stock_code}``: the day's price limits and the tick grid of a code.

What an order ticket needs to offer only prices the order checks accept: the
base price (the previous close, as the account's risk checks know it), the
lower and upper limit (base ∓ 30 % rounded inward onto the grid), and the KRX
tick bands, so a client snaps a price with the very table the server checks.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.market import krx
from web.auth import require_user
from web.bodies import respond
from web.errors import Invalid
from web.openapi import route
from web.trading import QUOTE_BOARD


class TickBand(msgspec.Struct, frozen=True):
    below: int | None  # prices under this (null: every price above the previous band)
    tick: int


class PriceLimits(msgspec.Struct, frozen=True):
    stock_code: str
    base_price: int | None  # null when not known yet (then the limits are not checked)
    lower_limit: int | None
    upper_limit: int | None
    tick_bands: list[TickBand]


def _bands(top: int = 100_000_000) -> list[TickBand]:
    """The tick table read off :func:`krx.tick_size` itself (binary search for each change)."""
    bands: list[TickBand] = []
    price = 1
    while True:
        tick = krx.tick_size(price)
        if krx.tick_size(top) == tick:
            bands.append(TickBand(None, tick))
            return bands
        lo, hi = price, top  # tick_size(lo) == tick != tick_size(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if krx.tick_size(mid) == tick else (lo, mid)
        bands.append(TickBand(hi, tick))
        price = hi


BANDS = _bands()


async def price_limits(request: web.Request) -> web.Response:
    require_user(request)
    code = request.match_info["stock_code"]
    if not krx.is_valid_code(code):
        raise Invalid("invalid stock code", fields={"stock_code": "expected a 6-character KRX code such as 005930"})
    board = request.app.get(QUOTE_BOARD)
    base = board.base_price(code) if board is not None else 0
    if base > 0:
        lower, upper = krx.price_limits(base)
        return respond(PriceLimits(code, base, lower, upper, BANDS))
    return respond(PriceLimits(code, None, None, None, BANDS))


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/realtime/price-limits/{stock_code}", price_limits, tag="market",
          summary="the day's price limits of a code and the KRX tick grid", responses={200: PriceLimits},
          errors=(422,))
