"""Running the application: bind, print where, serve until SIGTERM/SIGINT, shut down."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
import sys

from aiohttp import web

from engine.settings import Settings
from storage import KeyConfigError
from web.app import create_app
from web.keys import CLUSTER

log = logging.getLogger(__name__)

StartupRefused = (KeyConfigError,)  # a start that must not go on: one line naming the problem, exit 2


def _tune_gc() -> None:
    """Full collections walk every long-lived container (feeds, sessions, their histories):
    move what start-up built out of the collector's sight and make full passes rarer. The
    engine's own records (Tick, Quote, Bar) are untracked msgspec Structs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)


async def serve(settings: Settings, certfile: str | None = None, keyfile: str | None = None) -> int:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_deadline_s)
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
    return 0
