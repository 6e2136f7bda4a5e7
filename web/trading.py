"""Wiring of the order path into the app: the account hub's collaborators and start-up reconciliation.

``web/app.py`` spawns ``/accounts`` with :func:`account_hub` and, once the
actors and the market-data source run and before the server listens, awaits
:func:`reconcile_open_orders`: every account with pending, unknown or open
orders gets its AccountActor started, which reconciles them against its
broker instead of sending anything again.

Tests may set, before the app starts: ``app[ORDER_FAULT]`` (the fault hook,
``fault(step)`` with step ``journal``, ``send`` or ``fill``) and
``app[KIS_BROKERS]`` (``credentials -> NotifyingBroker`` for kis accounts; default
:class:`engine.brokers.kis.KisBroker`).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from actors import paths
from actors.account_deps import AccountDeps, AccountInfo
from actors.account_messages import Reconcile
from actors.account_hub import AccountHub, AccountRef
from actors.quote_board import QuoteBoard
from engine.brokers.base import NotifyingBroker
from engine.runtime import ActorSystem, ChildSpec
from engine.settings import Settings
from storage import AccountRepo, OrderRepo, SqlJournal, SqlPaperLedger
from web.keys import CLOCK, CLUSTER, CRYPTO, SESSIONS, SETTINGS, SOURCE

log = logging.getLogger(__name__)

QUOTE_BOARD = web.AppKey("quote_board", QuoteBoard)
ORDER_FAULT: web.AppKey[Callable[[str], None]] = web.AppKey("order_fault")
KIS_BROKERS: web.AppKey[Callable[[Any], NotifyingBroker]] = web.AppKey("kis_brokers")


def _kis_factory(app: web.Application) -> Callable[[Any], NotifyingBroker]:
    if KIS_BROKERS in app:
        return app[KIS_BROKERS]
    from engine.brokers.http import client_session
    from engine.brokers.kis import KisAuth, KisBroker, KisRest, Throttle
    from engine.brokers.kis.throttle import default_rate

    settings, clock = app[SETTINGS], app[CLOCK]
    shared: dict[tuple[str, bool], KisRest] = {}  # one token and one throttle per app key
    sessions: list[Any] = []

    def make(credentials: Any) -> NotifyingBroker:
        paper = bool(credentials.paper_trading)
        if not sessions:
            sessions.append(client_session(settings.ca_file))
        http = sessions[0]
        rest = shared.get((credentials.app_key, paper))
        if rest is None:
            url = settings.kis_paper_rest_url if paper else settings.kis_rest_url
            auth = KisAuth(http, url, credentials.app_key, credentials.app_secret, clock,
                           timeout_s=settings.kis_timeout_s)
            rest = shared[(credentials.app_key, paper)] = KisRest(
                http, url, auth, Throttle(settings.kis_rest_rate_per_s or default_rate(paper), clock),
                timeout_s=settings.kis_timeout_s)
        return KisBroker(settings, clock, credentials, http, rest=rest)

    async def close(_: web.Application) -> None:
        for http in sessions:
            await http.close()

    app.on_cleanup.append(close)
    return make


def kill_at(settings: Settings) -> Callable[[str], None] | None:
    """Test-only: a fault hook that SIGKILLs the process at the step ``fault_kill_at`` names."""
    step = settings.fault_kill_at
    if not step:
        return None

    def fault(name: str) -> None:
        if name == step:
            log.warning("fault_kill_at=%s: killing the process (test hook)", step)
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


def account_hub(app: web.Application, system: ActorSystem, spec: ChildSpec) -> Callable[[], AccountHub]:
    """The factory of ``/accounts`` (call inside the app's start-up, after the database is open)."""
    settings, sessions, crypto = app[SETTINGS], app[SESSIONS], app[CRYPTO]
    source = app[SOURCE]
    board = app[QUOTE_BOARD] = QuoteBoard(app[CLOCK], source.previous_close)

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
        sessions_hub=sessions_hub, fault=app.get(ORDER_FAULT) or kill_at(settings),
        market_now=source.market_time_ms,
    )
    return lambda: AccountHub(deps, spec)


async def reconcile_open_orders(app: web.Application, system: ActorSystem) -> int:
    """Reconcile every account with open orders; returns how many orders moved."""
    async with app[SESSIONS]() as session:
        accounts = await OrderRepo(session).accounts_with_open_orders()
    hub = system.ref(paths.ACCOUNTS)
    timeout = app[SETTINGS].order_timeout_s
    moved = 0
    for account_id in accounts:
        ref = await hub.ask(AccountRef(account_id), timeout)
        moved += await ref.ask(Reconcile(account_id), timeout)
    if accounts:
        log.info("start-up reconciliation: %d accounts, %d orders moved", len(accounts), moved)
    return moved
