"""ActorSystem: spawn by path, look up, stop subtrees, shut down, show the tree.

Paths are absolute and slash-separated (``/feeds/005930``); a path's parent
must exist (``/`` always does). The system is the root supervisor: a child
whose restart budget is spent is reported to its parent actor with
``ChildTerminated``, or logged when its parent is the root.

Shutdown is graceful: stop taking new work, let every mailbox drain (deepest
actors first, so sessions stop before the feeds they read), then cancel what
is still running when the deadline passes.

A message nobody took (``try_tell`` to a full mailbox or a stopped actor, a
timer or piped result for an actor that stopped) is a *dead letter*: counted
on the addressee (its ``dead_letters`` in the tree), in the totals, and the
last ones kept with their sender for the admin view (Thespian's
``DeadEnvelope``).

``idle()`` is the barrier tests await instead of polling: it returns when
every mailbox is empty, no handler is running and no piped task is pending,
that is, when nothing more happens until new input arrives or the clock moves.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from engine.runtime.actor import Actor
from engine.runtime.cell import ActorCell, current_actor
from engine.runtime.clock import Clock, WallClock
from engine.runtime.errors import ActorNotFound, ActorStopped, PathTaken
from engine.runtime.lifecycle import ActorState
from engine.runtime.mailbox import MailboxSpec
from engine.runtime.ref import ActorRef
from engine.runtime.supervisor import ChildSpec, ChildTerminated

log = logging.getLogger(__name__)


class DeadLetter(msgspec.Struct, frozen=True):
    """A message that was not delivered: to whom, from whom (``-`` outside any actor), why."""

    target: str
    sender: str
    msg_type: str
    reason: str


def parent_of(path: str) -> str:
    head, _, _ = path.rpartition("/")
    return head or "/"


class ActorSystem:
    def __init__(self, clock: Clock | None = None, default_spec: ChildSpec | None = None) -> None:
        self.clock: Clock = clock or WallClock()
        self.default_spec = default_spec or ChildSpec()
        self.shutting_down = False
        self._cells: dict[str, ActorCell] = {}
        self._children: dict[str, set[str]] = {"/": set()}
        self.spawned = 0
        self.terminated_faulted = 0
        self._faulted: dict[str, dict[str, Any]] = {}  # last 200 stopped for good, for the admin tree
        self.dead_letters = 0
        self.recent_dead_letters: deque[DeadLetter] = deque(maxlen=50)
        self._quiet = asyncio.Event()  # set whenever an actor parks or a piped task ends (see idle)

    # -- spawning and lookup ----------------------------------------------
    def spawn(
        self,
        path: str,
        factory: Callable[[], Actor],
        spec: ChildSpec | None = None,
        mailbox: MailboxSpec | None = None,
    ) -> ActorRef:
        """Start an actor at ``path``; ``factory`` builds it (again on every restart)."""
        if self.shutting_down:
            raise ActorStopped(path)
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise ValueError(f"bad actor path {path!r}")
        if path in self._cells:
            raise PathTaken(path)
        parent = parent_of(path)
        if parent != "/" and parent not in self._cells:
            raise ActorNotFound(parent)
        cell = ActorCell(self, path, factory, spec or self.default_spec, mailbox)
        self._cells[path] = cell
        self._children.setdefault(parent, set()).add(path)
        self._children.setdefault(path, set())
        self.spawned += 1
        return cell.ref

    def lookup(self, path: str) -> ActorRef | None:
        cell = self._cells.get(path)
        return cell.ref if cell is not None and cell.accepting else None

    def ref(self, path: str) -> ActorRef:
        ref = self.lookup(path)
        if ref is None:
            raise ActorNotFound(path)
        return ref

    def cell_info(self, path: str) -> dict[str, Any]:
        """The admin row of the actor at ``path`` (live, or stopped for good); ActorNotFound otherwise."""
        cell = self._cells.get(path)
        if cell is not None:
            return cell.info()
        if path in self._faulted:
            return self._faulted[path]
        raise ActorNotFound(path)

    def children(self, path: str) -> list[str]:
        return sorted(self._children.get(path, ()))

    def __len__(self) -> int:
        return len(self._cells)

    @property
    def running(self) -> bool:
        return not self.shutting_down

    # -- stopping ---------------------------------------------------------
    def _subtree(self, path: str) -> list[ActorCell]:
        """Cells under ``path`` (itself included), deepest first."""
        out: list[ActorCell] = []
        stack = [path]
        while stack:
            node = stack.pop()
            cell = self._cells.get(node)
            if cell is not None:
                out.append(cell)
            stack.extend(self._children.get(node, ()))
        out.sort(key=lambda c: c.path.count("/"), reverse=True)
        return out

    async def stop(self, path: str, timeout: float | None = None) -> None:
        """Stop ``path`` and everything under it, children first; wait until stopped."""
        cells = self._subtree(path)
        by_depth: dict[int, list[ActorCell]] = {}
        for cell in cells:
            by_depth.setdefault(cell.path.count("/"), []).append(cell)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        for depth in sorted(by_depth, reverse=True):
            layer = by_depth[depth]
            for cell in layer:
                cell.request_stop(by_self=False)
            left = None if deadline is None else max(0.0, deadline - loop.time())
            _, pending = await asyncio.wait([c.done for c in layer], timeout=left)
            if pending:
                raise TimeoutError(f"{len(pending)} actors under {path} did not stop in time")

    async def shutdown(self, deadline: float = 10.0) -> None:
        """Stop intake, drain every mailbox within ``deadline`` seconds, then cancel."""
        if self.shutting_down:
            return
        self.shutting_down = True
        cells = list(self._cells.values())
        try:
            await self.stop("/", deadline)
        except TimeoutError:
            left = [c for c in cells if not c.done.done()]
            log.warning("shutdown deadline (%gs) passed; cancelling %d actors", deadline, len(left))
            for cell in left:
                cell.task.cancel()
            await asyncio.gather(*(c.task for c in left), return_exceptions=True)

    # -- dead letters and the idle barrier ---------------------------------
    def _dead_letter(self, cell: ActorCell, msg: Any, reason: str) -> None:
        cell.dead_letters += 1
        self.dead_letters += 1
        letter = DeadLetter(cell.path, current_actor.get(), type(msg).__name__, reason)
        self.recent_dead_letters.append(letter)
        log.debug("dead letter: %s", letter)

    def _poke(self) -> None:
        self._quiet.set()

    async def idle(self, timeout: float = 10.0) -> None:
        """Return once every mailbox is empty, no handler runs and no piped task is pending.

        ``timeout`` is wall seconds; past it, TimeoutError names the busy actors.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await asyncio.sleep(0)  # let a task woken just now take its message
                    if all(cell.idle for cell in self._cells.values()):
                        return
                    self._quiet.clear()
                    await self._quiet.wait()
        except TimeoutError:
            busy = sorted(c.path for c in self._cells.values() if not c.idle)
            raise TimeoutError(f"actors still busy after {timeout:g} s: {', '.join(busy[:20])}") from None

    def inject_fault(self, path: str, error: Exception) -> None:
        """Crash the actor at ``path`` with ``error`` before its next message, as if a handler had
        raised it (chaos drills and tests: its supervisor restarts it per its ChildSpec)."""
        cell = self._cells.get(path)
        if cell is None or not cell.accepting:
            raise ActorNotFound(path)
        cell.inject_fault(error)

    async def wait_stopped(self, paths: list[str], timeout: float = 10.0) -> None:
        """Return once none of ``paths`` runs any more (whoever stops them); wall-seconds timeout."""
        pending = [cell.done for p in paths if (cell := self._cells.get(p)) is not None]
        if pending:
            _, left = await asyncio.wait(pending, timeout=timeout)
            if left:
                raise TimeoutError(f"{len(left)} of {', '.join(paths)} still running after {timeout:g} s")

    def _terminated(self, cell: ActorCell) -> None:
        if self._cells.get(cell.path) is not cell:
            return
        del self._cells[cell.path]
        parent = parent_of(cell.path)
        self._children.get(parent, set()).discard(cell.path)
        if not self._children.get(cell.path):
            self._children.pop(cell.path, None)
        self._poke()
        if cell.state is ActorState.FAULTED:
            self.terminated_faulted += 1
            self._faulted[cell.path] = cell.info()
            while len(self._faulted) > 200:
                del self._faulted[next(iter(self._faulted))]
            parent_cell = self._cells.get(parent)
            if parent_cell is not None and parent_cell.accepting:
                try:
                    parent_cell.tell(ChildTerminated(cell.path, cell.reason))
                except Exception as exc:  # the parent is overloaded or gone: log, never loop
                    log.error("could not tell %s that %s terminated: %r", parent, cell.path, exc)
            else:
                log.error("actor %s stopped for good: %s", cell.path, cell.reason)

    def busy(self) -> list[str]:
        """Paths of the actors with work: a message queued or being handled (a replay on
        ``max`` speed moves market time only when the engine is quiet)."""
        return [path for path, cell in self._cells.items() if not cell.idle]

    # -- the admin view ---------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """Every live actor, plus the ones stopped for good, sorted by path."""
        rows = [cell.info() for cell in self._cells.values()]
        rows.extend(self._faulted.values())
        rows.sort(key=lambda r: r["path"])
        return rows

    def totals(self) -> dict[str, int]:
        rows = [cell.info() for cell in self._cells.values()]
        return {
            "actors": len(rows),
            "mailbox_depth": sum(r["mailbox_depth"] for r in rows),
            "handled": sum(r["handled"] for r in rows),
            "rejected": sum(r["rejected"] for r in rows),
            "conflated": sum(r["conflated"] for r in rows),
            "dead_letters": self.dead_letters,
            "restarts": sum(r["restarts"] for r in rows),
            "faulted": self.terminated_faulted,
        }
