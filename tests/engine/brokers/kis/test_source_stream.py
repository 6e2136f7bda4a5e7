"""KisMarketData against the simulator over real sockets: live data, faults, the cap."""

import pytest

from engine.brokers.kis.errors import KisSubscriptionError
from engine.brokers.kis.simulator import SimulatorConfig
from engine.brokers.kis.source import KisMarketData
from engine.runtime.clock import WallClock
from engine.settings import Settings
from tests.engine.brokers.kis.helpers import QueueSink


def _settings(s, **over) -> Settings:
    base = dict(
        market_data="kis", kis_rest_url=s.url, kis_ws_url=s.ws_url, kis_app_key="app1",
        kis_app_secret="sec1", kis_reconnect_base_s=0.01, kis_reconnect_max_s=0.05,
        kis_pingpong_timeout_s=5.0, kis_timeout_s=5.0,
    )
    base.update(over)
    return Settings(**base)


@pytest.fixture
def sink():
    return QueueSink()


async def test_subscribe_receives_ticks_and_quotes_including_batches(start_simulator, sink):
    async with start_simulator(SimulatorConfig(rate=200.0, batch_prob=0.5)) as s:
        source = KisMarketData(_settings(s), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            await source.subscribe("quote", "005930")
            await source.subscribe("trade", "005930")  # idempotent
            assert s.sim.subscriptions("app1") == {("H0STCNT0", "005930"), ("H0STASP0", "005930")}
            tick = await sink.tick_of("005930")
            assert tick.price > 0 and tick.ask >= tick.bid and tick.seen_ns > 0
            quote = await sink.quotes.get()
            assert len(quote.asks) == 10 and quote.asks[0] > quote.bids[0]
            stream = source.streams[0]
            while stream.records <= stream.frames:  # a multi-record frame has been parsed
                await sink.ticks.get()
            await source.unsubscribe("trade", "005930")
            assert s.sim.subscriptions("app1") == {("H0STASP0", "005930")}
            assert s.sim.token_issuances["app1"] == 0  # streaming needs no access token
        finally:
            await source.stop()


async def test_drop_reconnects_resubscribes_with_a_new_approval_key(start_simulator, sink):
    async with start_simulator(SimulatorConfig(rate=100.0)) as s:
        source = KisMarketData(_settings(s), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            await sink.tick_of("005930")
            s.sim.forget_approvals()  # KIS restarted: old approval keys are gone
            await s.sim.drop_all()
            detail = await sink.status("reconnecting")
            assert source.streams[0].name in detail
            await sink.status("live")
            sink.drain()
            await sink.tick_of("005930")
            assert s.sim.subscriptions("app1") == {("H0STCNT0", "005930")}
        finally:
            await source.stop()


async def test_garbage_frames_are_counted_not_fatal(start_simulator, sink):
    async with start_simulator(SimulatorConfig(rate=100.0)) as s:
        source = KisMarketData(_settings(s), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            await sink.tick_of("005930")
            await s.sim.send_garbage()
            await s.sim.send_garbage("{not json")
            await s.sim.send_garbage("1|H0STCNT0|001|AAAA")  # encrypted without a key
            sink.drain()
            await sink.tick_of("005930")
            await sink.tick_of("005930")
            assert source.streams[0].bad_frames == 3
            assert source.streams[0].live
        finally:
            await source.stop()


async def test_stalled_upstream_without_pingpong_is_dead(start_simulator, sink):
    config = SimulatorConfig(rate=100.0, pingpong_interval_s=0.02, pingpong_timeout_s=5.0)
    async with start_simulator(config) as s:
        source = KisMarketData(_settings(s, kis_pingpong_timeout_s=0.3), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            await sink.tick_of("005930")
            s.sim.stalled = True
            detail = await sink.status("reconnecting")
            assert "PINGPONG" in detail
            s.sim.stalled = False
            await sink.status("live")
            sink.drain()
            await sink.tick_of("005930")
            assert source.streams[0].missed_pingpongs == 1
        finally:
            await source.stop()


async def test_pingpong_is_echoed_so_the_server_keeps_the_session(start_simulator, sink):
    config = SimulatorConfig(rate=50.0, pingpong_interval_s=0.01, pingpong_timeout_s=0.05)
    async with start_simulator(config) as s:
        source = KisMarketData(_settings(s), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            stream = source.streams[0]
            while stream.pingpongs < 20:  # many PINGPONG rounds, each far past the timeout
                await sink.tick_of("005930")
            assert stream.reconnects == 0 and sink.statuses.empty()
        finally:
            await source.stop()


async def test_subscription_cap_spreads_over_app_keys_then_refuses(start_simulator, sink):
    async with start_simulator(SimulatorConfig(rate=1.0)) as s:
        settings = _settings(s, kis_app_key="k1,k2", kis_app_secret="s1,s2", kis_max_subscriptions=2)
        source = KisMarketData(settings, WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            for code in ("000001", "000002", "000003", "000004"):
                await source.subscribe("trade", code)
            assert len(s.sim.subscriptions("k1")) == 2 and len(s.sim.subscriptions("k2")) == 2
            with pytest.raises(KisSubscriptionError, match="add app keys"):
                await source.subscribe("trade", "000005")
        finally:
            await source.stop()


async def test_server_side_cap_refusal_is_a_typed_error(start_simulator, sink):
    async with start_simulator(SimulatorConfig(rate=1.0, max_subscriptions=1)) as s:
        source = KisMarketData(_settings(s), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            with pytest.raises(KisSubscriptionError, match="OPSP0008"):
                await source.subscribe("quote", "005930")
            assert source.streams[0].wanted == {("H0STCNT0", "005930"): None}
        finally:
            await source.stop()


async def test_second_process_on_the_same_app_key_is_refused_then_retries(start_simulator, sink):
    async with start_simulator(SimulatorConfig(rate=20.0)) as s:
        first = KisMarketData(_settings(s), WallClock())
        second_sink = QueueSink()
        second = KisMarketData(_settings(s), WallClock())
        await first.start(sink)
        try:
            await sink.status("live")
            await first.subscribe("trade", "005930")  # binds the app key's session
            await second.start(second_sink)
            await second_sink.status("live")  # connected, no session bound yet
            await second.subscribe("trade", "000660")  # OPSP8996: kept, retried on reconnect
            assert await second_sink.status("reconnecting")
            while second.streams[0].reconnects < 3:
                await sink.tick_of("005930")
            await first.stop()
            await second_sink.status("live")
            await second_sink.tick_of("000660")
        finally:
            await first.stop()
            await second.stop()


async def test_reconnect_resubscribes_paced_with_a_fresh_approval_key(start_simulator, sink):
    rate = 20.0
    async with start_simulator(SimulatorConfig(rate=50.0)) as s:
        source = KisMarketData(_settings(s, kis_resubscribe_per_s=rate), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            codes = [f"00{n}930" for n in range(5, 9)]
            for code in codes:
                await source.subscribe("trade", code)
                await source.subscribe("quote", code)
            assert source.streams[0].auth.approvals == 1
            await s.sim.drop_all()  # KIS restarts its processes; the old approval key still "works"
            await sink.status("reconnecting")
            await sink.status("live")
            (session,) = [x for x in s.sim.all_sessions if not x.ws.closed]
            assert len(session.subscribe_times) == 8 and len(s.sim.subscriptions("app1")) == 8
            gaps = [b - a for a, b in zip(session.subscribe_times, session.subscribe_times[1:], strict=False)]
            assert min(gaps) >= 0.9 / rate  # never a burst: one message per 1/rate s
            assert source.streams[0].auth.approvals == 2  # a new approval key for the new session
        finally:
            await source.stop()


@pytest.mark.parametrize("venue, trade, quote, market", [
    ("KRX", "H0STCNT0", "H0STASP0", "J"), ("NXT", "H0NXCNT0", "H0NXASP0", "NX"), ("UN", "H0UNCNT0", "H0UNASP0", "UN")])
async def test_the_venue_picks_the_realtime_trs(start_simulator, sink, venue, trade, quote, market):
    async with start_simulator(SimulatorConfig(rate=100.0)) as s:
        source = KisMarketData(_settings(s, kis_venue=venue), WallClock())
        await source.start(sink)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            await source.subscribe("quote", "005930")
            assert s.sim.subscriptions("app1") == {(trade, "005930"), (quote, "005930")}
            assert (await sink.tick_of("005930")).price > 0
            assert (await sink.quotes.get()).code == "005930"
            assert await source.backfill("005930", "1D", 3)  # the charts of the same market
            assert set(s.sim.quote_markets) == {market}
        finally:
            await source.stop()
