"""The application factory.

``create_app(settings)`` wires the pieces; resources are opened and closed in
``cleanup_ctx`` in order (keys and database, then the actor system), and
closed in reverse. Nothing here is global: tests build as many apps as they
like, each with its own database, clock and actor system.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from actors import paths
from actors.bar_writer import BarWriter
from actors.feed_hub import FeedHub, FeedRouter
from actors.history import BarLoader, bar_history
from actors.session_hub import SessionHub
from actors.strategy import StrategyHub
from actors.swing import SwingActor
from actors.swing_hub import CountSwings, SwingHub
from actors.swing_orders import AccountOrderPort, outcome_of
from engine.brokers.base import MarketDataSource
from engine.market import krx
from engine.market.krx import load_calendar, set_calendar_cache
from engine.runtime.replay_clock import ReplayClock
from engine.market.messages import Bar
from engine.runtime import ActorRef, ActorSystem, ChildSpec, Clock, WallClock
from engine.settings import Settings, check_cluster
from storage import (
    BarRepo,
    Crypto,
    PasswordHasher,
    SqlSwingStore,
    create_engine,
    create_session_factory,
    LeaseKeeper,
    describe,
    ensure_keys,
    require_keys_open_rows,
    upgrade,
)
from web import (
    accounts,
    admin,
    auth,
    backtests,
    cluster,
    balance,
    dashboard,
    health,
    loop_lag,
    metrics,
    openapi,
    orders,
    realtime,
    price_limits,
    replay,
    risk,
    swings,
    trading,
    users,
    ws,
)
from web.health import VERSION
from web.auth import check_tokens
from web.keys import (
    CLOCK,
    CLUSTER,
    CRYPTO,
    DB_ENGINE,
    HASHER,
    LEASE,
    LOGIN_THROTTLE,
    REGISTER_LIMIT,
    ROUTER,
    SESSIONS,
    SETTINGS,
    SHUTDOWN,
    SOURCE,
    SYSTEM,
)
from web.csp import content_security_policy
from web.middlewares import errors, request_context, security_headers
from web.throttle import AddressLimit, LoginThrottle

log = logging.getLogger(__name__)



def make_source(settings: Settings, clock: Clock, app: web.Application | None = None) -> MarketDataSource:
    """The market-data source ``AUTOTRADER_MARKET_DATA`` names."""
    if settings.market_data == "sim":
        from engine.brokers.sim import SimulatedMarket

        return SimulatedMarket.from_settings(settings, clock)
    if settings.market_data == "replay":
        from engine.brokers.replay import ReplayMarket

        return ReplayMarket.from_settings(settings, clock)
    from engine.brokers.kis import KisMarketData

    return KisMarketData(settings, clock, trading.keyring(app) if app is not None else None, calendar=app is not None)


def _clock_for(settings: Settings) -> Clock:
    """The wall clock; for a replay, the replayed market's time (:class:`ReplayClock`)."""
    if settings.market_data != "replay":
        return WallClock()
    start = krx.kst_midnight_ms(dt.date.fromisoformat(settings.replay_start)) if settings.replay_start else 0
    return ReplayClock(start, speed=settings.replay_speed_value, paused=settings.replay_paused)


def create_app(settings: Settings, *, clock: Clock | None = None,
               source: MarketDataSource | None = None) -> web.Application:
    check_cluster(settings)
    app = web.Application(
        middlewares=[request_context, content_security_policy, errors, check_tokens],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app.on_response_prepare.append(security_headers)
    app[CLOCK] = clock or _clock_for(settings)
    app[SOURCE] = source or make_source(settings, app[CLOCK], app)
    app[ROUTER] = FeedRouter()
    app[HASHER] = PasswordHasher(settings.bcrypt_cost, settings.bcrypt_concurrency, settings.bcrypt_queue)
    app[LOGIN_THROTTLE] = LoginThrottle(app[CLOCK], settings.login_max_failures, settings.login_lockout_s,
                                        max_per_address=settings.login_max_per_address,
                                        max_delay_s=settings.login_max_delay_s)
    app[REGISTER_LIMIT] = AddressLimit(app[CLOCK], settings.register_max_per_address, settings.login_lockout_s)
    auth.install(app)  # the token-version cache of the revocation check
    app.cleanup_ctx.append(loop_lag.monitor)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(cluster.context)  # joins the cluster in cluster mode only
    app.cleanup_ctx.append(_actors)
    health.add_routes(app)
    admin.add_routes(app)
    replay.add_routes(app)
    users.add_routes(app)
    accounts.add_routes(app)
    balance.add_routes(app)
    orders.add_routes(app)
    risk.add_routes(app)
    realtime.add_routes(app)
    swings.add_routes(app)
    backtests.add_routes(app)
    price_limits.add_routes(app)
    dashboard.add_routes(app)
    ws.setup(app)
    metrics.setup(app)
    cluster.setup(app)
    openapi.setup(app, "Auto-Trader", VERSION)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    settings = await loop.run_in_executor(None, ensure_keys, app[SETTINGS])
    app[SETTINGS] = settings
    app[CRYPTO] = Crypto.from_settings(settings)
    engine = create_engine(settings)
    await upgrade(engine)
    log.info("database ready at %s", describe(engine))
    app[DB_ENGINE] = engine
    app[SESSIONS] = create_session_factory(engine)
    lease = LeaseKeeper(app[SESSIONS], cluster.process_lease_name(settings), ttl_s=settings.lease_ttl_s,
                        on_lost=lambda: _stop(app))
    try:
        await require_keys_open_rows(app[SESSIONS], settings.data_keys, settings.hash_key)  # fail closed
        await lease.acquire(wait=settings.lease_wait)  # one server per database
    except BaseException:
        await engine.dispose()
        raise
    app[LEASE] = lease
    try:
        yield
    finally:
        await lease.release()
        await engine.dispose()


def _stop(app: web.Application) -> None:
    if SHUTDOWN in app:
        app[SHUTDOWN].set()


async def _actors(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    spec = ChildSpec(
        max_restarts=settings.restart_max,
        within_s=settings.restart_window_s,
        backoff_base_s=settings.restart_backoff_base_s,
        backoff_max_s=settings.restart_backoff_max_s,
    )
    system = ActorSystem(clock=app[CLOCK], default_spec=spec)
    sessions = app[SESSIONS]
    if settings.calendar_cache_dir:
        set_calendar_cache(settings.calendar_cache_dir)
    if not settings.market_hours_ignored:  # bars and checks follow the KRX calendar: build it off the loop
        await asyncio.get_running_loop().run_in_executor(None, load_calendar)

    async def save_bars(bars: list[Bar]) -> int:
        market = app[CLUSTER].market if CLUSTER in app else None  # type: ignore[attr-defined]
        if market is not None:  # one writer per code in the cluster: the node holding its upstream
            bars = market.own_bars(bars)
            if not bars:
                return 0
        async with sessions.begin() as session:
            return await BarRepo(session).upsert_many(bars)

    async def load_bars(code: str, size: str, n: int) -> list[Bar]:
        async with sessions() as session:
            return await BarRepo(session).recent(code, size, n)

    if CLUSTER in app:  # one market-data plane: each code's upstream on one node of the cluster
        app[SOURCE] = app[CLUSTER].market_data(app[SOURCE])  # type: ignore[attr-defined]
    source = app[SOURCE]
    history = bar_history(source, load_bars)
    # on a replay's market time a second passes in microseconds: write bars in batches of hours
    interval = 6 * 3600.0 if isinstance(app[CLOCK], ReplayClock) else 1.0
    writer = system.spawn(paths.BARS, lambda: BarWriter(save_bars, interval_s=interval), ChildSpec(restart="permanent"))
    feeds = system.spawn(paths.FEEDS, lambda: FeedHub(
        source, app[ROUTER], grace_s=settings.feed_grace_s, history=settings.feed_history_bars,
        feed_spec=spec, bar_writer=writer, load_history=history, sessions=not settings.market_hours_ignored,
        load_stored=load_bars,
    ), ChildSpec(restart="permanent"))
    system.spawn(paths.STRATEGIES, lambda: StrategyHub(feeds, spec), ChildSpec(restart="permanent"))
    system.spawn(paths.SESSIONS, lambda: SessionHub(max_subscriptions_per_user=settings.ws_max_subscriptions_per_user,
                                                    max_feeds_per_user=settings.ws_max_feeds_per_user),
                 ChildSpec(restart="permanent"))
    system.spawn(paths.ACCOUNTS, trading.account_hub(app, system, spec), ChildSpec(restart="permanent"))
    app[SYSTEM] = system
    trading.use_token_store(app)  # KIS tokens outlive restarts (the market-data key's too)
    await source.start(app[ROUTER])
    # reconciled before any order of theirs is placed (each account's actor reconciles in on_start);
    # in the background, so a broker that cannot answer yet never stops the server from listening;
    # in a cluster each account reconciles where it is taken (cluster.attach)
    reconciliation = None if CLUSTER in app else await trading.reconcile_open_orders(app, system)
    await _swings(app, system, feeds, spec, history)
    if CLUSTER in app:
        await cluster.attach(app, system)
    clock = app[CLOCK]
    if isinstance(clock, ReplayClock):
        clock.quiet = _quiet(system, app[trading.QUOTE_BOARD])
        clock.start()
    try:
        yield
    finally:
        await cluster.hand_over(app)  # cluster mode: accounts to other nodes before the actors stop
        if isinstance(clock, ReplayClock):
            await clock.stop()
        if reconciliation is not None:
            await reconciliation.stop()
        await source.stop()
        await system.shutdown(settings.shutdown_deadline_s)


def _quiet(system: ActorSystem, board: Any) -> Callable[[], Awaitable[None]]:
    """For a replay at ``max`` speed: wait until the engine has done all it can at this market
    instant — every mailbox empty and every actor idle, except accounts waiting for a quote that
    only a later market time brings."""
    async def quiet() -> None:
        while True:
            for _ in range(8):
                await asyncio.sleep(0)
            busy = system.busy()
            if not busy:
                return
            if all(p.startswith(paths.ACCOUNTS + "/") for p in busy) and board.waiting >= len(busy):
                return
            await asyncio.sleep(0.0005)  # a database call in a thread: real time
    return quiet


async def _swings(app: web.Application, system: ActorSystem, feeds: ActorRef, spec: ChildSpec,
                  history: BarLoader) -> None:
    """The swings' hub: it restores every live swing, then ticks itself to check them (each minute;
    on a replay's market time only at its swings' next close)."""
    settings = app[SETTINGS]
    store = SqlSwingStore(app[SESSIONS], app[CLOCK].now_ms)  # events on market time (a replay's)
    orders = AccountOrderPort(system, settings.ask_timeout_s)

    def make(swing_id: int) -> SwingActor:
        return SwingActor(swing_id, store, orders, feeds, history, outcome_of, fault=app.get(trading.ORDER_FAULT),
                          sessions=not settings.market_hours_ignored)

    replay = isinstance(app[CLOCK], ReplayClock)

    async def none() -> list:
        return []  # in a cluster an account's swings start where the account is taken

    live = none if CLUSTER in app else store.live
    hub = system.spawn(paths.SWINGS, lambda: SwingHub(make, live, spec, settings.market_hours_ignored,
                                                      self_timed=replay),
                       ChildSpec(restart="permanent"))
    restored = await hub.ask(CountSwings(), max(settings.ask_timeout_s, 30.0))  # before the server listens
    log.info("%d live swings restored", restored)
