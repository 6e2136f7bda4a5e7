"""``GET /accounts/balance``: cash and holdings of one of the caller's accounts (default: the first).

Asked of the account's actor (the only path to its broker; cached for
``balance_cache_s``). ``cash_balance`` is 예수금, ``orderable_cash`` 주문가능금액 (less what
open orders reserve: a buy its value plus commission, a market buy at the day's upper limit),
``settlement_d1`` / ``settlement_d2`` the cash after the next settlements (a paper account
settles at once, so both equal its cash). ``evaluation`` = quantity × current price,
``profit_loss`` = evaluation − quantity × average price (fees excluded),
``total_evaluation`` = cash + every evaluation. ``market`` is where the code is listed (KOSPI /
KOSDAQ: its sales' tax), as the broker or the simulated market knows it; null when unknown.
"""

from __future__ import annotations

from aiohttp import web

from actors.account_messages import BalanceUnavailable, GetBalance
from engine.brokers.base import BrokerBalance
from web.auth import require_user
from web.bodies import respond
from web.errors import Unavailable
from web.keys import SETTINGS
from web.openapi import Param, route
from web.order_schemas import BalanceBody, StockBalance
from web.orders import account_actor, account_for, query_account_id


def body_of(account_id: int, balance: BrokerBalance) -> BalanceBody:
    stocks = [
        StockBalance(stock_code=h.code, quantity=h.quantity, orderable_quantity=h.sellable,
                     current_price=h.current_price,
                     average_price=h.average_price, evaluation=h.quantity * h.current_price,
                     profit_loss=h.quantity * (h.current_price - h.average_price), market=h.market or None)
        for h in balance.holdings if h.quantity > 0
    ]
    return BalanceBody(
        account_id=account_id, cash_balance=balance.cash, stock_balance=stocks,
        total_evaluation=balance.cash + sum(s.evaluation for s in stocks),
        total_profit_loss=sum(s.profit_loss for s in stocks),
        orderable_cash=balance.buying_power,
        settlement_d1=balance.cash if balance.d1 is None else balance.d1,
        settlement_d2=balance.cash if balance.d2 is None else balance.d2,
    )


async def get_balance(request: web.Request) -> web.Response:
    user_id = require_user(request)
    account_id = await account_for(request, user_id, query_account_id(request))
    actor = await account_actor(request, account_id)
    balance = await actor.ask(GetBalance(account_id), request.app[SETTINGS].order_timeout_s)
    if isinstance(balance, BalanceUnavailable):
        raise Unavailable(f"the broker did not give the balance: {balance.reason}", code="broker_unavailable")
    return respond(body_of(account_id, balance))


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/accounts/balance", get_balance, summary="cash and holdings of one of your accounts",
          tag="accounts", responses={200: BalanceBody}, errors=(404, 422, 503),
          params=(Param("account_id", schema={"type": "integer"}),))
