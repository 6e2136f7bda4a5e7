"""What WebSocket clients receive: JSON objects with ``type`` in
{ack, error, trade, quote, signal, order, status}; prices and quantities are
JSON integers; times are KST. Encoded once per record, whatever the number of
clients (the feed does it, see ``MarketFeed``)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Literal, get_args

import msgspec

from engine.market.krx import KST_OFFSET_MS
from engine.market.messages import Quote, Tick

_encoder = msgspec.json.Encoder()


class TradeOut(msgspec.Struct, frozen=True, tag_field="type", tag="trade"):
    code: str
    date: str  # YYYYMMDD, KST
    time: str  # HHMMSS, KST
    price: int
    volume: int
    cum_volume: int
    change: int
    ask: int
    bid: int
    ts_ms: int  # UTC epoch ms (exchange time)
    seen_ns: int  # when the trade entered the server (wall clock ns), for latency measurement


class Level(msgspec.Struct, frozen=True, array_like=False):
    price: int
    qty: int


class QuoteOut(msgspec.Struct, frozen=True, tag_field="type", tag="quote"):
    code: str
    time: str
    asks: list[Level]  # best first
    bids: list[Level]
    total_ask_qty: int
    total_bid_qty: int
    ts_ms: int


class AckOut(msgspec.Struct, frozen=True, tag_field="type", tag="ack", omit_defaults=True):
    message: str
    tr_type: str | None = None
    tr_id: str | None = None
    st_code: str | None = None
    strategy_type: str | None = None


class ErrorOut(msgspec.Struct, frozen=True, tag_field="type", tag="error"):
    code: str
    message: str


class StatusOut(msgspec.Struct, frozen=True, tag_field="type", tag="status"):
    status: str  # "live" | "reconnecting"
    detail: str


class SignalOut(msgspec.Struct, frozen=True, tag_field="type", tag="signal"):
    strategy: str
    code: str
    side: Literal["buy", "sell"]
    price: int
    indicators: dict[str, float]
    time: str  # ISO-8601 KST
    ts_ms: int


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """An order as ``/kis_socket`` ``order`` messages show it (prices and quantities integers)."""

    order_id: str
    account_id: int
    client_order_id: str
    stock_code: str
    order_type: str  # buy | sell
    quantity: int
    price: int | None  # None: a market order
    status: str
    filled_quantity: int
    average_price: int
    reason: str


OrderEventKind = Literal["accepted", "partially_filled", "filled", "modified", "cancelled", "expired", "rejected"]
ORDER_EVENTS: tuple[OrderEventKind, ...] = get_args(OrderEventKind)
_AFTER_FILL: dict[str, OrderEventKind] = {  # a late fill of a cancelled or expired order keeps its final word
    "partially_filled": "partially_filled", "filled": "filled", "cancelled": "cancelled", "expired": "expired",
}


def fill_event(status: str) -> OrderEventKind:
    """The event that announces an order's status after a fill was journalled; any other status is a bug."""
    try:
        return _AFTER_FILL[status]
    except KeyError:
        raise ValueError(f"an order with a fill cannot be {status!r}") from None


class OrderOut(msgspec.Struct, frozen=True, tag_field="type", tag="order"):
    event: OrderEventKind
    order: OrderView


@functools.lru_cache(maxsize=8)
def _kst_day(days: int) -> str:
    """YYYYMMDD of a KST day number (days since 1970-01-01): the same few days, every trade."""
    return dt.date.fromordinal(719163 + days).strftime("%Y%m%d")  # 719163 = date(1970, 1, 1).toordinal()


def kst_parts(ts_ms: int) -> tuple[str, str]:
    secs = (ts_ms + KST_OFFSET_MS) // 1000
    days, rem = divmod(secs, 86400)
    return _kst_day(days), f"{rem // 3600:02d}{rem // 60 % 60:02d}{rem % 60:02d}"


def trade_out(t: Tick) -> TradeOut:
    date, time = kst_parts(t.ts_ms)
    return TradeOut(t.code, date, time, t.price, t.volume, t.cum_volume, t.change, t.ask, t.bid, t.ts_ms, t.seen_ns)


def encode_trade(t: Tick) -> bytes:
    return _encoder.encode(trade_out(t))


def encode_quote(q: Quote) -> bytes:
    _, time = kst_parts(q.ts_ms)
    return _encoder.encode(QuoteOut(
        q.code, time,
        [Level(p, n) for p, n in zip(q.asks, q.ask_qty)],
        [Level(p, n) for p, n in zip(q.bids, q.bid_qty)],
        q.total_ask_qty, q.total_bid_qty, q.ts_ms,
    ))


def encode(msg: msgspec.Struct) -> bytes:
    return _encoder.encode(msg)
