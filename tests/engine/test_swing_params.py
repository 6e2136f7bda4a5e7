"""SwingParams validation, the way a request body meets it (``web.bodies.decode`` then
``validate``): each rule names its field."""

import msgspec
import pytest

from engine.strategy.swing import SwingParams, SwingParamsError
from web.bodies import decode
from web.errors import Invalid


def parse_swing_params(data: dict) -> SwingParams:
    return decode(msgspec.json.encode(data), SwingParams).validate()

OK = {"stock_code": "005930", "unit_amount": 1_000_000}


def test_defaults() -> None:
    p = parse_swing_params(OK)
    assert (p.short_term, p.medium_term, p.long_term) == (5, 20, 60)
    assert (p.rsi_threshold, p.adx_threshold, p.obv_threshold) == (30, 25, 1000)
    assert (p.bar_size, p.stop_loss_pct, p.repeat, p.account_id, p.warmup_bars) == ("1H", None, False, None, 180)


def test_the_specs_literal_body_names_both_missing_fields() -> None:
    body = {"short_term": 5, "medium_term": 20, "long_term": 60, "rsi_threshold": 30,
            "adx_threshold": 25, "obv_threshold": 1000}
    with pytest.raises(Invalid) as err:
        parse_swing_params(body)
    assert set(err.value.fields) == {"stock_code", "unit_amount"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stock_code": "5930"}, "stock_code"),
        ({"unit_amount": 0}, "unit_amount"),
        ({"short_term": 0}, "short_term"),
        ({"short_term": 20}, "medium_term"),
        ({"long_term": 20}, "long_term"),
        ({"long_term": 241}, "long_term"),
        ({"rsi_threshold": 0}, "rsi_threshold"),
        ({"rsi_threshold": 50}, "rsi_threshold"),
        ({"adx_threshold": 101}, "adx_threshold"),
        ({"adx_threshold": -1}, "adx_threshold"),
        ({"obv_threshold": -1}, "obv_threshold"),
        ({"bar_size": "2H"}, "bar_size"),
        ({"stop_loss_pct": 0}, "stop_loss_pct"),
        ({"stop_loss_pct": 100}, "stop_loss_pct"),
        ({"unit_amount": "lots"}, "unit_amount"),
        ({"repeat": "yes"}, "repeat"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_rule_names_its_field(change: dict, field: str) -> None:
    with pytest.raises((Invalid, SwingParamsError)) as err:
        parse_swing_params(OK | change)
    assert field in err.value.fields


def test_bounds_that_pass() -> None:
    p = parse_swing_params(OK | {"short_term": 1, "medium_term": 2, "long_term": 240, "rsi_threshold": 49.5,
                                 "adx_threshold": 0, "obv_threshold": 0, "bar_size": "1Min",
                                 "stop_loss_pct": 3.5, "repeat": True, "account_id": 7})
    assert p.long_term == 240 and p.account_id == 7
    assert SwingParams(stock_code="000660", unit_amount=1).validate().stock_code == "000660"
