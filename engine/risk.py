"""Checks an order must pass before it is sent, and the fees it costs: pure functions.

Every refusal is an :class:`OrderRefused` whose ``code`` names the rule or the
limit (``invalid_quantity``, ``off_tick``, ``outside_price_limits``,
``market_closed``, ``account_halted``, ``max_order_value``,
``max_position_value``, ``daily_loss_limit``, ``insufficient_cash``,
``insufficient_holdings``) and whose message says the numbers.

Fees are integer KRW: ``fee(value, pct) = floor(value × pct / 100)`` with
``pct`` taken to 0.0001 % (so 0.015 % of 1,000,000 is exactly 150), computed
in integers, never floats. A buy costs value + commission; a sell yields
value − commission − tax.

A market order is valued at the price it would most likely pay: the best ask
for a buy, the best bid for a sell (the ``reference`` the caller passes); a
limit order at its limit. What a buy needs in cash is what it reserves while
open (``reserve_price``: its limit, or for a market buy the day's upper limit,
as KIS prices a market buy against 주문가능금액) plus commission, against the
buying power (cash less what open orders reserve). ``max_position_value``
counts the code's open buys (``open_buy_value``) with the holding; a sell
needs shares that open sells have not reserved (``held``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.errors import DomainError
from engine.market.krx import is_on_tick, price_limits, tick_size
from engine.market.tax import transaction_tax

Side = Literal["buy", "sell"]
PCT_SCALE = 10_000  # pct is kept to 1/10,000 of a percent


class OrderRefused(DomainError):
    """The order breaks a rule; nothing was sent."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Fees(msgspec.Struct, frozen=True):
    commission_pct: float
    sell_tax_pct: float | None = None  # None: the KRX schedule by date and market (engine.market.tax)

    def commission(self, value: int) -> int:
        return fee(value, self.commission_pct)

    def tax(self, side: Side, value: int, ts_ms: int | None = None, market: str = "KOSPI") -> int:
        """The securities transaction tax of a sale traded at ``ts_ms`` (0 on buys): the flat
        ``sell_tax_pct`` when one is set, else the rate of the trade's settlement date and market."""
        if side != "sell":
            return 0
        if self.sell_tax_pct is not None:
            return fee(value, self.sell_tax_pct)
        if ts_ms is None:
            raise ValueError("the tax schedule needs the trade's time")
        return transaction_tax(value, ts_ms, market)

    def buy_cost(self, value: int) -> int:
        """Cash a buy of ``value`` KRW takes, commission included."""
        return value + self.commission(value)


def fee(value: int, pct: float) -> int:
    """``floor(value × pct / 100)`` in integers (pct rounded to 0.0001 %)."""
    if value <= 0 or pct <= 0:
        return 0
    return value * round(pct * PCT_SCALE) // (100 * PCT_SCALE)


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """An account's effective limits (0 = no limit) and its kill switch."""

    max_order_value: int = 0
    max_position_value: int = 0
    daily_loss_limit: int = 0
    halted: bool = False
    halted_reason: str = ""


class OrderFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the checks need to know, gathered by the account actor."""

    side: Side
    quantity: int
    price: int | None  # None: market
    reference: int  # the price a market order is valued at (best ask to buy, best bid to sell); 0 unknown
    base_price: int  # previous close, for the daily limits; 0 unknown (then not checked)
    cash: int  # buying power: orderable cash (open orders' reservations already taken off)
    held: int  # shares of this code held and not reserved by open sells
    held_value: int  # the holding's value at the reference price
    reserve_price: int = 0  # what a buy reserves per share (limit, or the upper limit); 0: the unit price
    limits: tuple[int, int] | None = None  # the exchange's own (lower, upper) when the broker tells them (KIS)
    open_buy_value: int = 0  # the open buys of this code, at their limits
    realized_today: int  # realised P&L of today (KST), negative = loss
    market_open: bool


def check_shape(quantity: int, price: int | None, base_price: int,
                limits: tuple[int, int] | None = None) -> None:
    """Quantity, the tick grid and the daily limits: the checks that need no account.

    ``limits`` are the exchange's own (lower, upper) when the broker knows them (KIS's
    ``stck_llam``/``stck_mxpr``): they win over the ones computed from ``base_price``.
    """
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise OrderRefused("invalid_quantity", f"quantity must be a positive integer, got {quantity!r}",
                           "quantity")
    if price is None:
        return
    if price <= 0:
        raise OrderRefused("invalid_price", f"price must be a positive integer, got {price}", "price")
    if not is_on_tick(price):
        raise OrderRefused(
            "off_tick",
            f"price {price} is not on the KRX tick grid (tick {tick_size(price)} KRW at this price)",
            "price",
        )
    if limits is not None or base_price > 0:
        low, high = limits if limits is not None else price_limits(base_price)
        if not low <= price <= high:
            source = "the exchange's" if limits is not None else f"base {base_price}"
            raise OrderRefused(
                "outside_price_limits",
                f"price {price} is outside today's limits {low}..{high} ({source})",
                "price",
            )


def check_order(facts: OrderFacts, limits: Limits, fees: Fees) -> None:
    """Every check in order; raises :class:`OrderRefused` for the first one broken."""
    check_shape(facts.quantity, facts.price, facts.base_price, facts.limits)
    if limits.halted:
        why = f": {limits.halted_reason}" if limits.halted_reason else ""
        raise OrderRefused("account_halted", f"trading is halted on this account{why}")
    if not facts.market_open:
        raise OrderRefused("market_closed", "KRX takes no orders now (regular session orders: 08:30 to the close)")
    unit = facts.price if facts.price is not None else facts.reference
    value = unit * facts.quantity
    if limits.max_order_value and value > limits.max_order_value:
        raise OrderRefused("max_order_value",
                           f"order value {value} KRW exceeds the limit of {limits.max_order_value} KRW")
    if facts.side == "buy":
        if limits.daily_loss_limit and -facts.realized_today >= limits.daily_loss_limit:
            raise OrderRefused(
                "daily_loss_limit",
                f"today's realised loss {-facts.realized_today} KRW reached the daily limit of "
                f"{limits.daily_loss_limit} KRW: no new buys today",
            )
        after = facts.held_value + facts.open_buy_value + value
        if limits.max_position_value and after > limits.max_position_value:
            raise OrderRefused(
                "max_position_value",
                f"position value after this buy ({after} KRW, open buys of the code included) exceeds "
                f"the limit of {limits.max_position_value} KRW per code",
            )
        cost = fees.buy_cost((facts.reserve_price or unit) * facts.quantity)
        if cost > facts.cash:
            what = "value plus fees" if facts.price is not None else "quantity at the day's upper limit plus fees"
            raise OrderRefused("insufficient_cash",
                               f"buying power {facts.cash} KRW is less than {cost} KRW ({what})")
    elif facts.quantity > facts.held:
        raise OrderRefused("insufficient_holdings",
                           f"selling {facts.quantity} shares but {facts.held} are held and not reserved by "
                           "open sells", "quantity")
