"""An order event is one of the names the socket documents: every producer is held to them."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from actors.cluster_accounts import _Event
from actors.session_hub import OrderEvent
from actors.wire import ORDER_EVENTS, OrderOut, OrderView, fill_event

ORDER = OrderView(order_id="1", account_id=1, client_order_id="c-1", stock_code="005930", order_type="buy",
                  quantity=10, price=None, status="filled", filled_quantity=10, average_price=70_000, reason="")
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_event_names_are_the_ones_the_readme_documents():
    row = next(line for line in README.splitlines() if line.startswith("| `order` |"))
    documented = re.search(r"event \(([a-z_/]+)\)", row).group(1).split("/")
    assert documented == list(ORDER_EVENTS)
    assert set(ORDER_EVENTS) == {"accepted", "partially_filled", "filled", "modified", "cancelled", "expired",
                                 "rejected"}


@pytest.mark.parametrize("event", ORDER_EVENTS)
def test_every_named_event_is_made_and_sent_as_is(event):
    assert msgspec.json.decode(msgspec.json.encode(OrderOut(OrderEvent(event, ORDER).event, ORDER)))["event"] == event


@pytest.mark.parametrize("name", ["pending", "unknown", "fill", "Filled", ""])
def test_a_name_outside_the_list_is_refused_where_it_is_made(name):
    with pytest.raises(ValueError, match="not an order event"):
        OrderEvent(name, ORDER)  # type: ignore[arg-type]


def test_a_fill_announces_the_status_it_left():
    assert [fill_event(s) for s in ("partially_filled", "filled", "cancelled", "expired")] == [
        "partially_filled", "filled", "cancelled", "expired"]  # a late fill of a final order keeps its word
    for status in ("pending", "unknown", "accepted", "rejected"):
        with pytest.raises(ValueError):
            fill_event(status)


def test_a_peer_nodes_unknown_event_is_refused_on_decode():
    good = msgspec.json.encode(_Event("b", 7, "filled", ORDER))
    assert msgspec.json.decode(good, type=_Event).event == "filled"
    bad = good.replace(b'"filled"', b'"pending"', 1)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(bad, type=_Event)
