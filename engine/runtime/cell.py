"""ActorCell: runs one actor — its mailbox, its task, its restarts, its counters.

Lifecycle states (NautilusTrader style, one table):

    starting ──▶ running ──▶ stopping ──▶ stopped
        ▲           │
        └─restarting◀┘ (crash, budget left)      running ──▶ faulted (budget spent)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.runtime.actor import Actor, ActorContext
from engine.runtime.errors import ActorStopped, AskTimeout, MailboxOverflow
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
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


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
        self.state = "starting"
        self.idle = False  # waiting for its next message (nothing to do)
        self.accepting = True
        self.handled = 0
        self.failed = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.reason = "normal"
        self._restart_times: deque[float] = deque()
        self._overflow_pending = False
        self.done = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"actor:{path}")

    # -- intake -----------------------------------------------------------
    def tell(self, msg: Any) -> None:
        if not self.accepting:
            raise ActorStopped(self.path)
        self.mailbox.put(msg)

    async def send(self, msg: Any) -> None:
        if not self.accepting:
            raise ActorStopped(self.path)
        await self.mailbox.put_wait(msg)

    async def ask(self, msg: Any, timeout: float) -> Any:
        if not self.accepting:
            raise ActorStopped(self.path)
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
            self.mailbox.put_front(_Fault(MailboxOverflow(self.path, type(msg).__name__)))

    # -- the loop ---------------------------------------------------------
    async def _run(self) -> None:
        current_actor.set(self.path)
        mailbox = self.mailbox
        try:
            if not await self._start():
                return
            while True:
                if not len(mailbox):
                    self.idle = True
                    try:
                        await mailbox.wait()
                    finally:
                        self.idle = False
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
                    self._overflow_pending = False
                    if not await self._crashed(item.error, "overflow"):
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
                    self.state = "faulted"
                    return False
                continue
            self.state = "running"
            return True

    async def _crashed(self, exc: BaseException, where: str) -> bool:
        self.failed += 1
        self._note_error(exc, where)
        if await self._restart(f"{where}: {exc!r}"):
            return True
        self.state = "faulted"
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
        self.state = "restarting"
        await self._call_on_stop()
        if delay > 0:
            await clock.sleep(delay)
        self.actor = self.factory()
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
        if self.state != "faulted":
            self.state = "stopping"
        if self.reason != "cancelled":  # a cancelled actor gets no more awaits
            await self._call_on_stop()
        for item in self.mailbox.drain():
            if type(item) is _Ask and not item.future.done():
                item.future.set_exception(ActorStopped(self.path))
        if self.state != "faulted":
            self.state = "stopped"
        self.system._terminated(self)
        if not self.done.done():
            self.done.set_result(None)

    # -- the admin view ---------------------------------------------------
    def info(self) -> dict[str, Any]:
        box = self.mailbox
        out: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "state": self.state,
            "mailbox_depth": len(box),
            "mailbox_limit": box.limit,
            "mailbox_peak": box.peak,
            "handled": self.handled,
            "failed": self.failed,
            "rejected": box.rejected,
            "conflated": box.conflated,
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
