"""`autotrader kis-sim` plumbing: flags, the printed settings, serving on a free port."""

import argparse
import asyncio

import aiohttp

from engine.brokers.kis.simulator import add_arguments, config_from_args, serve, settings_lines
from engine.settings import load_settings


def test_flags_become_the_config():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--codes", "005930", "000660", "--rate", "20", "--max-subscriptions", "5"])
    config = config_from_args(args)
    assert (config.codes, config.rate, config.max_subscriptions) == (("005930", "000660"), 20.0, 5)
    assert (config.trade_fields, config.quote_fields, config.rest_rate_per_s) == (46, 59, 20)  # as documented
    seen_live = config_from_args(parser.parse_args(["--trade-fields", "47", "--quote-fields", "62", "--paper",
                                                    "--app", "key1:secret1", "--state", "walk.json"]))
    assert (seen_live.trade_fields, seen_live.quote_fields) == (47, 62)
    assert seen_live.paper and seen_live.rest_rate_per_s == 2  # 모의투자: 2 REST calls a second
    assert seen_live.apps == (("key1", "secret1"),) and seen_live.state_file == "walk.json"


def test_printed_settings_load():
    env = dict(line.split("=", 1) for line in settings_lines("127.0.0.1", 9443, paper=True))
    settings = load_settings(env)
    assert settings.market_data == "kis" and settings.kis_paper
    assert settings.kis_paper_ws_url == "ws://127.0.0.1:9443"


async def test_serve_on_a_free_port():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve("127.0.0.1", 0, config_from_args(parser.parse_args([])), lambda h, p: bound.set_result(p)))
    try:
        port = await asyncio.wait_for(bound, 5)
        async with aiohttp.ClientSession() as http:
            body = {"grant_type": "client_credentials", "appkey": "a", "secretkey": "b"}
            async with http.post(f"http://127.0.0.1:{port}/oauth2/Approval", json=body) as r:
                assert r.status == 200
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
