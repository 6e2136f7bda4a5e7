"""The swings' supervisor (``/swings``): restores every live swing at start-up,
spawns new ones, and tells each swing ``CheckSignal`` just after its bar closes.

The hub ticks itself once a minute on the system clock (``MinuteTick`` at
second 2 of each minute: the wall clock in production, the manual clock in
tests); a swing is due when a close of its bar size fell in the minute since
the previous tick (inside the KRX session, or at every boundary when market
hours are ignored). Self-timed (a replay on market time) it arms one clock
timer for the next close of its swings' sizes instead, so closed hours and idle
minutes cost nothing.

An account's kill switch (:class:`~actors.swing.AccountHalted`, told by the risk
endpoints, in cluster mode on every node: :class:`~actors.cluster_accounts.AccountRiskChanged`)
is told to every swing; each reads its account's switch again at each check as
well, so a missed one (a full mailbox, a node that did not answer) is only late.

Its routing (which swing has which bar size) is rebuilt from storage on every
start: a restarted hub reads the live swings again and adopts the ones still
running instead of spawning them twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from actors import paths
from actors.swing import AccountHalted, CheckSignal, SwingActor
from engine.runtime import ChildSpec, ChildTerminated, MailboxSpec, Supervisor
from engine.strategy.schedule import CHECK_DELAY_MS, closes_between, next_tick_ms

log = logging.getLogger(__name__)


class StartSwing(msgspec.Struct, frozen=True):
    swing_id: int
    bar_size: str


class MinuteTick(msgspec.Struct, frozen=True):
    now_ms: int


class SwingEnded(msgspec.Struct, frozen=True):
    swing_id: int


class CountSwings(msgspec.Struct, frozen=True):
    """Ask: how many swings run (also a barrier: the restore in on_start is done)."""


SwingHubMsg = StartSwing | MinuteTick | SwingEnded | CountSwings | AccountHalted | ChildTerminated


class SwingHub(Supervisor):
    mailbox = MailboxSpec(limit=16384)

    def __init__(self, make_swing: Callable[[int], SwingActor], live: Callable[[], Awaitable[list[Any]]],
                 spec: ChildSpec, ignore_hours: bool, *, self_timed: bool = False) -> None:
        super().__init__()
        self.self_timed = self_timed
        self._timer: Any = None
        self._timer_due: int | None = None
        self.make_swing = make_swing
        self.live = live
        self.spec = spec
        self.ignore_hours = ignore_hours
        self.bar_sizes: dict[int, str] = {}
        self.last_tick_ms: int | None = None
        self.checks_sent = 0

    async def on_start(self) -> None:
        for swing in await self.live():
            self._spawn(swing.id, swing.params.bar_size)
        log.info("swings restored: %d", len(self.bar_sizes))
        self._arm()

    async def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _arm(self) -> None:
        now = self.ctx.clock.now_ms()
        if self.self_timed:
            self._arm_next_close(now)
            return
        due = next_tick_ms(now)
        self.ctx.tell_later((due - now) / 1000.0, MinuteTick(due))

    def _arm_next_close(self, now: int) -> None:
        """One timer, at the next close of any size in use (+ the check delay)."""
        if not self.bar_sizes:
            return
        after = self.last_tick_ms if self.last_tick_ms is not None else now - CHECK_DELAY_MS
        nxt = [c[0] for size in set(self.bar_sizes.values())
               if (c := closes_between(size, after, after + 15 * 86_400_000, self.ignore_hours))]
        if not nxt:
            return
        due = min(nxt) + CHECK_DELAY_MS
        if due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        ref, clock = self.ctx.self_ref, self.ctx.clock

        def fire() -> None:
            if not ref.try_tell(MinuteTick(due)):
                log.warning("swing check skipped at %d (hub mailbox full or stopped)", due)

        self._timer = clock.call_later(max(0, due - now) / 1000, fire)

    async def receive(self, msg: SwingHubMsg) -> Any:
        match msg:
            case CountSwings():
                return len(self.bar_sizes)
            case StartSwing():
                self._spawn(msg.swing_id, msg.bar_size)
                if self.self_timed:
                    self._arm()
            case MinuteTick():
                if self.self_timed:
                    self._timer_due = None
                self._tick(msg.now_ms)
                self._arm()
            case SwingEnded():
                self.bar_sizes.pop(msg.swing_id, None)
            case AccountHalted():
                self._tell_all(msg)
            case _:
                await super().receive(msg)
        return None

    async def on_child_terminated(self, msg: ChildTerminated) -> None:
        log.error("swing %s stopped for good: %s", msg.path, msg.reason)
        self.bar_sizes.pop(int(msg.path.rsplit("/", 1)[-1]), None)

    def _spawn(self, swing_id: int, bar_size: str) -> None:
        self.bar_sizes[swing_id] = bar_size  # a swing still running after a restart of the hub is adopted
        if self.ctx.system.lookup(paths.swing(swing_id)) is not None:
            return
        self.ctx.spawn(str(swing_id), lambda: self.make_swing(swing_id), self.spec)

    def _tick(self, now_ms: int) -> None:
        checked = now_ms - CHECK_DELAY_MS  # the minute boundary this tick follows
        after = self.last_tick_ms if self.last_tick_ms is not None else checked - 60_000
        self.last_tick_ms = checked
        due_sizes = {size for size in set(self.bar_sizes.values())
                     if closes_between(size, after, checked, self.ignore_hours)}
        if not due_sizes:
            return
        for swing_id, size in list(self.bar_sizes.items()):
            if size not in due_sizes:
                continue
            ref = self.ctx.system.lookup(paths.swing(swing_id))
            if ref is None:
                self.bar_sizes.pop(swing_id, None)
                continue
            if ref.try_tell(CheckSignal(now_ms)):
                self.checks_sent += 1
            else:
                log.warning("swing %d not checked (mailbox full or stopped)", swing_id)

    def _tell_all(self, msg: AccountHalted) -> None:
        """The kill switch moved: every swing hears it, the account's own act on it."""
        for swing_id in list(self.bar_sizes):
            ref = self.ctx.system.lookup(paths.swing(swing_id))
            if ref is not None and not ref.try_tell(msg):
                log.warning("swing %d not told account %d's halt (mailbox full or stopped); its next check "
                            "reads it", swing_id, msg.account_id)

    def state_view(self) -> dict[str, Any]:
        return {**super().state_view(), "swings": len(self.bar_sizes), "checks_sent": self.checks_sent}
