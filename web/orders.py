"""``POST /stocks/order``, ``GET /stocks/orders``, ``GET /stocks/orders/{order_id}``.

An order goes to its account's actor (``ask``, ``order_timeout_s``) and the
answer becomes the response: 201 ``{"message": "주문 성공", "order_id"}`` once
the broker accepted it (a paper market order: once its fill is committed);
422 naming the rule or limit that refused it (``error.code``); 409 when the
idempotency key (``Idempotency-Key`` header or ``client_order_id``) was used
for another order; 503 when the broker, a quote or the answer is missing.
Another user's account or order is 404.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from actors import paths
from actors.account_messages import OrderResult, PlaceOrder
from actors.account_hub import AccountRef
from engine.journal import STATUSES, Order
from engine.market.krx import KST, is_valid_code
from engine.runtime import ActorRef
from storage import AccountRepo, OrderRepo
from web.auth import require_user
from web.bodies import read, respond
from web.errors import ConflictError, Invalid, NotFoundError, Unavailable
from web.keys import CLUSTER, CRYPTO, SESSIONS, SETTINGS, SYSTEM
from web.openapi import Param, route
from web.order_schemas import FillView, OrderBody, OrderList, OrderPlaced, OrderView

MAX_KEY = 64
MAX_QUANTITY = 1_000_000_000
MAX_PRICE = 100_000_000
UNAVAILABLE_CODES = frozenset({"broker_unavailable", "no_quote", "outcome_unknown", "account_busy"})


def kst(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, KST).isoformat()


def view(order: Order) -> OrderView:
    return OrderView(
        order_id=str(order.id), account_id=order.account_id, client_order_id=order.client_order_id,
        stock_code=order.code, order_type=order.side, quantity=order.quantity, price=order.price,
        status=order.status, filled_quantity=order.filled_quantity, average_price=order.average_price,
        reason=order.reason, source=order.source, broker_order_no=order.broker_order_no,
        created_at=kst(order.created_ms), updated_at=kst(order.updated_ms),
        fills=[FillView(f.quantity, f.price, f.commission, f.tax, kst(f.ts_ms),
            f.ts_ms) for f in order.fills],
    )


async def account_for(request: web.Request, user_id: int, account_id: int | None) -> int:
    """The caller's account ``account_id`` (404 if not theirs), or their first one (422 if none)."""
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
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid("invalid account_id", fields={"account_id": "a positive integer"})
    return int(raw)


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


def _answer(result: OrderResult) -> web.Response:
    if result.status in ("accepted", "partially_filled", "filled"):
        return respond(OrderPlaced(message="주문 성공", order_id=str(result.order_id)), status=201)
    detail = result.reason or result.status
    if result.order_id is not None:
        detail = f"order {result.order_id} {result.status}: {detail}"
    if result.status == "conflict":
        raise ConflictError(detail, fields={"client_order_id": "used for another order"},
                            code="idempotency_conflict")
    if result.reason_code in UNAVAILABLE_CODES or result.status in ("unknown", "unavailable"):
        raise Unavailable(detail, code=result.reason_code or "unavailable")
    field = {"invalid_quantity": "quantity", "insufficient_holdings": "quantity", "off_tick": "price",
             "outside_price_limits": "price", "invalid_price": "price"}.get(result.reason_code)
    raise Invalid(detail, fields={field: result.reason} if field else {},
                  code=result.reason_code or result.status)


async def place(request: web.Request) -> web.Response:
    user_id = require_user(request)
    body = await read(request, OrderBody)
    _validate(body)
    key = _key(request, body)
    account_id = await account_for(request, user_id, body.account_id)
    actor = await account_actor(request, account_id)
    result: OrderResult = await actor.ask(PlaceOrder(
        account_id=account_id, code=body.stock_code, side=body.order_type, quantity=body.quantity,
        price=body.price, client_order_id=key, source="rest",
    ), request.app[SETTINGS].order_timeout_s)
    return _answer(result)


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
    raw = request.match_info["order_id"]
    order = None
    if raw.isdigit() and len(raw) <= 18:
        async with request.app[SESSIONS]() as session:
            order = await OrderRepo(session).get_for_user(user_id, int(raw))
    if order is None:
        raise NotFoundError("no such order")
    return respond(view(order))


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/stocks/order", place, summary="place a market or limit order (idempotent by key)",
          tag="orders", request=OrderBody, responses={201: OrderPlaced}, errors=(404, 409, 422, 503),
          params=(Param("Idempotency-Key", where="header"),))
    route(app, "GET", "/stocks/orders", list_orders, summary="your orders, newest first, with fills",
          tag="orders", responses={200: OrderList}, errors=(422,), params=(
              Param("stock_code"), Param("status", schema={"type": "string", "enum": list(STATUSES)}),
              Param("account_id", schema={"type": "integer"})))
    route(app, "GET", "/stocks/orders/{order_id}", get_order, summary="one of your orders with its fills",
          tag="orders", responses={200: OrderView}, errors=(404,))
