"""How the paper broker matches an order against one order book (a :class:`Quote`): pure functions.

One book is the market's state at one moment: ten ask levels and ten bid
levels, each a price and the quantity shown there.

- :func:`walk` takes the levels an order may trade at, best first, and
  returns ``[(quantity, price), ...]``: at each level no more than the
  quantity shown there (less what this book already gave other orders of the
  account, ``used``), until the order's remainder is filled or the levels run
  out. A buy takes asks, a sell bids.
- A market order may trade at every level inside the day's price limits
  (:func:`market_levels`); a limit order only at levels at or better than its
  limit (:func:`limit_levels`: asks ≤ limit for a buy, bids ≥ limit for a sell).
- Never a fill outside the day's limits (``price_limits(base)``): levels
  outside them are skipped (a book from a bad feed cannot move cash past them).

What a market order's walk leaves unfilled is cancelled by the broker with a
reason naming the shares the visible book lacked (KRX's market order would sit
on the book as a limit at the last price; the paper market fills only what it
can see, so a user's market order never waits on a book that may never come).
A limit order's unfilled remainder rests for the next book.

Auctions (opening and closing single-price) are matched elsewhere at one
price; these functions are the continuous session's.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.market.krx import price_limits
from engine.market.messages import Quote

Level = tuple[int, int]  # (price, quantity shown)
Used = dict[tuple[str, int, str, int], int]  # (code, book ts, side, price) -> shares already taken


def levels(quote: Quote, side: str) -> list[Level]:
    """The levels a ``side`` order trades against, best first (asks for a buy, bids for a sell)."""
    prices, sizes = (quote.asks, quote.ask_qty) if side == "buy" else (quote.bids, quote.bid_qty)
    return [(p, q) for p, q in zip(prices, sizes, strict=False) if p > 0 and q > 0]


def within_limits(price: int, base_price: int) -> bool:
    if base_price <= 0:
        return True
    low, high = price_limits(base_price)
    return low <= price <= high


def market_levels(quote: Quote, side: str, base_price: int) -> list[Level]:
    return [lv for lv in levels(quote, side) if within_limits(lv[0], base_price)]


def limit_levels(quote: Quote, side: str, limit: int, base_price: int) -> list[Level]:
    ok = (lambda p: p <= limit) if side == "buy" else (lambda p: p >= limit)
    return [lv for lv in levels(quote, side) if ok(lv[0]) and within_limits(lv[0], base_price)]


def walk(quote: Quote, side: str, quantity: int, usable: Iterable[Level], used: Used) -> list[tuple[int, int]]:
    """Fill up to ``quantity`` over ``usable`` levels; returns ``[(qty, price)]`` and counts them in ``used``."""
    fills: list[tuple[int, int]] = []
    left = quantity
    for price, shown in usable:
        if left <= 0:
            break
        key = (quote.code, quote.ts_ms, side, price)
        take = min(left, shown - used.get(key, 0))
        if take <= 0:
            continue
        used[key] = used.get(key, 0) + take
        fills.append((take, price))
        left -= take
    return fills


def crosses(quote: Quote, side: str, limit: int) -> bool:
    lv = levels(quote, side)
    if not lv:
        return False
    best = lv[0][0]
    return best <= limit if side == "buy" else best >= limit
