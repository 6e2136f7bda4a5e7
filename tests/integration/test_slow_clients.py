"""Slow clients are not held: an incomplete request head closes the connection after
AUTOTRADER_HEADER_TIMEOUT_S, a body that does not arrive is 408 after AUTOTRADER_BODY_TIMEOUT_S,
and an idle kept-alive connection closes after AUTOTRADER_KEEPALIVE_TIMEOUT_S (the real server)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

import pytest

from tests.integration.helpers import server_env, start_server


@pytest.fixture
async def server(tmp_path):
    proc = await start_server(server_env(tmp_path, header_timeout_s="0.5", body_timeout_s="0.5",
                                         keepalive_timeout_s="0.5"))
    yield proc
    await proc.terminate()


async def _connect(url: str):
    parts = urlparse(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent until it closed the connection (fails if it holds it past ``seconds``)."""
    return await asyncio.wait_for(reader.read(), seconds)


@pytest.mark.timeout(60)
async def test_an_incomplete_request_head_is_closed(server):
    reader, writer = await _connect(server.url)
    started = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    assert await _closed_within(reader, 5) == b""
    assert time.monotonic() - started < 5
    writer.close()


@pytest.mark.timeout(60)
async def test_a_connection_that_sends_nothing_is_closed(server):
    reader, writer = await _connect(server.url)
    assert await _closed_within(reader, 5) == b""
    writer.close()


@pytest.mark.timeout(60)
async def test_a_body_that_does_not_arrive_is_408(server):
    reader, writer = await _connect(server.url)
    writer.write(b"POST /users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"email\":")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"request_timeout" in await asyncio.wait_for(reader.read(200), 5)
    writer.close()


@pytest.mark.timeout(60)
async def test_an_idle_kept_alive_connection_is_closed(server):
    reader, writer = await _connect(server.url)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    answer = await _closed_within(reader, 10)  # answered, then closed once idle
    assert answer.startswith(b"HTTP/1.1 200")
    writer.close()
