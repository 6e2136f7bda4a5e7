"""python-kis (pinned, from PyPI) drives the simulator as its users drive KIS (issue 12).

Its users point it elsewhere by replacing the module's domain constants (``pykis.kis.
REAL_DOMAIN``, ``pykis.client.websocket.WEBSOCKET_REAL_DOMAIN``). It is synchronous
(requests, websocket-client threads), so the calls run in a thread while the
simulator serves on this loop; events are awaited through a thread-safe queue.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import date

import pytest

from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.krx import price_limits
from tests.engine.brokers.kis.helpers import SessionClock, running_simulator

pykis = pytest.importorskip("pykis")
pykis_kis = pytest.importorskip("pykis.kis")
pykis_websocket = pytest.importorskip("pykis.client.websocket")

# python-kis's event tickets unsubscribe in __del__, asking for an approval key: one collected
# after a test (its patches undone) would call KIS's real domain. Outside a test its domains are
# a closed port of this machine, so no call ever leaves 127.0.0.1.
for _module, _name, _url in ((pykis_kis, "REAL_DOMAIN", "http://127.0.0.1:9"),
                             (pykis_kis, "VIRTUAL_DOMAIN", "http://127.0.0.1:9"),
                             (pykis_websocket, "WEBSOCKET_REAL_DOMAIN", "ws://127.0.0.1:9"),
                             (pykis_websocket, "WEBSOCKET_VIRTUAL_DOMAIN", "ws://127.0.0.1:9")):
    setattr(_module, _name, _url)

pytestmark = pytest.mark.timeout(90)
KEY, SECRET = "P" + "k" * 35, "s" * 180  # python-kis checks KIS's lengths (36 / 180)
ACCOUNT, HTS_ID = "5012345601", "htsuser1"


@pytest.fixture
async def kis(monkeypatch):
    config = SimulatorConfig(rest_rate_per_s=1000, rate=20.0, apps=((KEY, SECRET),))
    async with running_simulator(config, SessionClock()) as s:
        monkeypatch.setattr(pykis_kis, "REAL_DOMAIN", s.url)
        monkeypatch.setattr(pykis_websocket, "WEBSOCKET_REAL_DOMAIN", s.url.replace("http://", "ws://"))
        s.sim.orders.open_account(ACCOUNT, cash=50_000_000, app_key=KEY, hts_id=HTS_ID,
                                  holdings={f"{100 + i:06d}": (i + 1, 10_000) for i in range(55)})
        client = await asyncio.to_thread(pykis.PyKis, id=HTS_ID, account="50123456-01", appkey=KEY,
                                         secretkey=SECRET, keep_token=False)
        try:
            yield s, client
        finally:
            s.sim.orders.release()
            await asyncio.to_thread(client.websocket.disconnect)


async def test_python_kis_rest_calls(kis):
    s, client = kis
    stock = await asyncio.to_thread(client.stock, "005930")  # it asks KIS (search-info) at once
    assert str(await asyncio.to_thread(lambda: client.token)).startswith("Bearer")
    quote = await asyncio.to_thread(stock.quote)  # search-info for its market, then the 82-field output
    state = s.sim.market.state("005930")
    assert (quote.price, quote.market) == (state.price, "KRX")
    assert (int(quote.low_limit), int(quote.high_limit)) == price_limits(state.prev_close)
    days = await asyncio.to_thread(stock.chart, "30d")
    assert days.bars and all(b.time.date() < date(2100, 1, 1) for b in days.bars)
    assert int(days.bars[-1].close) == state.price or s.sim.market.today_bar("005930") is None
    minutes = await asyncio.to_thread(stock.day_chart)  # its first page asks FID_INPUT_HOUR_1=000000
    assert minutes.bars and len(minutes.bars) == len(s.sim.market.minute_bars("005930", state.day))
    balance = await asyncio.to_thread(client.account().balance, "KR")  # 55 holdings: two pages of 50
    assert len(balance.stocks) == 55 and int(balance.deposits["KRW"].amount) == 50_000_000
    assert s.sim.token_issuances[KEY] == 1


async def test_python_kis_orders(kis):
    s, client = kis
    stock = await asyncio.to_thread(client.stock, "005930")  # it asks KIS (search-info) at once
    market_buy = await asyncio.to_thread(stock.buy, qty=2)  # TTTC0012U, ORD_DVSN 01
    low, _ = price_limits(s.sim.market.state("005930").prev_close)
    limit_buy = await asyncio.to_thread(stock.buy, price=low, qty=1)  # rests far below the market
    market_sell = await asyncio.to_thread(stock.sell, qty=1)
    placed = {o.odno: o for o in s.sim.orders.orders}
    assert {market_buy.number, limit_buy.number, market_sell.number} <= set(placed)
    assert placed[limit_buy.number].price == low and placed[limit_buy.number].open
    assert placed[market_buy.number].filled == 2
    today = s.sim.orders.now().date()
    daily = await asyncio.to_thread(client.account().daily_orders, start=today, country="KR")  # daily-ccld
    by_number = {o.order_number.number: o for o in daily.orders}
    assert {market_buy.number, limit_buy.number, market_sell.number} <= set(by_number)
    assert int(by_number[market_buy.number].executed_qty) == 2 and int(by_number[limit_buy.number].executed_qty) == 0

    pending = await asyncio.to_thread(client.account().pending_orders, "KR")  # inquire-psbl-rvsecncl
    assert [o.order_number.number for o in pending.orders] == [limit_buy.number]
    await asyncio.to_thread(limit_buy.cancel)  # order-rvsecncl, RVSE_CNCL_DVSN_CD 02
    assert placed[limit_buy.number].cancelled == 1 and not placed[limit_buy.number].open
    assert s.sim.orders.orders[-1].is_cancel and s.sim.orders.orders[-1].orgn == limit_buy.number
    assert (await asyncio.to_thread(client.account().pending_orders, "KR")).orders == []


async def test_python_kis_orderable_amount(kis):
    s, client = kis
    stock = await asyncio.to_thread(client.stock, "005930")
    price = s.sim.market.state("005930").price
    amount = await asyncio.to_thread(stock.orderable_amount, price=price)  # inquire-psbl-order
    assert int(amount.amount) == 50_000_000  # nothing bought yet: all of 예수금 can buy
    assert int(amount.qty) == 50_000_000 // price  # the simulator charges no fee on buying power
    await asyncio.to_thread(stock.buy, price=price_limits(s.sim.market.state("005930").prev_close)[0], qty=10)
    left = await asyncio.to_thread(stock.orderable_amount, price=price)
    low = price_limits(s.sim.market.state("005930").prev_close)[0]
    assert int(left.amount) == 50_000_000 - 10 * low  # a resting buy holds its cash


async def test_python_kis_realtime_trades_and_books(kis):
    s, client = kis
    stock = await asyncio.to_thread(client.stock, "005930")  # it asks KIS (search-info) at once
    loop = asyncio.get_running_loop()
    seen: asyncio.Queue = asyncio.Queue()

    def hear(kind):
        return lambda _client, event: loop.call_soon_threadsafe(seen.put_nowait, (kind, event.response))

    tickets = await asyncio.to_thread(lambda: [stock.on("price", hear("price")),
                                               stock.on("orderbook", hear("book"))])
    kinds: dict = {}
    async with asyncio.timeout(20):
        while len(kinds) < 2:
            kind, response = await seen.get()
            kinds[kind] = response
    assert kinds["price"].symbol == "005930" and int(kinds["price"].price) > 0
    assert len(kinds["book"].asks) == 10 and int(kinds["book"].asks[0].price) > int(kinds["book"].bids[0].price)
    for ticket in tickets:
        await asyncio.to_thread(ticket.unsubscribe)


@pytest.mark.xfail(reason="python-kis 2.1.6 parses H0STCNI0 with the old 23-field layout; KIS sends 26 "
                          "(Soju06/python-kis issue #68: 'Invalid data length: 26'). The client's bug.",
                   raises=TimeoutError, strict=True)
async def test_python_kis_fill_notices(kis):
    s, client = kis
    loop = asyncio.get_running_loop()
    heard = threading.Event()
    arrived: asyncio.Future = loop.create_future()

    def on_execution(_client, event):
        heard.set()
        loop.call_soon_threadsafe(lambda: arrived.done() or arrived.set_result(event.response))

    ticket = await asyncio.to_thread(client.account().on, "execution", on_execution)
    await asyncio.sleep(0)  # let the subscription go out before the order
    await asyncio.to_thread(lambda: client.stock("005930").buy(qty=1))
    try:
        async with asyncio.timeout(8):
            notice = await arrived
    finally:
        await asyncio.to_thread(ticket.unsubscribe)
    assert notice.symbol == "005930"
