"""The H0STCNT0 / H0STASP0 parser on hand-written frames from the documented layouts."""

import pytest

from engine.brokers.kis.errors import FrameError
from engine.brokers.kis.frames import (
    date_midnight_ms,
    kst_midnight_ms,
    parse_quotes,
    parse_ticks,
    split_frame,
)
from engine.market.messages import Tick
from tests.engine.brokers.kis.layouts import (
    ASK_QTY,
    ASKS,
    BID_QTY,
    BIDS,
    QUOTE_59,
    QUOTE_62,
    TRADE_46,
    TRADE_TS_MS,
    frame,
)

MIDNIGHT_20250613 = date_midnight_ms("20250613")


def _ticks(raw: str) -> list[Tick]:
    f = split_frame(raw)
    return parse_ticks(f.data, f.count, seen_ns=1)


def test_documented_trade_record_maps_by_index():
    [tick] = _ticks(frame("H0STCNT0", [TRADE_46]))
    assert tick == Tick(
        code="005930", ts_ms=TRADE_TS_MS, price=73100, volume=17, cum_volume=8123456,
        change=-19500, ask=73200, bid=73100, seen_ns=1,
    )


def test_seen_ns_defaults_to_now():
    f = split_frame(frame("H0STCNT0", [TRADE_46]))
    assert parse_ticks(f.data, f.count)[0].seen_ns > 1_700_000_000 * 10**9


def test_47_field_records_with_a_trailing_field_parse_the_same():
    rec47 = TRADE_46 + ["7"]
    assert _ticks(frame("H0STCNT0", [rec47])) == _ticks(frame("H0STCNT0", [TRADE_46]))


def test_multi_record_frame_keeps_every_record_in_order():
    recs = []
    for i in range(4):
        r = list(TRADE_46) + ["0"]
        r[1] = f"12393{i}"
        r[2] = str(73100 + 100 * i)
        r[12] = str(i + 1)
        recs.append(r)
    ticks = _ticks(frame("H0STCNT0", recs))
    assert [t.price for t in ticks] == [73100, 73200, 73300, 73400]
    assert [t.volume for t in ticks] == [1, 2, 3, 4]
    assert [t.ts_ms - TRADE_TS_MS for t in ticks] == [1000, 2000, 3000, 4000]


def test_the_official_docstring_example_header():
    f = split_frame("0|H0STCNT0|004|005930^123929^73100^5")
    assert (f.encrypted, f.tr_id, f.count, f.data) == (False, "H0STCNT0", 4, "005930^123929^73100^5")


def test_empty_fields_are_kept_in_position():
    rec = list(TRADE_46)
    rec[44] = ""
    rec[45] = ""
    assert _ticks(frame("H0STCNT0", [rec]))[0].price == 73100


@pytest.mark.parametrize("fields", [QUOTE_59, QUOTE_62])
def test_documented_quote_record(fields):
    f = split_frame(frame("H0STASP0", [fields]))
    [q] = parse_quotes(f.data, f.count, MIDNIGHT_20250613, seen_ns=5)
    assert q.code == "005930"
    assert q.ts_ms == MIDNIGHT_20250613 + (9 * 3600 + 30 * 60 + 1) * 1000
    assert q.asks == tuple(ASKS) and q.bids == tuple(BIDS)
    assert q.ask_qty == tuple(ASK_QTY) and q.bid_qty == tuple(BID_QTY)
    assert (q.total_ask_qty, q.total_bid_qty) == (sum(ASK_QTY), sum(BID_QTY))
    assert q.seen_ns == 5


def test_two_62_field_quotes_in_one_frame():
    second = list(QUOTE_62)
    second[0] = "000660"
    f = split_frame(frame("H0STASP0", [QUOTE_62, second]))
    quotes = parse_quotes(f.data, f.count, MIDNIGHT_20250613)
    assert [q.code for q in quotes] == ["005930", "000660"]


def test_kst_midnight():
    # 2025-06-13 00:30 KST is 2025-06-12 15:30 UTC: still June 13 in Korea
    assert kst_midnight_ms(MIDNIGHT_20250613 + 30 * 60_000) == MIDNIGHT_20250613
    assert kst_midnight_ms(MIDNIGHT_20250613 - 1) == MIDNIGHT_20250613 - 86_400_000


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "{}",
        "0|H0STCNT0|001",
        "2|H0STCNT0|001|x",
        "0|H0STCNT0|abc|x",
        "0|H0STCNT0|000|x",
        "0|H0STCNT0|-01|x",
    ],
)
def test_malformed_envelopes(raw):
    with pytest.raises(FrameError):
        split_frame(raw)


def _bad_trade(mutate) -> str:
    rec = list(TRADE_46)
    mutate(rec)
    return frame("H0STCNT0", [rec])


@pytest.mark.parametrize(
    "raw",
    [
        frame("H0STCNT0", [TRADE_46[:45]]),  # fewer fields than documented
        "0|H0STCNT0|002|" + "^".join(TRADE_46 + TRADE_46[:-1]),  # 91 fields, 2 records
        "0|H0STCNT0|003|" + "^".join(TRADE_46 * 2),  # count larger than the data
        _bad_trade(lambda r: r.__setitem__(2, "73,100")),
        _bad_trade(lambda r: r.__setitem__(2, "")),
        _bad_trade(lambda r: r.__setitem__(1, "1239")),
        _bad_trade(lambda r: r.__setitem__(1, "-12392")),
        _bad_trade(lambda r: r.__setitem__(33, "2025-06-13")),
        _bad_trade(lambda r: r.__setitem__(33, "20251340")),
    ],
)
def test_malformed_trade_records(raw):
    f = split_frame(raw)
    with pytest.raises(FrameError):
        parse_ticks(f.data, f.count)


@pytest.mark.parametrize(
    "fields",
    [QUOTE_59[:58], [*QUOTE_59[:5], "x", *QUOTE_59[6:]], [QUOTE_59[0], "9:30", *QUOTE_59[2:]]],
)
def test_malformed_quote_records(fields):
    f = split_frame(frame("H0STASP0", [fields]))
    with pytest.raises(FrameError):
        parse_quotes(f.data, f.count, MIDNIGHT_20250613)
