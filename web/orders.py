"""``POST /stocks/order``, ``GET /stocks/orders``, ``GET``/``DELETE``/``PATCH /stocks/orders/{order_id}``.

An order goes to its account's actor and the answer becomes the response.
Answers never lie about an order that may execute:

- 201 ``{"message": "주문 성공", "order_id"}`` once the broker took it (filled or resting);
- 202 ``{"message", "order_id", "status": "pending"}`` when it is journalled and its outcome
  is still coming (the broker has not answered within ``order_timeout_s``, or the answer was
  lost: it is reconciled, never resent); ``GET /stocks/orders/{id}`` and the socket tell the rest;
- 422 naming the rule or limit that refused it (``error.code``); 409 when the idempotency key
  was used for another order; the same key with the same body answers the same order;
- 429 ``account_busy`` with ``Retry-After`` when the account's mailbox is full: refused before
  anything was journalled;
- 503 only for an order that was not sent: its message says whether it was journalled (then it
  is final, ``rejected`` or ``cancelled``, and names its id) or not at all.

A key is made for every request that has none, so a lost answer can still be looked up.
``DELETE`` cancels the unfilled remainder, ``PATCH {"price"?, "quantity"?}`` changes a resting
order (price on the tick grid inside the day's limits; quantity down to, not including, what
is filled); both answer the order as it stands (200), 409 ``not_cancellable`` /
``not_modifiable`` for a final order or one whose placing is still unconfirmed (the message
says its status), 422 for a bad change. Another user's account or order is 404.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from aiohttp import web

from actors import paths
from actors.account_hub import AccountRef, OwnerOf
from actors.account_messages import CancelOrder, ModifyOrder, OrderResult, OrderTicket, PlaceOrder
from engine.journal import STATUSES, Order
from engine.market.krx import KST, is_valid_code
from engine.runtime import ActorRef, AskTimeout, MailboxFull
from storage import AccountRepo, OrderRepo
from web.auth import require_user
from web.bodies import read, respond
from web.errors import ConflictError, Invalid, NotFoundError, TooManyRequests, Unavailable
from web.keys import CLUSTER, CRYPTO, SESSIONS, SETTINGS, SYSTEM
from web.openapi import Param, route
from web.order_schemas import FillView, ModifyBody, OrderBody, OrderList, OrderPending, OrderPlaced, OrderView
from web.params import parse_id
from web.trading import RECONCILE

MAX_KEY = 64
MAX_QUANTITY = 1_000_000_000
MAX_PRICE = 100_000_000
UNAVAILABLE_CODES = frozenset({"broker_unavailable", "no_quote", "not_journaled"})
PENDING = ("pending", "unknown")


def kst(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, KST).isoformat()


def view(order: Order) -> OrderView:
    return OrderView(
        order_id=str(order.id), account_id=order.account_id, client_order_id=order.client_order_id,
        stock_code=order.code, order_type=order.side, quantity=order.quantity, price=order.price,
        status=order.status, filled_quantity=order.filled_quantity, average_price=order.average_price,
        reason=order.reason, source=order.source, broker_order_no=order.broker_order_no,
        pending_action=order.action or None,
        created_at=kst(order.created_ms), updated_at=kst(order.updated_ms),
        fills=[FillView(f.quantity, f.price, f.commission, f.tax, kst(f.ts_ms),
            f.ts_ms) for f in order.fills],
    )


async def account_for(request: web.Request, user_id: int, account_id: int | None) -> int:
    """The caller's account ``account_id`` (404 if not theirs), or their first one (422 if none).

    The account hub knows the owner of every account whose actor ran (owners never change),
    so a known account costs no database query."""
    if account_id is not None:
        owner = await request.app[SYSTEM].ref(paths.ACCOUNTS).ask(OwnerOf(account_id),
                                                                  request.app[SETTINGS].ask_timeout_s)
        if owner is not None:
            if owner != user_id:
                raise NotFoundError("no such account")
            return account_id
    async with request.app[SESSIONS]() as session:
        repo = AccountRepo(session, request.app[CRYPTO])
        if account_id is not None:
            if await repo.get_for_user(user_id, account_id) is None:
                raise NotFoundError("no such account")
            return account_id
        accounts = await repo.list_for_user(user_id)
    if not accounts:
        raise Invalid("register a broker account first", fields={"account_id": "no account registered"},
                      code="no_account")
    return accounts[0].id


async def account_actor(request: web.Request, account_id: int) -> ActorRef:
    cluster = request.app.get(CLUSTER)
    if cluster is not None:  # the account's owner, wherever it runs: ask has the same semantics
        return cluster.account(account_id)  # type: ignore[attr-defined,no-any-return]
    hub = request.app[SYSTEM].ref(paths.ACCOUNTS)
    return await hub.ask(AccountRef(account_id), request.app[SETTINGS].ask_timeout_s)


def query_account_id(request: web.Request) -> int | None:
    raw = request.query.get("account_id")
    if raw is None:
        return None
    account_id = parse_id(raw)
    if account_id is None:
        raise Invalid("invalid account_id", fields={"account_id": "a positive integer (ASCII digits)"})
    return account_id


def _key(request: web.Request, body: OrderBody) -> str | None:
    header = request.headers.get("Idempotency-Key")
    if header is not None and body.client_order_id is not None and header != body.client_order_id:
        raise Invalid("Idempotency-Key and client_order_id differ",
                      fields={"client_order_id": "must equal the Idempotency-Key header when both are given"})
    key = header if header is not None else body.client_order_id
    if key is not None and not (0 < len(key) <= MAX_KEY and key.isprintable() and key.isascii()):
        raise Invalid("invalid idempotency key",
                      fields={"client_order_id": f"1 to {MAX_KEY} printable ASCII characters"})
    return key


def _validate(body: OrderBody) -> None:
    fields: dict[str, str] = {}
    if not is_valid_code(body.stock_code):
        fields["stock_code"] = "expected a 6-character KRX code such as 005930"
    if not 0 < body.quantity <= MAX_QUANTITY:
        fields["quantity"] = f"a positive integer up to {MAX_QUANTITY}"
    if body.price is not None and not 0 < body.price <= MAX_PRICE:
        fields["price"] = f"a positive integer (KRW) up to {MAX_PRICE}, or absent for a market order"
    if body.account_id is not None and not 0 < body.account_id < 2**63:
        fields["account_id"] = "a positive integer"
    if fields:
        raise Invalid("invalid order", fields=fields,
            code="invalid_quantity" if "quantity" in fields else None)


def _answer(result: OrderResult, retry_after_s: float = 0.0) -> web.Response:
    if result.status in ("accepted", "partially_filled", "filled"):
        return respond(OrderPlaced(message="주문 성공", order_id=str(result.order_id)), status=201)
    if result.status in PENDING and result.order_id is not None:
        return respond(OrderPending(
            message="주문 접수: the outcome is still coming (GET /stocks/orders/{id} or the socket)",
            order_id=str(result.order_id), status="pending"), status=202)
    detail = result.reason or result.status
    if result.order_id is not None:
        detail = f"order {result.order_id} {result.status}: {detail}"
    if result.status == "conflict":
        raise ConflictError(detail, fields={"client_order_id": "used for another order"},
                            code="idempotency_conflict")
    if result.reason_code in UNAVAILABLE_CODES or result.status == "unavailable":
        if result.order_id is not None:
            detail += " (journaled, not sent: it will not execute)"
        elif not detail.startswith("not journaled"):
            detail = f"not journaled, not sent: {detail}"
        retry = retry_after_s if result.reason_code == "broker_unavailable" else None
        raise Unavailable(detail, code=result.reason_code or "unavailable", retry_after_s=retry)
    field = {"invalid_quantity": "quantity", "insufficient_holdings": "quantity", "off_tick": "price",
             "outside_price_limits": "price", "invalid_price": "price"}.get(result.reason_code)
    raise Invalid(detail, fields={field: result.reason} if field else {},
                  code=result.reason_code or result.status)


async def place(request: web.Request) -> web.Response:
    user_id = require_user(request)
    body = await read(request, OrderBody)
    _validate(body)
    key = _key(request, body) or f"auto-{uuid.uuid4().hex}"
    account_id = await account_for(request, user_id, body.account_id)
    retry_s = request.app[SETTINGS].reconcile_retry_s
    reconciliation = request.app.get(RECONCILE)
    if reconciliation is not None and account_id in reconciliation.waiting:  # its open orders come first
        raise Unavailable(f"account {account_id} waits for its broker to reconcile open orders: "
                          f"{reconciliation.waiting[account_id]}", code="broker_unavailable", retry_after_s=retry_s)
    actor = await account_actor(request, account_id)
    settings = request.app[SETTINGS]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.order_timeout_s
    msg = PlaceOrder(account_id=account_id, code=body.stock_code, side=body.order_type, quantity=body.quantity,
                     price=body.price, client_order_id=key, source="rest", deadline=deadline)
    try:
        ticket: OrderTicket = await actor.ask(msg, settings.order_timeout_s + settings.ask_timeout_s,
                                              wait_for_room=False)
    except MailboxFull:
        raise TooManyRequests("the account is busy with other orders: nothing was journaled, try again",
                              retry_after_s=1.0, code="account_busy") from None
    except AskTimeout:
        return await _lost_answer(request, account_id, key)
    result = await ticket.wait(max(0.0, deadline - loop.time()))
    return _answer(result, retry_s)


async def _lost_answer(request: web.Request, account_id: int, key: str) -> web.Response:
    """The actor did not answer in time: the journal says whether the order exists."""
    async with request.app[SESSIONS]() as session:
        order = await OrderRepo(session).find(account_id, key)
    if order is None:
        raise Unavailable("not journaled, not sent: the account did not take the order in time",
                          code="account_busy")
    status = order.status if order.status not in PENDING else "pending"
    return _answer(OrderResult(account_id=account_id, client_order_id=key, status=status, order_id=order.id,
                               reason=order.reason))


async def _owned(request: web.Request, user_id: int) -> Order:
    order_id = parse_id(request.match_info["order_id"])
    order = None
    if order_id is not None:
        async with request.app[SESSIONS]() as session:
            order = await OrderRepo(session).get_for_user(user_id, order_id)
    if order is None:
        raise NotFoundError("no such order")
    return order


async def _as_it_stands(request: web.Request, user_id: int, result: OrderResult, action: str) -> web.Response:
    if result.status == "not_found":
        raise NotFoundError("no such order")
    if result.reason_code in (f"not_{action}", "not_modifiable", "not_cancellable"):
        raise ConflictError(f"order {result.order_id}: {result.reason}", fields={"status": result.status},
                            code=result.reason_code)
    if result.status == "unavailable":
        raise Unavailable(result.reason, code=result.reason_code or "broker_unavailable")
    if result.status == "refused":
        field = {"off_tick": "price", "outside_price_limits": "price", "invalid_price": "price",
                 "invalid_quantity": "quantity", "insufficient_cash": "price"}.get(result.reason_code)
        raise Invalid(result.reason, fields={field: result.reason} if field else {},
                      code=result.reason_code or "invalid")
    order = await _owned(request, user_id)
    status = 202 if result.reason_code in ("cancel_pending", "modify_pending") else 200
    return respond(view(order), status=status)


async def cancel_order(request: web.Request) -> web.Response:
    user_id = require_user(request)
    order = await _owned(request, user_id)
    actor = await account_actor(request, order.account_id)
    result = await actor.ask(CancelOrder(account_id=order.account_id, order_id=order.id),
                             request.app[SETTINGS].order_timeout_s)
    return await _as_it_stands(request, user_id, result, "cancellable")


async def modify_order(request: web.Request) -> web.Response:
    user_id = require_user(request)
    order = await _owned(request, user_id)  # another user's order is 404 whatever the body
    body = await read(request, ModifyBody)
    fields: dict[str, str] = {}
    if body.price is None and body.quantity is None:
        raise Invalid("nothing to modify: give a price, a quantity or both",
                      fields={"price": "absent", "quantity": "absent"}, code="nothing_to_modify")
    if body.price is not None and not 0 < body.price <= MAX_PRICE:
        fields["price"] = f"a positive integer (KRW) up to {MAX_PRICE}"
    if body.quantity is not None and not 0 < body.quantity <= MAX_QUANTITY:
        fields["quantity"] = f"a positive integer up to {MAX_QUANTITY}"
    if fields:
        raise Invalid("invalid change", fields=fields, code="invalid_quantity" if "quantity" in fields else None)
    actor = await account_actor(request, order.account_id)
    result = await actor.ask(ModifyOrder(account_id=order.account_id, order_id=order.id, price=body.price,
                                         quantity=body.quantity), request.app[SETTINGS].order_timeout_s)
    return await _as_it_stands(request, user_id, result, "modifiable")


async def list_orders(request: web.Request) -> web.Response:
    user_id = require_user(request)
    code, status = request.query.get("stock_code"), request.query.get("status")
    fields: dict[str, str] = {}
    if code is not None and not is_valid_code(code):
        fields["stock_code"] = "expected a 6-character KRX code such as 005930"
    if status is not None and status not in STATUSES:
        fields["status"] = f"one of {', '.join(STATUSES)}"
    if fields:
        raise Invalid("invalid filter", fields=fields)
    account_id = query_account_id(request)
    if account_id is not None:
        await account_for(request, user_id, account_id)  # another user's account is 404, not an empty list
    async with request.app[SESSIONS]() as session:
        orders = await OrderRepo(session).list_for_user(user_id, account_id=account_id, code=code,
            status=status)
    return respond(OrderList(orders=[view(o) for o in orders]))


async def get_order(request: web.Request) -> web.Response:
    user_id = require_user(request)
    order_id = parse_id(request.match_info["order_id"])
    order = None
    if order_id is not None:
        async with request.app[SESSIONS]() as session:
            order = await OrderRepo(session).get_for_user(user_id, order_id)
    if order is None:
        raise NotFoundError("no such order")
    return respond(view(order))


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/stocks/order", place, summary="place a market or limit order (idempotent by key)",
          tag="orders", request=OrderBody, responses={201: OrderPlaced, 202: OrderPending},
          errors=(404, 409, 422, 429, 503),
          params=(Param("Idempotency-Key", where="header"),))
    route(app, "GET", "/stocks/orders", list_orders, summary="your orders, newest first, with fills",
          tag="orders", responses={200: OrderList}, errors=(422,), params=(
              Param("stock_code"), Param("status", schema={"type": "string", "enum": list(STATUSES)}),
              Param("account_id", schema={"type": "integer"})))
    route(app, "GET", "/stocks/orders/{order_id}", get_order, summary="one of your orders with its fills",
          tag="orders", responses={200: OrderView}, errors=(404,))
    route(app, "DELETE", "/stocks/orders/{order_id}", cancel_order,
          summary="cancel the unfilled remainder of one of your orders", tag="orders",
          responses={200: OrderView, 202: OrderView}, errors=(404, 409, 503))
    route(app, "PATCH", "/stocks/orders/{order_id}", modify_order,
          summary="change a resting order's price and/or lower its quantity", tag="orders",
          request=ModifyBody, responses={200: OrderView, 202: OrderView}, errors=(404, 409, 422, 503))
