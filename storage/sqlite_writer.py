"""The SQLite writer: hot-path transactions run whole in one thread, and those that queue commit together.

Through aiosqlite every statement, the commit and the pool's reset each hand off to its
thread and back; a profiled paper order spent most of its time there. A
:class:`SqliteWriter` (one per engine of an SQLite file, :func:`storage.db.transaction`)
owns one thread and its own pysqlite connection; a transaction's body (synchronous
SQLAlchemy Core) runs there in one call.

Group commit: while the thread runs a batch, the bodies that arrive on an event loop queue
up, and the next call runs them all in one ``BEGIN IMMEDIATE`` … ``COMMIT``, each inside its
own savepoint, so a body that raises (a taken idempotency key) rolls back alone and only its
caller sees the error. Every caller is answered after the commit that holds its body: a
returned call is durable as before, it only shares its commit. ``BEGIN IMMEDIATE`` takes the
write lock at the start, so a read-then-write body cannot be overtaken between the two.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, event, exc, pool
from sqlalchemy import create_engine as create_sync_engine

log = logging.getLogger(__name__)
T = TypeVar("T")
Body = Callable[[Connection], Any]
Outcome = tuple[bool, Any]  # (True, the body's value) or (False, its exception)


class _Lane:
    """One event loop's queue of bodies and the task that drains it."""

    def __init__(self) -> None:
        self.queue: list[tuple[Body, asyncio.Future[Any]]] = []
        self.task: asyncio.Task[None] | None = None


class SqliteWriter:
    def __init__(self, url: Any, on_connect: Callable[[Any, Any], None]) -> None:
        self.engine = create_sync_engine(url.set(drivername="sqlite+pysqlite"), poolclass=pool.NullPool,
                                         hide_parameters=True)
        event.listen(self.engine, "connect", on_connect)
        event.listen(self.engine, "connect", _manual_begin)
        event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        self.thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._conn: Connection | None = None
        self._lanes: dict[int, _Lane] = {}
        self._closed = False
        self.batches = 0  # commits made
        self.bodies = 0  # transactions they held

    async def run(self, lock: asyncio.Lock, body: Callable[[Connection], T]) -> T:
        """Run ``body`` in the writer's thread, committed (with whatever else queued) before it returns."""
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(id(loop))
        if lane is None:
            if len(self._lanes) > 64:  # lanes of finished event loops (tests)
                self._lanes = {k: v for k, v in self._lanes.items() if v.task is not None}
            lane = self._lanes[id(loop)] = _Lane()
        waiter: asyncio.Future[T] = loop.create_future()
        lane.queue.append((body, waiter))
        if lane.task is None:
            lane.task = loop.create_task(self._drain(lane, lock), name="sqlite-writer")
        return await waiter

    async def _drain(self, lane: _Lane, lock: asyncio.Lock) -> None:
        """Run the lane's queue, batch after batch, under the engine's write lock, until it is empty."""
        batch: list[tuple[Body, asyncio.Future[Any]]] = []
        try:
            while lane.queue:
                async with lock:
                    batch = [(b, w) for b, w in lane.queue if not w.done()]  # a cancelled caller's: dropped
                    lane.queue = []
                    if not batch:
                        continue
                    bodies = [b for b, _ in batch]
                    outcomes = await asyncio.wrap_future(self.thread.submit(self._batch, bodies))
                for (_, waiter), (ok, value) in zip(batch, outcomes, strict=True):
                    if waiter.done():
                        continue
                    if ok:
                        waiter.set_result(value)
                    else:
                        waiter.set_exception(value)
                batch = []
        finally:
            lane.task = None
            for _, waiter in [*batch, *lane.queue]:  # only when this task is cancelled (the loop is closing)
                if not waiter.done():
                    waiter.set_exception(RuntimeError("the SQLite writer stopped before answering"))
            lane.queue = []

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self.engine.connect()
        return self._conn

    def _batch(self, bodies: list[Body]) -> list[Outcome]:
        """In the thread: one transaction for all of ``bodies`` (a savepoint each when several)."""
        conn = self._connection()
        self.batches += 1
        self.bodies += len(bodies)
        if len(bodies) == 1:
            try:
                with conn.begin():
                    return [(True, bodies[0](conn))]
            except Exception as error:  # the caller's to handle (a taken key, a refusal): nothing was written
                return [(False, error)]
        outcomes: list[Outcome] = []
        try:
            with conn.begin():
                for body in bodies:
                    try:
                        with conn.begin_nested():
                            outcomes.append((True, body(conn)))
                    except exc.DBAPIError as error:
                        if error.connection_invalidated:
                            raise
                        outcomes.append((False, error))  # rolled back to its savepoint; the others go on
                    except Exception as error:
                        outcomes.append((False, error))
        except Exception as error:  # the commit (or the connection) failed: nothing of the batch was written
            return [(False, error)] * len(bodies)
        return outcomes

    def close(self) -> None:
        """Close the connection and let the thread end (once; what is queued in the thread runs first)."""
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
            self.engine.dispose()

        self.thread.submit(close)
        self.thread.shutdown(wait=False)


def _manual_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own: the "begin" event does
