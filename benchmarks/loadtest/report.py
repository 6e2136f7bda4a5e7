"""Figures from a run's raw samples, as a table for people and JSON for tools.

Rates are per second of the measuring window: messages delivered are counted by
the clients inside the window; trades ingested are the feeds' own counters
(``/admin/actors``) between two scrapes, over the time between the scrapes; CPU
is the server's user+system time over the window's wall time (100 % = one core).
Per-feed memory is (RSS with the feeds up − RSS before any feed) / N.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from typing import Any

from benchmarks.loadtest.clients import percentile_us


def machine() -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {"cores": os.cpu_count(), "python": platform.python_version(), "loop": loop,
            "platform": platform.platform()}


def _merge(workers: list[dict[str, Any]], roles: set[str]) -> dict[str, Any]:
    hist: dict[int, int] = {}
    out = {"clients": 0, "messages": 0, "messages_total": 0, "closed_by_server": 0, "max_us": 0.0,
           "close_codes": {}}
    for w in workers:
        for role, r in w["roles"].items():
            if role not in roles:
                continue
            for key in ("clients", "messages", "messages_total", "closed_by_server"):
                out[key] += r[key]
            out["max_us"] = max(out["max_us"], r["max_us"])
            for code, n in r["close_codes"].items():
                out["close_codes"][code] = out["close_codes"].get(code, 0) + n
            for b, n in r["hist"].items():
                hist[int(b)] = hist.get(int(b), 0) + n
    out["p50_ms"] = percentile_us(hist, 0.50) / 1000
    out["p99_ms"] = percentile_us(hist, 0.99) / 1000
    out["max_ms"] = out.pop("max_us") / 1000
    return out


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    sc = raw["scenario"]
    window = raw["window_s"]
    workers = raw["workers"]
    delivered = _merge(workers, {"main", "coverage"})
    out: dict[str, Any] = {
        "machine": machine(),
        "scenario": sc,
        "clients": raw["clients_ready"],
        "clients_planned": raw["clients_planned"],
        "client_errors": raw["client_errors"],
        "connect_s": round(raw["connect_s"], 2),
        "offered_trades_per_s": sc["codes"] * sc["rate"],
        "delivered_per_s": delivered["messages"] / window,
        "latency_ms": {k: delivered[k] for k in ("p50_ms", "p99_ms", "max_ms")},
        "roles": {role: _merge(workers, {role}) for role in ("main", "coverage", "slow")
                  if any(role in w["roles"] for w in workers)},
        "client_cpu_pct": 100 * sum(w["cpu_s"] for w in workers) / window,
    }
    if raw.get("swings"):
        out["swings"] = raw["swings"]
    m = raw.get("metrics")
    if m:
        m0, m1 = m
        span = raw["metrics_wall_s"]
        out["ingested_per_s"] = (m1["trades"] - m0["trades"]) / span if span > 0 else float("nan")
        out["scrape_late_s"] = raw.get("scrape_late_s")
        out["feeds"] = m1["feeds"]
        out["conflated"] = m1["conflated"] - m0["conflated"]
        out["rejected"] = m1["rejected"] - m0["rejected"]
        out["feed_drops"] = m1["feed_drops"] - m0["feed_drops"]
        out["loop_lag_ms"] = {"p99": 1000 * m1["lag_p99_s"], "max": 1000 * m1["lag_max_s"]}
    if raw.get("gc"):
        out["gc"] = raw["gc"]
    proc = raw["proc"]
    if "start" in proc and "end" in proc:
        out["server_cpu_pct"] = 100 * (proc["end"]["cpu_s"] - proc["start"]["cpu_s"]) / raw["cpu_wall_s"]
        cpu_s = proc["end"]["cpu_s"] - proc["start"]["cpu_s"]
        nats = raw.get("nats_proc")
        if nats:  # a cluster run: the NATS server's work is part of the cost
            out["nats_cpu_pct"] = 100 * (nats["end"]["cpu_s"] - nats["start"]["cpu_s"]) / raw["cpu_wall_s"]
            cpu_s += nats["end"]["cpu_s"] - nats["start"]["cpu_s"]
        if delivered["messages"]:
            out["cpu_us_per_delivered"] = 1e6 * cpu_s * (window / raw["cpu_wall_s"]) / delivered["messages"]
        out["nodes"] = raw.get("nodes", 1)
        out["server_rss_mb"] = proc["end"]["rss_kb"] / 1024
        out["server_peak_rss_mb"] = proc["end"]["hwm_kb"] / 1024
    if "idle" in proc and "feeds_up" in proc and sc["codes"]:
        n = out.get("feeds") or sc["codes"]
        out["feed_kb_at_start"] = (proc["feeds_up"]["rss_kb"] - proc["idle"]["rss_kb"]) / n
        if "end" in proc:
            out["feed_kb_at_end"] = (proc["end"]["rss_kb"] - proc["idle"]["rss_kb"]) / n
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(s: dict[str, Any]) -> str:
    sc = s["scenario"]
    rows = [
        ("machine", f"{s['machine']['cores']} cores, Python {s['machine']['python']}, {s['machine']['loop']} (client side)"),
        ("scenario", f"{sc['codes']} codes x {sc['rate']:g} trades/s, {sc['clients']} clients x {sc['per_client']} codes"
                     f" (+{s['clients_planned'] - sc['clients'] - sc['slow_clients']} coverage, {sc['slow_clients']} slow),"
                     f" {sc['client_procs']} client procs, {sc['duration']:g} s"),
        ("clients connected", f"{s['clients']} / {s['clients_planned']} in {s['connect_s']} s"),
        ("offered trades/s", s["offered_trades_per_s"]),
        ("ingested trades/s", s.get("ingested_per_s", "-")),
        ("delivered msgs/s", s["delivered_per_s"]),
        ("latency p50 / p99 / max ms", " / ".join(_fmt(s["latency_ms"][k]) for k in ("p50_ms", "p99_ms", "max_ms"))),
    ]
    for role, r in s["roles"].items():
        rows.append((f"  {role} clients", f"{r['clients']}: {r['messages']:,} msgs, p99 {_fmt(r['p99_ms'])} ms,"
                                         f" closed by server {r['closed_by_server']} {r['close_codes'] or ''}"))
    for key, label in (("conflated", "conflated"), ("rejected", "rejected"), ("feed_drops", "feed drops"),
                       ("nodes", "server nodes"), ("server_cpu_pct", "server CPU % (all nodes)"),
                       ("nats_cpu_pct", "nats-server CPU %"), ("cpu_us_per_delivered", "server CPU us per delivered msg"),
                       ("client_cpu_pct", "client CPU % (all workers)"),
                       ("server_rss_mb", "server RSS MB"), ("server_peak_rss_mb", "server peak RSS MB"),
                       ("feed_kb_at_start", "KB per feed (feeds up)"), ("feed_kb_at_end", "KB per feed (end)")):
        if key in s:
            rows.append((label, s[key]))
    if "swings" in s:
        sw = s["swings"]
        rows.append(("swings", f"{sw['registered']} registered, {sw['holding']} holding, orders {sw['orders']}"))
    if "loop_lag_ms" in s:
        rows.append(("event-loop lag p99 / max ms (last 60 s)",
                     f"{_fmt(s['loop_lag_ms']['p99'])} / {_fmt(s['loop_lag_ms']['max'])}"))
    for gen, g in (s.get("gc") or {}).items():
        if gen == "census":
            if g:
                rows.append(("GC census (gen 2 tracked)", f"{g['tracked_gen2']:,}: "
                             + ", ".join(f"{t} {n:,}" for t, n in g["top_types"][:8])))
            continue
        rows.append((f"GC gen {gen} (whole run)", f"{g['count']:,.0f} collections, {g['total_ms']:,.0f} ms in all,"
                                                  f" largest {g['max_ms']:,.1f} ms"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{label.ljust(width)}  {_fmt(value)}" for label, value in rows)


def print_table(s: dict[str, Any]) -> None:
    print(table(s), file=sys.stdout, flush=True)
