"""Running the application: bind, print where, serve until SIGTERM/SIGINT, shut down."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import signal
import ssl
import sys

from aiohttp import web

from engine.settings import Settings
from storage import KeyConfigError, LeaseHeld
from web.keys import SHUTDOWN
from web.slow_clients import GuardedRunner
from web.app import create_app
from web.keys import CLUSTER

log = logging.getLogger(__name__)

StartupRefused = (KeyConfigError, LeaseHeld)  # a start that must not go on: one line naming the problem, exit 2


def _tune_gc() -> None:
    """Full collections walk every long-lived container (feeds, sessions, their histories):
    move what start-up built out of the collector's sight and make full passes rarer. The
    engine's own records (Tick, Quote, Bar) are untracked msgspec Structs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)


def _report_fatal_signals() -> None:
    """SIGBUS/SIGSEGV/SIGFPE/SIGABRT kill the process before any Python handler could log: have
    faulthandler write the fatal error and every thread's stack to stderr (the log) first. SQLite
    maps its -shm file; a filesystem fault there (the file truncated, the disk gone) is a SIGBUS."""
    if not faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr, all_threads=True)


async def serve(settings: Settings, certfile: str | None = None, keyfile: str | None = None) -> int:
    _report_fatal_signals()
    app = create_app(settings)
    stop = app[SHUTDOWN] = asyncio.Event()  # SIGTERM/SIGINT, or a lost database lease
    runner = GuardedRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_deadline_s,
                           header_timeout_s=settings.header_timeout_s, keepalive_timeout=settings.keepalive_timeout_s)
    try:
        await runner.setup()
    except StartupRefused as exc:
        log.error("refusing to start: %s", exc)
        print(f"autotrader: refusing to start: {exc}", file=sys.stderr, flush=True)
        await runner.cleanup()
        return 2
    context = None
    if certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=context)
    await site.start()
    scheme = "https" if context else "http"
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    cluster = app.get(CLUSTER)
    if cluster is not None:
        cluster.node.address = f"{host}:{port}"  # type: ignore[attr-defined]  # shown in /admin/cluster
    print(f"listening on {scheme}://{host}:{port}", flush=True)
    _tune_gc()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
    return 0
