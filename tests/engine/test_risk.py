"""Fees in integer KRW and the order checks, each naming its rule."""

from __future__ import annotations

import pytest

from engine.risk import Fees, Limits, OrderFacts, OrderRefused, check_order, fee

FEES = Fees(0.015, 0.18)
FACTS = OrderFacts(side="buy", quantity=10, price=None, reference=70_000, base_price=70_000, cash=10_000_000,
                   held=0, held_value=0, realized_today=0, market_open=True)


def test_fees_round_down_to_the_won_exactly():
    assert fee(1_000_000, 0.015) == 150
    assert fee(999_999, 0.015) == 149  # 149.99985 rounded down
    assert fee(700_000, 0.18) == 1_260
    assert fee(0, 0.015) == 0 and fee(100, 0.0) == 0
    assert FEES.buy_cost(700_000) == 700_105
    assert FEES.tax("buy", 700_000) == 0 and FEES.tax("sell", 700_000) == 1_260


def _refused(facts=FACTS, limits=Limits(), **changes) -> str:
    import msgspec

    with pytest.raises(OrderRefused) as info:
        check_order(msgspec.structs.replace(facts, **changes), limits, FEES)
    return info.value.code


def test_each_rule_names_itself():
    assert _refused(quantity=0) == "invalid_quantity"
    assert _refused(price=70_050) == "off_tick"
    assert _refused(price=91_100) == "outside_price_limits"
    assert _refused(market_open=False) == "market_closed"
    assert _refused(limits=Limits(halted=True)) == "account_halted"
    assert _refused(limits=Limits(max_order_value=699_999)) == "max_order_value"
    assert _refused(held_value=300_000, limits=Limits(max_position_value=999_999)) == "max_position_value"
    assert _refused(realized_today=-5_000, limits=Limits(daily_loss_limit=5_000)) == "daily_loss_limit"
    assert _refused(cash=700_104) == "insufficient_cash"  # the commission counts
    assert _refused(side="sell", held=9) == "insufficient_holdings"


def test_within_every_limit_passes_and_sells_ignore_the_loss_limit():
    check_order(FACTS, Limits(max_order_value=700_000, max_position_value=700_000), FEES)
    import msgspec

    sell = msgspec.structs.replace(FACTS, side="sell", held=10, realized_today=-10**9)
    check_order(sell, Limits(daily_loss_limit=1), FEES)
