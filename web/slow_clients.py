"""Slow clients cannot hold connections: a request head must arrive within
``header_timeout_s`` of the connection (or of the first byte of the next
request on a kept-alive one), and an idle kept-alive connection closes after
``keepalive_timeout_s``. The body read timeout is in :mod:`web.bodies`.

aiohttp has no header timeout of its own: :class:`GuardedRunner` makes its
protocol (one ``RequestHandler`` per connection) a subclass that arms a timer
while a request head is incomplete and closes the connection when it fires.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)


class GuardedHandler(RequestHandler):
    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count > before:  # a whole request head arrived
            self._disarm()
        elif self._head_timer is None and not self._request_in_progress and not self._upgraded:
            self._arm()  # the first bytes of the next head on a kept-alive connection

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self._loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self._request_in_progress or self._upgraded or self.transport is None:
            return
        peer = self.transport.get_extra_info("peername")
        log.info("closed a connection from %s: no complete request head within %g s", peer, self.header_timeout_s)
        self.force_close()
        self.transport.close()


class _GuardedServer(web.Server):
    header_timeout_s = 10.0

    def __call__(self) -> RequestHandler:
        handler = GuardedHandler(self, loop=self._loop, **self._kwargs)
        handler.header_timeout_s = self.header_timeout_s
        return handler


class GuardedRunner(web.AppRunner):
    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer  # the same server; its connections get the guarded protocol
        server.header_timeout_s = self.header_timeout_s  # type: ignore[attr-defined]
        return server
