"""Risk controls of an account: the kill switch and the per-account limits.

``POST /accounts/{id}/halt`` (optional ``{"reason"}``) and ``/resume``, by the
owner or an admin: a halted account refuses every new order, from swings and
REST alike, at once (the account actor reads the switch for each order). Who
halted is kept (``halted_by``): an owner may not resume an administrator's halt
(403 ``admin_halt``), nor turn it into their own by halting again; an
administrator may resume any halt. The account's swings are told too: they are
``halted`` with it, and go back to running when it resumes. In cluster mode the
change is asked of every live node before the answer (the account's actor and
swings run on its owner, whichever node took the request), so they have it at once.
``GET /accounts/{id}/risk`` shows the effective limits; ``PUT`` sets the
overrides (null = the server's setting, 0 = no limit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from actors import paths
from actors.account_messages import RiskChanged
from actors.swing import AccountHalted
from engine.journal import RiskOverrides
from storage import OrderRepo, UserRepo, account_owner
from web.auth import require_user
from web.bodies import read, read_raw, respond
from web.errors import Forbidden, Invalid, NotFoundError
from web.keys import CLUSTER, SESSIONS, SETTINGS, SYSTEM
from web.openapi import route
from web.order_schemas import HaltBody, RiskBody, RiskView
from web.params import parse_id

log = logging.getLogger(__name__)

MAX_LIMIT = 10**15


async def _authorized(request: web.Request) -> int:
    """The account id in the path, if the caller owns it or is an admin (else 404)."""
    user_id = require_user(request)
    account_id = parse_id(request.match_info["account_id"])
    if account_id is None:
        raise NotFoundError("no such account")
    async with request.app[SESSIONS]() as session:
        owner = await account_owner(session, account_id)
        if owner is None:
            raise NotFoundError("no such account")
        if owner != user_id:
            user = await UserRepo(session).get(user_id)
            if user is None or user.role != "admin":
                raise NotFoundError("no such account")
    return account_id


def _looser(settings: object, body: RiskBody) -> dict[str, str]:
    """The limits ``body`` sets looser than the server's settings (0 = no limit is the loosest)."""
    out: dict[str, str] = {}
    for name in RiskBody.__struct_fields__:
        wanted, server = getattr(body, name), getattr(settings, name)
        if wanted is None or server == 0:  # null: the setting itself; a setting of 0 has no limit to loosen
            continue
        if wanted == 0 or wanted > server:
            out[name] = f"at most the server's {server} (a user may tighten, not loosen)"
    return out


async def _is_admin(request: web.Request) -> bool:
    async with request.app[SESSIONS]() as session:
        user = await UserRepo(session).get(require_user(request))
    return user is not None and user.role == "admin"


def _view(request: web.Request, account_id: int, o: RiskOverrides) -> RiskView:
    s = request.app[SETTINGS]
    return RiskView(
        account_id=account_id, halted=o.halted, halted_reason=o.halted_reason,
        halted_by=o.halted_by if o.halted else "",
        max_order_value=s.max_order_value if o.max_order_value is None else o.max_order_value,
        max_position_value=s.max_position_value if o.max_position_value is None else o.max_position_value,
        daily_loss_limit=s.daily_loss_limit if o.daily_loss_limit is None else o.daily_loss_limit,
        overrides=RiskBody(o.max_order_value, o.max_position_value, o.daily_loss_limit),
    )


async def _change(request: web.Request, account_id: int, guard: Callable[[RiskOverrides], bool] | None = None,
                  **changes: object) -> web.Response:
    """Apply ``changes`` to the account's row; ``guard`` sees the current row in the same transaction
    (it may raise, or return False to leave the row as it is)."""
    async with request.app[SESSIONS].begin() as session:
        repo = OrderRepo(session)
        current = await repo.risk(account_id, for_update=guard is not None)
        if guard is not None and not guard(current):
            return respond(_view(request, account_id, current))
        updated = await repo.set_risk(account_id, RiskOverrides(**{
            **{f: getattr(current, f) for f in RiskOverrides.__struct_fields__}, **changes}))
    timeout = request.app[SETTINGS].ask_timeout_s
    cluster = request.app.get(CLUSTER)
    if cluster is not None:  # the account's actor and swings run on its owner: every node is told at once
        from actors.cluster_accounts import AccountRiskChanged

        await cluster.accounts.risk_changed(  # type: ignore[attr-defined]
            AccountRiskChanged(account_id, updated, "halted" in changes), timeout)
        return respond(_view(request, account_id, updated))
    actor = request.app[SYSTEM].lookup(paths.account(account_id))
    if actor is not None:  # its copy is replaced before we answer: the next order sees the change
        await actor.ask(RiskChanged(account_id, updated), timeout)
    swings = request.app[SYSTEM].lookup(paths.SWINGS)
    if "halted" in changes and swings is not None:  # the account's swings are halted (or resumed) with it
        swings.try_tell(AccountHalted(account_id, updated.halted, updated.halted_reason))
    return respond(_view(request, account_id, updated))


async def halt(request: web.Request) -> web.Response:
    account_id = await _authorized(request)
    body = await read(request, HaltBody) if (await read_raw(request)).strip() else HaltBody()
    if len(body.reason) > 255:
        raise Invalid("reason too long", fields={"reason": "at most 255 characters"})
    admin = await _is_admin(request)
    user_id = require_user(request)

    def guard(current: RiskOverrides) -> bool:
        if current.halted and current.halted_by == "admin" and not admin:  # stays the administrator's halt
            log.info("account %d: halt by user %d left as the administrator's", account_id, user_id)
            return False
        log.info("account %d halted by user %d (%s): %s", account_id, user_id, by, body.reason or "-")
        return True

    by = "admin" if admin else "owner"
    return await _change(request, account_id, guard, halted=True,
                         halted_reason=body.reason or "halted by request", halted_by=by)


async def resume(request: web.Request) -> web.Response:
    account_id = await _authorized(request)
    admin = await _is_admin(request)
    user_id = require_user(request)

    def guard(current: RiskOverrides) -> bool:
        if current.halted and current.halted_by == "admin" and not admin:
            log.info("account %d: resume by user %d refused (an administrator's halt)", account_id, user_id)
            raise Forbidden("an administrator halted this account: only an administrator may resume it",
                            code="admin_halt")
        log.info("account %d resumed by user %d", account_id, user_id)
        return True

    return await _change(request, account_id, guard, halted=False, halted_reason="", halted_by="")


async def get_risk(request: web.Request) -> web.Response:
    account_id = await _authorized(request)
    async with request.app[SESSIONS]() as session:
        return respond(_view(request, account_id, await OrderRepo(session).risk(account_id)))


async def put_risk(request: web.Request) -> web.Response:
    account_id = await _authorized(request)
    body = await read(request, RiskBody)
    fields = {name: f"null, or an integer from 0 to {MAX_LIMIT}" for name in RiskBody.__struct_fields__
              if getattr(body, name) is not None and not 0 <= getattr(body, name) <= MAX_LIMIT}
    if fields:
        raise Invalid("invalid limits", fields=fields)
    looser = _looser(request.app[SETTINGS], body)
    if looser and not await _is_admin(request):
        raise Forbidden("only an administrator may loosen a limit past the server's setting",
                        code="loosen_admin_only", fields=looser)
    return await _change(request, account_id, max_order_value=body.max_order_value,
                         max_position_value=body.max_position_value, daily_loss_limit=body.daily_loss_limit)


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/accounts/{account_id}/halt", halt, summary="kill switch: refuse every new order",
          tag="risk", request=HaltBody, responses={200: RiskView}, errors=(404, 422))
    route(app, "POST", "/accounts/{account_id}/resume", resume, summary="take orders again",
          tag="risk", responses={200: RiskView}, errors=(403, 404))
    route(app, "GET", "/accounts/{account_id}/risk", get_risk, summary="the account's effective risk limits",
          tag="risk", responses={200: RiskView}, errors=(404,))
    route(app, "PUT", "/accounts/{account_id}/risk", put_risk, summary="set per-account risk limit overrides",
          tag="risk", request=RiskBody, responses={200: RiskView}, errors=(403, 404, 422))
