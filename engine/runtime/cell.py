"""ActorCell: runs one actor — its mailbox, its task, its restarts, its timers, its counters.

The lifecycle is the table in :mod:`engine.runtime.lifecycle`; every change
goes through :meth:`ActorCell._move`, which checks it.

Timers (``ctx.tell_later`` / ``ctx.tell_every``) and piped tasks
(``ctx.pipe_to_self``) belong to the actor *instance*: a restart or a stop
cancels them, so a fresh instance never gets a message its predecessor
scheduled (it schedules its own in ``on_start``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from engine.runtime.actor import Actor, ActorContext
from engine.runtime.errors import ActorStopped, AskTimeout, MailboxFull, MailboxOverflow
from engine.runtime.lifecycle import ActorState, Trigger, next_state
from engine.runtime.mailbox import Mailbox, MailboxSpec
from engine.runtime.ref import ActorRef
from engine.runtime.supervisor import ChildSpec

if TYPE_CHECKING:
    from engine.runtime.system import ActorSystem

log = logging.getLogger(__name__)

current_actor: contextvars.ContextVar[str] = contextvars.ContextVar("current_actor", default="-")
"""The path of the actor whose task is running (logs carry it)."""


class _Ask:
    __slots__ = ("msg", "future")

    def __init__(self, msg: Any, future: asyncio.Future[Any]) -> None:
        self.msg = msg
        self.future = future


class _Stop:
    __slots__ = ("by_self",)

    def __init__(self, by_self: bool) -> None:
        self.by_self = by_self


class _Fault:
    __slots__ = ("error", "where")

    def __init__(self, error: BaseException, where: str) -> None:
        self.error = error
        self.where = where


class Scheduled:
    """A message the actor told itself for later (once, or every ``interval`` seconds)."""

    __slots__ = ("_cell", "_msg", "_interval", "_handle", "cancelled")

    def __init__(self, cell: ActorCell, delay: float, msg: Any, interval: float | None) -> None:
        self._cell = cell
        self._msg = msg
        self._interval = interval
        self.cancelled = False
        self._handle = cell.system.clock.call_later(delay, self._fire)
        cell._timers.add(self)

    def cancel(self) -> None:
        self.cancelled = True
        self._handle.cancel()
        self._cell._timers.discard(self)

    def _fire(self) -> None:
        if self.cancelled:
            return
        cell = self._cell
        if self._interval is None:
            cell._timers.discard(self)
        else:
            self._handle = cell.system.clock.call_later(self._interval, self._fire)
        cell.try_tell(self._msg)


class ActorCell:
    def __init__(
        self,
        system: ActorSystem,
        path: str,
        factory: Callable[[], Actor],
        spec: ChildSpec,
        mailbox: MailboxSpec | None = None,
    ) -> None:
        self.system = system
        self.path = path
        self.factory = factory
        self.spec = spec
        self.actor = factory()
        self.kind = type(self.actor).__name__
        self.mailbox = Mailbox(path, mailbox or type(self.actor).mailbox)
        self.mailbox.on_fault = self._on_overflow
        self.ref = ActorRef(self)
        self.ctx = ActorContext(path, self.ref, system)
        self.actor.ctx = self.ctx
        self.state = ActorState.STARTING
        self.accepting = True
        self.handled = 0
        self.failed = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.reason = "normal"
        self._restart_times: deque[float] = deque()
        self._overflow_pending = False
        self._timers: set[Scheduled] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._waiting = False  # parked on an empty mailbox (see ``idle``)
        self._backing_off = False  # waiting out a restart back-off on the clock
        self.dead_letters = 0
        self.done = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"actor:{path}")

    # -- intake -----------------------------------------------------------
    def tell(self, msg: Any) -> None:
        if not self.accepting:
            raise ActorStopped(self.path)
        self.mailbox.put(msg)

    def try_tell(self, msg: Any) -> bool:
        """``tell`` that never raises: a message not taken is a dead letter (counted, logged at debug)."""
        if self.accepting:
            try:
                self.mailbox.put(msg)
                return True
            except MailboxFull:
                self.system._dead_letter(self, msg, "mailbox full")
                return False
        self.system._dead_letter(self, msg, "stopped")
        return False

    async def send(self, msg: Any) -> None:
        if not self.accepting:
            raise ActorStopped(self.path)
        await self.mailbox.put_wait(msg)

    async def ask(self, msg: Any, timeout: float, wait_for_room: bool = True) -> Any:
        if not self.accepting:
            raise ActorStopped(self.path)
        if not wait_for_room and len(self.mailbox) >= self.mailbox.limit:
            raise MailboxFull(self.path, self.mailbox.limit)
        future = asyncio.get_running_loop().create_future()
        ask = _Ask(msg, future)
        try:
            async with asyncio.timeout(timeout):
                await self.mailbox.put_wait(ask)  # room now, or within the same deadline
                return await future
        except TimeoutError:
            raise AskTimeout(self.path, type(msg).__name__, timeout) from None

    def request_stop(self, by_self: bool) -> None:
        if not self.accepting:
            return
        if not (by_self and self.spec.restart == "permanent"):
            self.accepting = False
        self.mailbox.put_urgent(_Stop(by_self))

    def _on_overflow(self, msg: Any) -> None:
        if not self._overflow_pending:
            self._overflow_pending = True
            self.mailbox.put_front(_Fault(MailboxOverflow(self.path, type(msg).__name__), "overflow"))

    def inject_fault(self, error: Exception) -> None:
        self.mailbox.put_front(_Fault(error, "injected fault"))

    # -- timers and piped tasks -------------------------------------------
    def schedule(self, delay: float, msg: Any, interval: float | None = None) -> Scheduled:
        return Scheduled(self, delay, msg, interval)

    def take_queued(self, kind: type) -> tuple[Any, Callable[[Any, BaseException | None], None]] | None:
        """Take the next message out of the mailbox if it is a ``kind`` (told or asked): it and the
        function that answers it (``reply(result, error)``; a no-op for a tell). None otherwise."""
        item = self.mailbox.peek()
        kind_of = type(item)
        if kind_of is _Ask:
            msg, future = item.msg, item.future
        elif kind_of is _Stop or kind_of is _Fault or item is None:
            return None
        else:
            msg, future = item, None
        if type(msg) is not kind:
            return None
        self.mailbox.get_nowait()
        self.handled += 1

        def reply(result: Any, error: BaseException | None = None) -> None:
            if future is None or future.done():
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        return msg, reply

    def pipe(self, awaitable: Awaitable[Any], wrap: Callable[[Any], Any],
             failed: Callable[[Exception], Any] | None) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._piped(awaitable, wrap, failed),
                                                      name=f"pipe:{self.path}")
        self._pipes.add(task)
        task.add_done_callback(self._pipe_done)
        return task

    async def _piped(self, awaitable: Awaitable[Any], wrap: Callable[[Any], Any],
                     failed: Callable[[Exception], Any] | None) -> None:
        try:
            result = await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if failed is None:  # nobody handles it: the actor crashes, as if its handler had raised
                if self.accepting:
                    self.mailbox.put_front(_Fault(exc, "piped task"))
                return
            msg = failed(exc)
        else:
            msg = wrap(result)
        if self.accepting:
            self.mailbox.put_urgent(msg)  # the actor asked for it: past the limit, never dropped
        else:
            self.system._dead_letter(self, msg, "stopped")

    def _pipe_done(self, task: asyncio.Task[None]) -> None:
        self._pipes.discard(task)
        self.system._poke()

    async def _cancel_instance_work(self, wait: bool = True) -> None:
        """Cancel the timers and piped tasks of the instance that is going away."""
        for timer in list(self._timers):
            timer.cancel()
        pipes = list(self._pipes)
        for task in pipes:
            task.cancel()
        if wait and pipes:
            await asyncio.gather(*pipes, return_exceptions=True)

    @property
    def idle(self) -> bool:
        """Nothing to do until a message arrives or the clock moves."""
        if self._pipes:
            return False
        return self._backing_off or (self._waiting and not len(self.mailbox))

    # -- the lifecycle table ------------------------------------------------
    def _move(self, trigger: Trigger) -> None:
        self.state = next_state(self.state, trigger)

    # -- the loop ---------------------------------------------------------
    async def _run(self) -> None:
        current_actor.set(self.path)
        mailbox = self.mailbox
        try:
            if not await self._start():
                return
            while True:
                if not len(mailbox):
                    self._waiting = True
                    self.system._poke()
                    try:
                        await mailbox.wait()
                    finally:
                        self._waiting = False
                item = mailbox.get_nowait()
                kind = type(item)
                if kind is _Ask:
                    msg, future = item.msg, item.future
                elif kind is _Stop:
                    if item.by_self and self.spec.restart == "permanent" and self.accepting:
                        if await self._restart("stopped itself (permanent)"):
                            continue
                    return
                elif kind is _Fault:
                    if item.where == "overflow":
                        self._overflow_pending = False
                    if not await self._crashed(item.error, item.where):
                        return
                    continue
                else:
                    msg, future = item, None
                try:
                    result = await self.actor.receive(msg)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a crash: reported, not retried
                    if future is not None and not future.done():
                        future.set_exception(exc)
                    if not await self._crashed(exc, type(msg).__name__):
                        return
                    continue
                self.handled += 1
                if future is not None and not future.done():
                    future.set_result(result)
        except asyncio.CancelledError:
            self.reason = "cancelled"
            raise
        finally:
            await self._finish()

    async def _start(self) -> bool:
        while True:
            self.actor.ctx = self.ctx
            try:
                await self.actor.on_start()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed += 1
                self._note_error(exc, "on_start")
                if not await self._restart(f"on_start failed: {exc!r}", start=False):
                    self.reason = f"on_start failed: {exc!r}"
                    self._move(Trigger.FAULT)
                    return False
                continue
            self._move(Trigger.STARTED)
            return True

    async def _crashed(self, exc: BaseException, where: str) -> bool:
        self.failed += 1
        self._note_error(exc, where)
        if await self._restart(f"{where}: {exc!r}"):
            return True
        if self.state is not ActorState.FAULTED:  # a failed on_start after the restart faulted it already
            self._move(Trigger.FAULT)
            self.reason = f"{where}: {exc!r}"
        return False

    def _note_error(self, exc: BaseException, where: str) -> None:
        self.ctx.failure = exc
        self.last_error = f"{type(exc).__name__}: {exc} (while handling {where})"
        log.error("actor %s crashed handling %s: %r", self.path, where, exc, exc_info=exc)

    async def _restart(self, cause: str, start: bool = True) -> bool:
        """Restart within the budget; False when the child must stop for good."""
        spec = self.spec
        if spec.restart == "temporary" or self.system.shutting_down:
            return False
        clock = self.system.clock
        now = clock.monotonic()
        times = self._restart_times
        while times and now - times[0] > spec.within_s:
            times.popleft()
        if len(times) >= spec.max_restarts:
            log.error("actor %s: restart budget spent (%d in %gs), stopping: %s",
                      self.path, spec.max_restarts, spec.within_s, cause)
            return False
        times.append(now)
        self.restarts += 1
        delay = spec.backoff(len(times))
        log.warning("actor %s restarting in %.3fs (restart %d): %s", self.path, delay, self.restarts, cause)
        self._move(Trigger.CRASH)
        await self._call_on_stop()
        await self._cancel_instance_work()
        if delay > 0:
            self._backing_off = True
            self.system._poke()
            try:
                await clock.sleep(delay)
            finally:
                self._backing_off = False
        self.actor = self.factory()
        self._move(Trigger.RESTARTED)
        self.actor.ctx = self.ctx
        if start:
            return await self._start()
        return True

    async def _call_on_stop(self) -> None:
        try:
            await self.actor.on_stop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("actor %s: on_stop failed: %r", self.path, exc, exc_info=exc)

    async def _finish(self) -> None:
        self.accepting = False
        faulted = self.state is ActorState.FAULTED
        if not faulted:
            self._move(Trigger.STOP)
        cancelled = self.reason == "cancelled"
        if not cancelled:  # a cancelled actor gets no more awaits
            await self._call_on_stop()
        await self._cancel_instance_work(wait=not cancelled)
        for item in self.mailbox.drain():
            if type(item) is _Ask and not item.future.done():
                item.future.set_exception(ActorStopped(self.path))
        if not faulted:
            self._move(Trigger.STOPPED)
        self.system._terminated(self)
        if not self.done.done():
            self.done.set_result(None)

    # -- the admin view ---------------------------------------------------
    def info(self) -> dict[str, Any]:
        box = self.mailbox
        out: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "state": self.state.value,
            "mailbox_depth": len(box),
            "mailbox_limit": box.limit,
            "mailbox_peak": box.peak,
            "handled": self.handled,
            "failed": self.failed,
            "rejected": box.rejected,
            "conflated": box.conflated,
            "dead_letters": self.dead_letters,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }
        try:
            extra = self.actor.state_view()
        except Exception as exc:  # the admin view must never break on one actor
            extra = {"state_view_error": repr(exc)}
        if extra:
            out["details"] = extra
        return out
