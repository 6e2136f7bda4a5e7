"""Whatever arrives on the socket, the parser either returns records or raises FrameError."""

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brokers.kis.errors import FrameError
from engine.brokers.kis.frames import parse_quotes, parse_ticks, split_frame
from tests.engine.brokers.kis.layouts import QUOTE_62, TRADE_46

_field = st.one_of(st.sampled_from(["", "0", "-1", "005930", "20250613", "123929", "x", "1.5"]), st.text(max_size=8))


def _parse(raw: str) -> None:
    try:
        f = split_frame(raw)
        if f.tr_id == "H0STASP0":
            parse_quotes(f.data, f.count, 0)
        else:
            parse_ticks(f.data, f.count)
    except FrameError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(raw):
    _parse(raw)


@settings(max_examples=300, deadline=None)
@given(
    tr_id=st.sampled_from(["H0STCNT0", "H0STASP0"]),
    count=st.integers(min_value=0, max_value=5),
    n_records=st.integers(min_value=0, max_value=4),
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=300), _field), max_size=6),
    drop=st.integers(min_value=0, max_value=3),
)
def test_mutated_documented_frames(tr_id, count, n_records, edits, drop):
    base = TRADE_46 if tr_id == "H0STCNT0" else QUOTE_62
    fields = list(base) * n_records
    for i, value in edits:
        if fields:
            fields[i % len(fields)] = value
    if drop and fields:
        fields = fields[:-drop]
    raw = f"0|{tr_id}|{count:03d}|" + "^".join(fields)
    try:
        f = split_frame(raw)
        out = parse_quotes(f.data, f.count, 0) if tr_id == "H0STASP0" else parse_ticks(f.data, f.count)
    except FrameError:
        return
    assert len(out) == count  # a frame parses only whole, with exactly `count` records
