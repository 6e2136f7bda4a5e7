"""The dashboard's backtest API: bundled files, a run off the event loop with progress, the report
equal to the CLI's (README figures) and to a hand computation, uploads, and every bad input named."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pandas as pd
import pytest

from engine.market.csv_bars import load_csv
from engine.strategy.backtest import backtest
from engine.strategy.swing import SwingParams
from tests.helpers import DATA, cli_run
from web.backtest_jobs import BACKTEST_JOBS

pytestmark = pytest.mark.timeout(60)


async def finished(client, headers, job_id):
    job = client.server.app[BACKTEST_JOBS].jobs[job_id]
    await asyncio.wait_for(job.done.wait(), 30)
    resp = await client.get(f"/backtests/{job_id}", headers=headers)
    assert resp.status == 200
    return await resp.json()


async def test_lists_the_bundled_files_with_their_format(client, make_user):
    _, headers = await make_user()
    body = await (await client.get("/backtests/data", headers=headers)).json()
    files = {f["name"]: f for f in body["files"]}
    assert files["krx_daily_005930.csv"]["format"] == "krx_daily"
    assert files["krx_1m_005930_2025-06-13.csv"]["format"] == "krx_1m"
    assert files["yf_daily_005930.KS.csv"]["format"] == "yf_daily"
    assert files["krx_daily_005930.csv"]["bytes"] == (DATA / "krx_daily_005930.csv").stat().st_size
    assert (await client.get("/backtests/data")).status == 401


async def test_a_daily_run_reports_what_the_cli_reports(client, make_user):
    _, headers = await make_user()
    resp = await client.post("/backtests", json={"data_file": "krx_daily_005930.csv", "start": "2015-01-01"},
                             headers=headers)
    assert resp.status == 202
    started = await resp.json()
    assert started["status"] == "running" and started["source"] == "krx_daily_005930.csv"
    job = await finished(client, headers, started["backtest_id"])
    assert job["status"] == "done" and job["progress"] == 100.0
    report = job["report"]
    m = report["metrics"]
    cli = cli_run("krx_daily_005930.csv", "2015-01-01")
    assert m == msgspec.to_builtins(cli.metrics)
    assert (m["bars"], m["trades"], m["sells"]) == (2211, 10, 5)
    first = report["trades"][0]
    # by hand: 123 shares at 40,450 = 4,975,350 KRW; commission 0.015 % rounded down = 746
    assert (first["side"], first["quantity"], first["price"], first["commission"]) == ("buy", 123, 40_450, 746)
    assert first["cash_after"] == 10_000_000 - 4_975_350 - 746
    s = report["series"]
    assert len(s["time"]) == len(s["close"]) == len(s["equity"]) == len(s["drawdown_pct"]) == 2211
    assert s["equity"][-1] == m["final_equity"] and max(s["drawdown_pct"]) == pytest.approx(m["max_drawdown_pct"], abs=1e-3)
    assert s["ema_long"][0] is None and s["ema_long"][-1] is not None
    # buy and hold by hand: as many shares as the cash buys at the first open, commission included
    o = s["open"][0]
    shares = 10_000_000 * 100_000 // (o * 100_015)
    left = 10_000_000 - shares * o - shares * o * 15 // 100_000
    assert s["buy_and_hold"][-1] == left + shares * s["close"][-1]
    assert pd.Timestamp(s["time"][0], unit="s", tz="UTC").date().isoformat() == "2015-01-02"


async def test_an_uploaded_csv_runs_as_the_file_would(client, make_user):
    _, headers = await make_user()
    text = (DATA / "krx_1m_005930_2025-06-13.csv").read_text()
    params = {"short_term": 3, "medium_term": 8, "long_term": 20, "rsi_threshold": 10, "adx_threshold": 0,
              "obv_threshold": 0, "unit_amount": 2_000_000}
    resp = await client.post("/backtests", json={"csv": text, **params}, headers=headers)
    assert resp.status == 202, await resp.text()
    job = await finished(client, headers, (await resp.json())["backtest_id"])
    assert job["status"] == "done" and job["source"] == "upload.csv"
    assert job["report"]["parameters"]["bar_size"] == "1Min"
    df = load_csv(DATA / "krx_1m_005930_2025-06-13.csv")
    direct = backtest(df, SwingParams(stock_code=df.attrs.get("code", "005930"), bar_size="1Min", repeat=True,
                                      **params))
    assert job["report"]["metrics"]["final_equity"] == direct.metrics.final_equity
    assert len(job["report"]["trades"]) == len(direct.trades)


async def test_bad_inputs_are_named(client, make_user):
    _, headers = await make_user()

    async def fields(body):
        resp = await client.post("/backtests", json=body, headers=headers)
        assert resp.status == 422, await resp.text()
        return (await resp.json())["error"]["fields"]

    assert "data_file" in await fields({})
    assert "data_file" in await fields({"data_file": "krx_daily_005930.csv", "csv": "date,open\n"})
    assert "data_file" in await fields({"data_file": "../../etc/passwd"})
    assert "csv" in await fields({"csv": "a,b,c\n1,2,3\n"})
    bad = await fields({"data_file": "krx_daily_005930.csv", "short_term": 20, "medium_term": 10,
                        "start": "2015/01/01", "cash": 0, "rsi_threshold": 60})
    assert {"medium_term", "start", "cash", "rsi_threshold"} <= set(bad)
    assert "nope" in await fields({"data_file": "krx_daily_005930.csv", "nope": 1})
    resp = await client.post("/backtests", json={"data_file": "krx_daily_005930.csv", "start": "2030-01-01"},
                             headers=headers)
    job = await finished(client, headers, (await resp.json())["backtest_id"])
    assert job["status"] == "failed" and "fewer than two bars" in job["error"]


async def test_one_running_job_per_user_and_jobs_are_private(client, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    jobs = client.server.app[BACKTEST_JOBS]
    gate = threading.Event()
    jobs.executor.shutdown()
    jobs.executor = ThreadPoolExecutor(1)
    blocker = jobs.executor.submit(gate.wait, 30)  # the only worker is busy: the job stays queued
    try:
        resp = await client.post("/backtests", json={"data_file": "krx_daily_005930.csv"}, headers=alice)
        assert resp.status == 202
        job_id = (await resp.json())["backtest_id"]
        again = await client.post("/backtests", json={"data_file": "krx_daily_000660.csv"}, headers=alice)
        assert again.status == 409 and (await again.json())["error"]["code"] == "backtest_running"
        assert (await client.get(f"/backtests/{job_id}", headers=bob)).status == 404
        assert (await client.get(f"/backtests/{job_id}", headers=alice)).status == 200
        assert (await client.get("/backtests/x", headers=alice)).status == 404
    finally:
        gate.set()
    blocker.result(10)
    assert (await finished(client, alice, job_id))["status"] == "done"


def test_progress_is_reported_in_order_up_to_the_last_bar():
    df = load_csv(DATA / "krx_daily_005930.csv")
    seen: list[tuple[int, int]] = []
    backtest(df, SwingParams(stock_code="005930", unit_amount=5_000_000, bar_size="1D"),
             progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, len(df)) and 95 <= len(seen) <= 101
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] >= len(df) * 0.98
