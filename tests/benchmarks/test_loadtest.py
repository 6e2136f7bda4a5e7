"""A tiny real load run: its own server subprocess, 2 clients, 2 seconds.

Checks the report's shape and that trades reached the clients; never a timing.
"""

from __future__ import annotations

import argparse

import pytest

from benchmarks import loadtest
from benchmarks.loadtest.clients import bucket, percentile_us
from benchmarks.loadtest.report import summarize, table
from benchmarks.loadtest.scenario import Scenario, plan_clients, run_scenario
from benchmarks.loadtest.server import check_loopback


def test_only_loopback_urls_are_accepted() -> None:
    assert check_loopback("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_loopback("http://localhost:1") == "http://localhost:1"
    for url in ("http://10.0.0.1:8080", "http://example.com", "ftp://127.0.0.1"):
        with pytest.raises(ValueError):
            check_loopback(url)


def test_every_code_gets_a_subscriber() -> None:
    sc = Scenario(codes=25, clients=2, per_client=3, slow_clients=1, rate=10.0)
    plans = plan_clients(sc, ["t1", "t2"], chunk=7)
    covered = {c for p in plans for c in p.codes}
    assert len(covered) == 25
    assert [p.role for p in plans].count("coverage") == 3  # 19 codes left, 7 a client
    slow = [p for p in plans if p.role == "slow"]
    assert slow[0].codes == plans[0].codes and slow[0].read_per_s == pytest.approx(0.3)


def test_histogram_percentiles_within_one_percent() -> None:
    hist: dict[int, int] = {}
    for us in range(1, 1001):
        hist[bucket(float(us))] = hist.get(bucket(float(us)), 0) + 1
    assert percentile_us(hist, 0.5) == pytest.approx(500, rel=0.02)
    assert percentile_us(hist, 0.99) == pytest.approx(990, rel=0.02)


def test_the_command_refuses_other_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    loadtest.add_arguments(parser)
    assert loadtest.run(parser.parse_args(["--url", "http://192.0.2.1:80"])) == 2
    assert "only http(s) on 127.0.0.1" in capsys.readouterr().err


@pytest.mark.timeout(60)
async def test_a_small_run_delivers_trades_and_reports_them() -> None:
    sc = Scenario(codes=5, rate=10.0, clients=2, per_client=2, duration=2.0, warmup=0.5,
                  client_procs=2, progress=False)
    summary = summarize(await run_scenario(sc))
    assert summary["clients"] == 3 == summary["clients_planned"]  # 2 main + 1 coverage for the last code
    assert summary["feeds"] == 5
    assert summary["roles"]["main"]["messages"] > 0 and summary["roles"]["coverage"]["messages"] > 0
    assert summary["delivered_per_s"] > 0 and summary["ingested_per_s"] > 0
    lat = summary["latency_ms"]
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"] * 1.01
    for key in ("conflated", "rejected", "feed_drops", "server_cpu_pct", "server_peak_rss_mb",
                "feed_kb_at_start", "loop_lag_ms"):
        assert key in summary
    assert "delivered msgs/s" in table(summary)


@pytest.mark.timeout(120)
async def test_a_small_cluster_run_spreads_clients_over_the_nodes() -> None:
    # client k watches codes 3k..3k+2 (mod 6); clients 0 and 2 (and 1 and 3) land on different nodes, so
    # every code is watched on two nodes and one of them gets it over NATS from the other's upstream
    sc = Scenario(codes=6, rate=10.0, clients=4, per_client=3, duration=2.0, warmup=1.0, client_procs=3,
                  progress=False, nodes=3)
    summary = summarize(await run_scenario(sc))
    assert summary["nodes"] == 3 and summary["clients"] == 4
    offered = sc.clients * sc.per_client * sc.rate  # every client gets every trade of its codes
    assert summary["delivered_per_s"] >= 0.75 * offered  # followers' clients too: the NATS hop delivers
    assert summary["cpu_us_per_delivered"] > 0 and "nats_cpu_pct" in summary
    assert "server CPU us per delivered msg" in table(summary)
