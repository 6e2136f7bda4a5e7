"""The error table: each kind of error that escapes a handler becomes its status and code;
every domain error descends from one of the two roots."""

from __future__ import annotations

import pytest
from aiohttp import web
from sqlalchemy import exc as sa_exc

from engine.brokers.base import BrokerError
from engine.brokers.kis.errors import KisError
from engine.brokers.paper import LedgerRefused, NoQuote, PaperCancelled
from engine.errors import DomainError, EngineError
from engine.risk import OrderRefused
from engine.runtime import ActorStopped, AskTimeout, MailboxFull
from engine.strategy.realtime import StrategyParamsError
from engine.strategy.swing import SwingParamsError
from storage.errors import DatabaseUnavailable, EmailTaken, NotFound, StorageError
from web.middlewares import errors

CASES = [
    (NotFound("no such swing"), 404, "not_found", "no such swing"),
    (EmailTaken(), 409, "conflict", "email already registered"),
    (DatabaseUnavailable("down"), 503, "database_unavailable", "down"),
    (sa_exc.OperationalError("SELECT secret", {}, Exception("driver said x")), 503, "database_unavailable",
     "the database is unavailable; try again"),
    (MailboxFull("/accounts/1", 8), 503, "engine_busy", "mailbox of /accounts/1 is full (8 messages)"),
    (ActorStopped("/feeds"), 503, "engine_busy", "actor /feeds is stopped"),
    (AskTimeout("/swings/1", "GetSwing", 5), 503, "engine_busy", "/swings/1 did not answer GetSwing within 5 s"),
    (RuntimeError("a bug with a secret"), 500, "internal", "internal error"),
]


@pytest.mark.parametrize("error, status, code, message", CASES, ids=[type(c[0]).__name__ for c in CASES])
async def test_an_escaping_error_becomes_its_status(aiohttp_client, error, status, code, message):
    async def boom(request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[errors])
    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    resp = await client.get("/boom")
    assert resp.status == status
    assert await resp.json() == {"error": {"code": code, "message": message, "fields": {}}}


def test_two_roots():
    for domain in (BrokerError, KisError, NoQuote, PaperCancelled, LedgerRefused, OrderRefused,
                   SwingParamsError, StrategyParamsError, StorageError):
        assert issubclass(domain, DomainError) and not issubclass(domain, EngineError), domain
    for engine in (MailboxFull, ActorStopped, AskTimeout):
        assert issubclass(engine, EngineError) and not issubclass(engine, DomainError)
