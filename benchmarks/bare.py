"""The bare aiohttp server the REST (5) and order (9) benchmarks measure ours against.

    python -m benchmarks.bare --bodies FILE

``FILE`` (written by the calling benchmark) is a JSON object of name → the body our server
answered; ``GET /{name}`` returns it (parsed once, serialized per request). ``POST /order``
inserts one row into its own SQLite file beside ``FILE`` (aiosqlite, one connection,
committed per request) and answers 201 as ours does. It prints ``listening on URL`` and
serves until SIGTERM, on the event loop ``autotrader serve`` runs (uvloop where installed),
so a ratio compares the handlers, not the loops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web


def loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """``uvloop.run`` where installed (as ``autotrader serve``), else ``asyncio.run``."""
    try:
        import uvloop

        return uvloop.run
    except ImportError:  # not on this platform: the default loop works too
        return asyncio.run


def _body(payload: Any) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response(payload)

    return handle


def _order(db: Any) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        cursor = await db.execute("INSERT INTO orders (body) VALUES (?)", (await request.text(),))
        await db.commit()
        return web.json_response({"message": "주문 성공", "order_id": str(cursor.lastrowid)}, status=201)

    return handle


async def serve(bodies_file: str) -> None:
    import aiosqlite

    with open(bodies_file, encoding="utf-8") as f:
        payloads = {name: json.loads(text) for name, text in json.load(f).items()}
    db = await aiosqlite.connect(os.path.join(os.path.dirname(bodies_file), "bare.sqlite"))
    await db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, body TEXT)")
    await db.commit()
    app = web.Application()
    for name, payload in payloads.items():
        app.router.add_get(f"/{name}", _body(payload))
    app.router.add_post("/order", _order(db))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"listening on http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
    await asyncio.Event().wait()  # until SIGTERM ends the process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare", description=__doc__.split("\n")[0])
    parser.add_argument("--bodies", required=True, help="JSON object: name -> body of GET /name")
    args = parser.parse_args(argv)
    loop_runner()(serve(args.bodies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
