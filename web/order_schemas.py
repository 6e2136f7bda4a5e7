"""Wire schemas of orders, balances and risk controls (unknown request fields forbidden)."""

from __future__ import annotations

from typing import Literal

import msgspec


class OrderBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stock_code: str
    order_type: Literal["buy", "sell"]
    quantity: int
    price: int | None = None  # absent: a market order; else a limit on the KRX tick grid
    account_id: int | None = None  # default: the caller's first account
    client_order_id: str | None = None  # idempotency key (or the Idempotency-Key header)


class OrderPlaced(msgspec.Struct, frozen=True):
    message: str
    order_id: str


class OrderPending(msgspec.Struct, frozen=True):
    """202: journalled, the broker's answer still coming."""

    message: str
    order_id: str
    status: Literal["pending"]


class ModifyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    price: int | None = None  # the new limit (on the tick grid, inside the day's limits)
    quantity: int | None = None  # the new total quantity: lower, and above what is filled


class FillView(msgspec.Struct, frozen=True):
    quantity: int
    price: int
    commission: int
    tax: int
    time: str  # ISO-8601 KST
    ts_ms: int


class OrderView(msgspec.Struct, frozen=True):
    order_id: str
    account_id: int
    client_order_id: str
    stock_code: str
    order_type: str
    quantity: int
    price: int | None
    status: str
    filled_quantity: int
    average_price: int
    reason: str
    source: str
    broker_order_no: str | None
    created_at: str  # ISO-8601 KST
    updated_at: str
    fills: list[FillView]
    pending_action: str | None = None  # "cancel" / "modify" sent and not confirmed yet


class OrderList(msgspec.Struct, frozen=True):
    orders: list[OrderView]


class StockBalance(msgspec.Struct, frozen=True):
    stock_code: str
    quantity: int
    orderable_quantity: int  # shares open sells have not reserved
    current_price: int
    average_price: int
    evaluation: int  # quantity x current price
    profit_loss: int  # evaluation - quantity x average price
    market: str | None = None  # KOSPI | KOSDAQ, as the broker (or the simulated market) lists the code; null unknown


class BalanceBody(msgspec.Struct, frozen=True):
    account_id: int
    cash_balance: int  # 예수금 (KIS dnca_tot_amt: settled cash; same-day trades settle at D+2)
    stock_balance: list[StockBalance]
    total_evaluation: int  # cash + every evaluation
    total_profit_loss: int
    orderable_cash: int = 0  # 주문가능금액: cash less what open buys reserve (KIS ord_psbl_cash)
    settlement_d1: int = 0  # cash after tomorrow's settlements (nxdy_excc_amt)
    settlement_d2: int = 0  # cash after D+2's settlements (prvs_rcdl_excc_amt)


class HaltBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str = ""


class RiskBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-account overrides; null (or absent) falls back to the server's setting, 0 = no limit."""

    max_order_value: int | None = None
    max_position_value: int | None = None
    daily_loss_limit: int | None = None


class RiskView(msgspec.Struct, frozen=True):
    account_id: int
    halted: bool
    halted_reason: str
    halted_by: str  # "owner" or "admin" while halted, else ""
    max_order_value: int  # effective values (0 = no limit)
    max_position_value: int
    daily_loss_limit: int
    overrides: RiskBody
