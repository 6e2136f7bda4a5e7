"""The SwingActor with fakes for its store and its account: an answer lost on the way
(the account crashed mid-order) is asked for again at the next check, with the same
client order id, and the SIGNAL moves only when the fill arrives."""

from __future__ import annotations

import datetime as dt
from typing import Any


from actors.account_messages import OrderResult
from actors.market_feed import UpstreamStatus
from actors.swing import CheckSignal, GetSwing, OrderOutcome, SwingActor
from actors.swing_orders import outcome_of
from engine.market.messages import Bar
from engine.runtime import ActorSystem, ManualClock, Supervisor
from engine.strategy.swing import SwingParams
from engine.swings import Intent, Swing
from tests.actors.helpers import FakeStore, LosingPort, Sink


PARAMS = SwingParams(stock_code="005930", unit_amount=1_000_000, bar_size="1Min", short_term=1, medium_term=2,
                     long_term=3, rsi_threshold=1.0, adx_threshold=0.0, obv_threshold=0.0)


def row(**kw: Any) -> Swing:
    now = dt.datetime.now(dt.UTC)
    base = dict(id=7, user_id=1, account_id=1, stock_code="005930", params=PARAMS, status="active",
                signal_state=0, last_decision=None, shares=0, avg_cost=0, stage2_shares=0, realized_pnl=0,
                order_seq=1, intent_order_id="swing-7-1", last_bar_ms=None, created_at=now, updated_at=now,
                intent=Intent(status="active", action="buy", quantity_rule="unit_amount", quantity=10,
                              price=100_000, signal_before=0, signal_after=1, trigger="first_stage_buy",
                              reason="seed", bar_start_ms=0, indicators={}))
    return Swing(**{**base, **kw})


async def test_a_lost_answer_is_asked_for_again_and_the_fill_moves_the_signal():
    clock = ManualClock()
    system = ActorSystem(clock=clock)
    store, port = FakeStore(row()), LosingPort()
    feeds = system.spawn("/feeds", Sink)

    async def no_history(code: str, size: str, n: int) -> list[Bar]:
        return []

    system.spawn("/swings", Supervisor)
    ref = system.spawn("/swings/7", lambda: SwingActor(
        7, store, port, feeds, no_history, outcome_of))
    view = await ref.ask(GetSwing(), 1)
    assert view.pending_order == "swing-7-1" and len(port.placed) == 1  # reconciled on start
    now = clock.now_ms()
    ref.tell(Bar("005930", "1Min", now - 120_000, 100_000, 100_100, 99_900, 100_000, 10))
    ref.tell(CheckSignal(now))
    await ref.ask(GetSwing(), 1)
    assert [p["client_order_id"] for p in port.placed] == ["swing-7-1", "swing-7-1"]  # the same order, asked again
    assert store.row.signal_state == 0  # nothing moves without a fill
    ref.tell(UpstreamStatus("reconnecting", "upstream dropped"))  # every feed subscriber hears it: not a crash
    ref.tell(OrderResult(account_id=1, client_order_id="swing-7-1", status="filled", filled_quantity=10,
                         average_price=100_000))
    view = await ref.ask(GetSwing(), 1)
    assert system.cell_info("/swings/7")["restarts"] == 0
    assert view.pending_order is None and view.signal_state == 1 and view.shares == 10
    assert store.row.intent_order_id is None and store.row.signal_state == 1
    assert [(e.kind, e.signal_before, e.signal_after, e.order_id) for e in store.events] == [
        ("resumed", 0, 0, "swing-7-1"), ("check", 0, 0, None), ("fill", 0, 1, "swing-7-1")]
    await system.shutdown(1)


async def test_every_swing_decision_leaves_one_info_line(caplog):
    import logging

    clock = ManualClock()
    system = ActorSystem(clock=clock)
    store, port = FakeStore(row(intent_order_id=None, intent=None)), LosingPort()
    feeds = system.spawn("/feeds", Sink)

    async def no_history(code: str, size: str, n: int) -> list[Bar]:
        return []

    system.spawn("/swings", Supervisor)
    ref = system.spawn("/swings/7", lambda: SwingActor(
        7, store, port, feeds, no_history, lambda m: m if isinstance(m, OrderOutcome) else None))
    await ref.ask(GetSwing(), 1)
    caplog.set_level(logging.INFO, logger="actors.swing")
    now = clock.now_ms()
    ref.tell(Bar("005930", "1Min", now - 120_000, 100_000, 100_100, 99_900, 100_000, 10))
    ref.tell(CheckSignal(now))
    await system.idle()  # the check reads the books off the mailbox, then decides
    lines = [r.getMessage() for r in caplog.records if r.name == "actors.swing" and r.levelno == logging.INFO]
    assert len(lines) == 1 and lines[0].startswith("swing 7: 005930 hold (SIGNAL 0 -> 0): "), lines
    await system.shutdown(1)
