"""Wiring of the order path into the app: the account hub's collaborators and start-up reconciliation.

``web/app.py`` spawns ``/accounts`` with :func:`account_hub` and, once the
actors and the market-data source run and before the server listens, awaits
:func:`reconcile_open_orders`: every account with pending, unknown or open
orders gets its AccountActor started, which reconciles them against its
broker instead of sending anything again.

KIS: one :class:`~engine.brokers.kis.keyring.KisKeyring` per app (:func:`keyring`)
owns every app key's token and throttle, for the market-data source and every
account alike; tokens persist in the database (``kis_tokens``, encrypted).

Start-up never waits for a broker: :func:`reconcile_open_orders` runs in the
background, retrying an account whose broker cannot answer yet with back-off;
``/ready`` lists the accounts still waiting (:data:`RECONCILE`).

Tests may set, before the app starts: ``app[ORDER_FAULT]`` (the fault hook,
``fault(step)`` with step ``journal``, ``send``, ``fill``, and ``swing_intent`` in the
swings; nothing in production sets one) and
``app[KIS_BROKERS]`` (``credentials -> NotifyingBroker`` for kis accounts; default
:class:`engine.brokers.kis.KisBroker`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from actors import paths
from actors.account_deps import AccountDeps, AccountInfo
from actors.account_messages import Reconcile, ReconcilePostponed
from actors.account_hub import AccountHub, AccountRef
from actors.quote_board import QuoteBoard
from engine.brokers.base import NotifyingBroker
from engine.runtime import ActorStopped, ActorSystem, AskTimeout, ChildSpec, MailboxFull
from storage import AccountRepo, OrderRepo, SqlJournal, SqlPaperLedger
from web.keys import CLOCK, CLUSTER, CRYPTO, SESSIONS, SETTINGS, SOURCE

log = logging.getLogger(__name__)

RECONCILE_RETRY_MAX_S = 300.0

QUOTE_BOARD = web.AppKey("quote_board", QuoteBoard)
ORDER_FAULT: web.AppKey[Callable[[str], None]] = web.AppKey("order_fault")
KIS_BROKERS: web.AppKey[Callable[[Any], NotifyingBroker]] = web.AppKey("kis_brokers")
KIS_KEYRING: web.AppKey[Any] = web.AppKey("kis_keyring")


def keyring(app: web.Application) -> Any:
    """The app's one :class:`KisKeyring` (made on first use, closed with the app)."""
    found = app.get(KIS_KEYRING)
    if found is None:
        from engine.brokers.kis.keyring import KisKeyring

        found = app[KIS_KEYRING] = KisKeyring(app[SETTINGS], app[CLOCK])

        async def close(_: web.Application) -> None:
            await found.close()

        app.on_cleanup.append(close)
    return found


def use_token_store(app: web.Application) -> None:
    """Persist KIS tokens in the database (call once the database is open)."""
    if KIS_KEYRING in app:
        from storage import SqlTokenStore

        app[KIS_KEYRING].use_store(SqlTokenStore(app[SESSIONS], app[CRYPTO]))


def _kis_factory(app: web.Application) -> Callable[[Any], NotifyingBroker]:
    if KIS_BROKERS in app:
        return app[KIS_BROKERS]
    from engine.brokers.kis import KisBroker

    settings, clock, ring = app[SETTINGS], app[CLOCK], keyring(app)
    use_token_store(app)

    def make(credentials: Any) -> NotifyingBroker:
        rest = ring.rest(credentials.app_key, credentials.app_secret, bool(credentials.paper_trading))
        return KisBroker(settings, clock, credentials, ring.http, rest=rest)

    return make


def account_hub(app: web.Application, system: ActorSystem, spec: ChildSpec) -> Callable[[], AccountHub]:
    """The factory of ``/accounts`` (call inside the app's start-up, after the database is open)."""
    settings, sessions, crypto = app[SETTINGS], app[SESSIONS], app[CRYPTO]
    source = app[SOURCE]
    board = app[QUOTE_BOARD] = QuoteBoard(app[CLOCK], source.previous_close, source.listing)

    async def load_account(account_id: int) -> AccountInfo:
        async with sessions() as session:
            creds = await AccountRepo(session, crypto).credentials(account_id)
        return AccountInfo(account_id=account_id, user_id=creds.user_id, broker=creds.broker,
                           credentials=creds if creds.broker == "kis" else None)

    sessions_hub: Callable[[], Any] = lambda: system.lookup(paths.SESSIONS)
    fence = None
    cluster = app.get(CLUSTER)
    if cluster is not None:  # every journal write fenced by the lease; order events to every node
        fence = cluster.accounts
        sessions_hub = cluster.accounts.sessions_hub(sessions_hub)
    deps = AccountDeps(
        settings=settings, journal=SqlJournal(sessions, fence), ledger=SqlPaperLedger(sessions), board=board,
        load_account=load_account, kis_broker=_kis_factory(app),
        sessions_hub=sessions_hub, fault=app.get(ORDER_FAULT),
        market_now=source.market_time_ms,
    )
    return lambda: AccountHub(deps, spec)


class Reconciliation:
    """Start-up reconciliation in the background: the accounts still waiting, and why."""

    def __init__(self) -> None:
        self.waiting: dict[int, str] = {}  # account id -> why it could not reconcile yet
        self.moved = 0
        self.attempts = 0
        self.task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self.first_pass = asyncio.Event()

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


RECONCILE = web.AppKey("reconcile", Reconciliation)


async def _reconcile_one(system: ActorSystem, account_id: int, timeout: float) -> int | str:
    """Orders moved, or why the account cannot reconcile yet."""
    try:
        ref = await system.ref(paths.ACCOUNTS).ask(AccountRef(account_id), timeout)
        answer = await ref.ask(Reconcile(account_id, strict=True), timeout)
    except (AskTimeout, MailboxFull, ActorStopped) as exc:
        return f"the account did not answer within {timeout:g} s ({type(exc).__name__})"
    except Exception as exc:  # a crashed on_start (bad credentials, a broker error): try again later
        return f"{type(exc).__name__}: {exc}"
    if isinstance(answer, ReconcilePostponed):
        return answer.reason
    return int(answer)


async def reconcile_open_orders(app: web.Application, system: ActorSystem) -> Reconciliation:
    """Reconcile every account with open orders; never fails start-up.

    Returns after the first attempt at every account (at most ``order_timeout_s``).
    An account whose broker cannot answer yet (no token inside KIS's minute, KIS down)
    is tried again after ``reconcile_retry_s``, doubled each time up to five minutes;
    until then it is listed by ``/ready`` and its orders answer 503 broker_unavailable.
    """
    state = app[RECONCILE] = Reconciliation()
    async with app[SESSIONS]() as session:
        accounts = await OrderRepo(session).accounts_with_open_orders()
    settings, clock = app[SETTINGS], app[CLOCK]
    state.waiting = {a: "not reconciled yet" for a in accounts}

    async def run() -> None:
        delay = settings.reconcile_retry_s
        while state.waiting:
            state.attempts += 1
            ids = list(state.waiting)
            results = await asyncio.gather(*(_reconcile_one(system, a, settings.order_timeout_s) for a in ids))
            state.first_pass.set()
            for account_id, result in zip(ids, results, strict=True):
                if isinstance(result, str):
                    state.waiting[account_id] = result
                    log.warning("account %d: start-up reconciliation postponed: %s", account_id, result)
                else:
                    state.moved += result
                    del state.waiting[account_id]
            if state.waiting:
                await clock.sleep(delay)
                delay = min(RECONCILE_RETRY_MAX_S, delay * 2)
        if accounts:
            log.info("start-up reconciliation: %d accounts, %d orders moved", len(accounts), state.moved)
        state.first_pass.set()
        state.done.set()

    state.task = asyncio.create_task(run(), name="start-up-reconciliation")
    try:  # the first attempt usually settles everything before the server listens; never longer than this
        await asyncio.wait_for(asyncio.shield(state.first_pass.wait()), settings.order_timeout_s)
    except TimeoutError:
        log.warning("start-up reconciliation still running; listening meanwhile (%d accounts wait)",
                    len(state.waiting))
    return state
