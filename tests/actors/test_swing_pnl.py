"""The swing's realised P&L is the account's (engine.pnl): the cash round trip of its fills, fees and
tax as the account booked them, on the swing's exact cost basis, which survives a restart. By hand."""

from __future__ import annotations

import datetime as dt

import msgspec

from actors.account_messages import OrderResult
from actors.swing import GetSwing, SwingActor
from actors.swing_orders import outcome_of
from engine.market.messages import Bar
from engine.runtime import ActorSystem, ManualClock, Supervisor
from engine.strategy.swing import SwingParams
from engine.swings import Intent, Swing
from tests.actors.helpers import FakeStore, LosingPort, Sink

PARAMS = SwingParams(stock_code="005930", unit_amount=1_000_000, bar_size="1Min", short_term=1, medium_term=2,
                     long_term=3, rsi_threshold=1.0, adx_threshold=0.0, obv_threshold=0.0, repeat=True)


def sell(quantity: int, signal_after: int) -> Intent:
    return Intent(status="active", action="sell", quantity_rule="all", quantity=quantity, price=101_000,
                  signal_before=2, signal_after=signal_after, trigger="test", reason="test", bar_start_ms=0,
                  indicators={})


async def no_history(code: str, size: str, n: int) -> list[Bar]:
    return []


async def test_the_swing_books_the_cash_round_trip_across_partial_sells_and_a_restart():
    # held: 10 shares bought at 100,000 = 1,000,000 + commission floor(150.0) = 150: basis 1,000,150
    now = dt.datetime.now(dt.UTC)
    store = FakeStore(Swing(id=7, user_id=1, account_id=1, stock_code="005930", params=PARAMS, status="active",
                        signal_state=2, last_decision="buy", shares=10, avg_cost=100_000, stage2_shares=0,
                        realized_pnl=0, order_seq=2, intent_order_id="swing-7-2", intent=sell(4, 2),
                        last_bar_ms=None, cost_basis=1_000_150, created_at=now, updated_at=now))
    system = ActorSystem(clock=ManualClock())
    feeds = system.spawn("/feeds", Sink)
    system.spawn("/swings", Supervisor)

    def start():
        return system.spawn("/swings/7", lambda: SwingActor(7, store, LosingPort(), feeds, no_history, outcome_of))

    ref = start()
    # 4 sold at 101,000 = 404,000: commission floor(60.6) = 60, tax (2026, KOSPI) floor(202.0) +
    # floor(606.0) = 808; basis 1,000,150 x 4 // 10 = 400,060: 404,000 - 60 - 808 - 400,060 = 3,072
    ref.tell(OrderResult(account_id=1, client_order_id="swing-7-2", status="filled", filled_quantity=4,
                         average_price=101_000, filled_value=404_000, commission=60, tax=808))
    view = await ref.ask(GetSwing(), 1)
    assert view.shares == 6 and store.row.realized_pnl == 3_072 == 404_000 - 60 - 808 - 400_060
    assert store.row.cost_basis == 1_000_150 - 400_060 == 600_090  # what the 6 left cost, kept exact

    await system.stop("/swings/7", 1)  # a restart: the next actor loads the row as saved
    store.row = msgspec.structs.replace(store.row, order_seq=3, intent_order_id="swing-7-3", intent=sell(6, 3))
    ref = start()
    # the last 6 at 101,000 in two fills, 3 x 101,000 + 3 x 100,900 = 605,700: commission floor(90.855) = 90,
    # tax floor(302.85) + floor(908.55) = 302 + 908 = 1,210; they take the rest of the basis, 600,090
    ref.tell(OrderResult(account_id=1, client_order_id="swing-7-3", status="filled", filled_quantity=6,
                         average_price=605_700 // 6, filled_value=605_700, commission=90, tax=1_210))
    view = await ref.ask(GetSwing(), 1)
    assert view.shares == 0 and store.row.cost_basis == 0
    assert store.row.realized_pnl == 3_072 + (605_700 - 90 - 1_210 - 600_090)
    # the whole round trip's cash: (404,000 + 605,700) - (60 + 808 + 90 + 1,210) - 1,000,150 = 7,382; the
    # old figure, (sale price - average) x quantity, was 4 x 1,000 + 6 x 950 = 9,700
    assert store.row.realized_pnl == 1_009_700 - 2_168 - 1_000_150 == 7_382
    await system.shutdown(1)
