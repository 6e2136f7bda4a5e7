"""A swing's books are the account's, on market time with real paper orders (SQLite and MariaDB).

- A "sell everything" the book fills only in part keeps the SIGNAL; the rest is sold at the
  next check, and only then does the SIGNAL move (with and without ``repeat``).
- Shares sold elsewhere halt the swings that count on them: the check compares the SUM of the
  account's swings' shares of a code with the account's holding, and lifts the halt once the
  holding covers them again.

Paper account, 2026-12-01 (a Tuesday) from 10:00 KST; commission 0.015 % of each fill, floored;
2026 KOSPI tax 0.05 % + 0.15 %, each floored. Every figure is computed by hand in the comments.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actors import paths
from actors.account_hub import AccountRef
from actors.account_messages import PlaceOrder
from actors.swing import GetSwing
from storage.models import Account as AccountRow, PositionRow
from tests.actors.helpers import CODE, T0_MS, SwingRig, rising_bars


async def cash_and_held(rig: SwingRig) -> tuple[int, int]:
    async with rig.sessions() as session:
        cash = await session.scalar(select(AccountRow.cash_balance).where(AccountRow.id == rig.account_id))
        held = await session.scalar(select(PositionRow.quantity).where(
            PositionRow.account_id == rig.account_id, PositionRow.code == CODE))
    return cash, held or 0


async def rest_order(rig: SwingRig, side: str, quantity: int) -> None:
    """An order placed outside the swings (the trader's own, through REST)."""
    account = await rig.system.ref(paths.ACCOUNTS).ask(AccountRef(rig.account_id), 5)
    ticket = await account.ask(PlaceOrder(account_id=rig.account_id, code=CODE, side=side, quantity=quantity,
                                          source="rest"), 5)  # type: ignore[arg-type]
    result = await ticket.wait(5)
    assert (result.status, result.filled_quantity) == ("filled", quantity), result


@pytest.mark.parametrize("repeat", [False, True])
async def test_a_partly_filled_sale_keeps_the_signal_and_sells_the_rest_at_the_next_check(
        session_factory, db_settings, repeat):
    # 40 rising bars 66,000 .. 69,800, the last one (09:59) at 69,300: a confirmed dead cross EMA1/EMA2.
    rig = SwingRig(db_settings, session_factory, rising_bars(first=66_000, drop=500))
    await rig.start(held=100, average_price=60_000)
    swing_id = await rig.add_swing(shares=100, avg_cost=60_000, signal=1, repeat=repeat)
    try:
        rig.quote(bids=(69_300, 69_200), bid_qty=(30, 20))  # 50 shares shown to sell into
        await rig.next_check()  # 10:00:02: the 09:59 bar decides "sell all 100"
        swing = await rig.swing(swing_id)
        # 30 at 69,300 + 20 at 69,200 = 3,463,000 for 50 shares: 69,260 on average; the other 50 are cancelled
        assert (swing.signal_state, swing.shares, swing.status) == (1, 50, "active")
        assert swing.intent is not None and swing.intent.remainder and swing.intent.quantity == 50
        assert swing.intent_order_id is None  # carried, no order in flight
        # realised (engine.pnl): 3,463,000 - commission (311 + 207) - tax (4,157 + 2,768, see below)
        # - the cost basis of 50 of the 100 shares (6,000,000 x 50 / 100 = 3,000,000)
        assert swing.realized_pnl == 3_463_000 - 518 - 6_925 - 3_000_000 == 455_557
        view = await rig.system.ref(paths.swing(swing_id)).ask(GetSwing(), 5)
        assert (view.carried, view.pending_order, view.signal_state) == (50, None, 1)

        rig.bar(swing_id, T0_MS, 69_000)  # the 10:00 bar closes
        rig.quote(bids=(69_000,), bid_qty=(1_000,))
        await rig.next_check()  # 10:01:02: the rest is sold before any new decision
        swing = await rig.swing(swing_id)
        assert (swing.signal_state, swing.shares, swing.intent) == (3, 0, None)
        assert swing.status == ("active" if repeat else "completed")
        # + 3,450,000 - 517 - 6,900 - the other 3,000,000: the cash round trip, as the ledger books it
        assert swing.realized_pnl == 455_557 + 3_450_000 - 517 - 6_900 - 3_000_000 == 898_140

        cash, held = await cash_and_held(rig)
        # fill            value      commission (0.015 %)   tax 0.05 % + 0.15 %
        # 30 x 69,300  2,079,000     311                    1,039 + 3,118 = 4,157
        # 20 x 69,200  1,384,000     207                      692 + 2,076 = 2,768
        # 50 x 69,000  3,450,000     517                    1,725 + 5,175 = 6,900
        assert held == 0
        assert cash == 100_000_000 + 6_913_000 - (311 + 207 + 517) - (4_157 + 2_768 + 6_900) == 106_898_140

        events = await rig.events(swing_id)
        assert [(e.kind, e.action, e.signal_before, e.signal_after) for e in events] == [
            ("check", "sell", 1, 3), ("order", "sell", 1, 3), ("fill", "sell", 1, 1),
            ("check", "hold", 1, 1), ("order", "sell", 1, 3), ("fill", "sell", 1, 3)]
        assert "sell 50 of 100 filled at 69260" in events[2].reason
        assert "the 50 left are sold at the next check, SIGNAL stays 1" in events[2].reason
        assert "selling the 50 shares left of the partly filled sale (first_stage_sell)" in events[3].reason
        assert events[4].order_id == f"swing-{swing_id}-2" and events[5].reason == "sell 50 filled at 69000"
    finally:
        await rig.stop()


async def test_shares_sold_elsewhere_halt_the_swings_that_count_on_them_summed_per_code(
        session_factory, db_settings):
    # Steady rise: no cross, every check holds. Two swings of 005930 on one account: 60 + 40 = 100,
    # the account holds 100.
    rig = SwingRig(db_settings, session_factory, rising_bars(first=66_000))
    await rig.start(held=100, average_price=60_000)
    first = await rig.add_swing(shares=60, avg_cost=60_000, signal=1)
    second = await rig.add_swing(shares=40, avg_cost=60_000, signal=1)
    try:
        await rig.next_check()  # 10:00:02: the books agree (100 >= 60 + 40): both decide (hold)
        assert [(await rig.swing(s)).status for s in (first, second)] == ["active", "active"]

        rig.quote(bids=(69_900,), bid_qty=(1_000,))
        await rest_order(rig, "sell", 20)  # the trader sells 20 outside the swings: 100 - 20 = 80 held
        assert (await cash_and_held(rig))[1] == 80
        for swing_id in (first, second):
            rig.bar(swing_id, T0_MS, 70_000)
        await rig.next_check()  # 10:01:02: each swing alone (60, 40) fits in 80, their sum (100) does not
        one, two = await rig.swing(first), await rig.swing(second)
        assert (one.status, two.status) == ("halted", "halted")
        assert (one.shares, one.signal_state, two.shares, two.signal_state) == (60, 1, 40, 1)  # books untouched
        halted = [e for e in await rig.events(first) if e.kind == "halted"]
        assert len(halted) == 1 and halted[0].reason.startswith(
            "the account holds 80 shares of 005930 but its swings hold 100 (this swing 60, the account's "
            "other swings 40): sold elsewhere?")
        decisions = len([e for e in await rig.events(first) if e.kind == "check"])

        for swing_id in (first, second):
            rig.bar(swing_id, T0_MS + 60_000, 70_100)
        await rig.next_check()  # 10:02:02: still 80 < 100: halted, no decision, no second "halted" event
        assert len([e for e in await rig.events(first) if e.kind in ("check", "halted")]) == decisions + 1

        rig.quote(bids=(69_900,), bid_qty=(1_000,))  # asks 70,000 x 1,000
        await rest_order(rig, "buy", 20)  # bought back: 80 + 20 = 100 covers 60 + 40 again
        for swing_id in (first, second):
            rig.bar(swing_id, T0_MS + 120_000, 70_200)
        await rig.next_check()  # 10:03:02: lifted, back to active, and the check decides
        one, two = await rig.swing(first), await rig.swing(second)
        assert (one.status, two.status) == ("active", "active")
        kinds = [e.kind for e in await rig.events(first)]
        assert kinds[-2:] == ["resumed", "check"]
    finally:
        await rig.stop()
