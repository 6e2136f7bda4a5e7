"""The dashboard and the API docs: ``GET /`` (the single page), ``/static/*`` (its files), ``GET /docs``.

Everything under web/static/ is a plain file shipped with the package (no build
step): the page's HTML, CSS and JavaScript modules, and the vendored libraries
(web/static/vendor/*, each with its licence and a VERSION file naming the npm
package it came from). The page talks to the public REST and WebSocket API
only. ``/docs`` is Swagger UI over ``/openapi.json``, with try-it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
NO_CACHE = {"Cache-Control": "no-cache"}


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=NO_CACHE)


async def docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "docs.html", headers=NO_CACHE)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/docs", docs)
    app.router.add_static("/static/", STATIC, append_version=False)
