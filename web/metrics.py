"""``GET /metrics``: Prometheus text format, admin only, one registry per app.

Request counts and latencies are recorded by a middleware (labelled by the
route's template, never the raw path); everything else is read at scrape time
from the actor system, the feed router and the open sockets, so the hot paths
carry no metrics code at all.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from web.auth import require_admin
from web.keys import METRICS, ROUTER, SOURCE, SYSTEM, WEBSOCKETS
from web.loop_lag import EDGES, LOOP_LAG, LoopLag
from web.openapi import route


class Metrics:
    def __init__(self, app: web.Application) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("autotrader_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("autotrader_http_request_seconds", "HTTP request latency", ["route"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.registry.register(_EngineCollector(app))


class _EngineCollector(Collector):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        app = self.app
        if SYSTEM not in app:
            return
        rows = app[SYSTEM].snapshot()
        by_kind: Tally[str] = Tally(row["kind"] for row in rows if row["state"] != "faulted")
        actors = GaugeMetricFamily("autotrader_actors", "live actors by kind", labels=["kind"])
        for kind, n in sorted(by_kind.items()):
            actors.add_metric([kind], n)
        yield actors
        for name, key, doc, family in (
            ("autotrader_mailbox_depth", "mailbox_depth", "messages waiting, by actor kind", GaugeMetricFamily),
            ("autotrader_messages_handled", "handled", "messages handled, by actor kind", CounterMetricFamily),
            ("autotrader_mailbox_rejected", "rejected", "messages refused by full mailboxes", CounterMetricFamily),
            ("autotrader_mailbox_conflated", "conflated", "trades/quotes replaced by newer ones", CounterMetricFamily),
            ("autotrader_actor_restarts", "restarts", "actor restarts", CounterMetricFamily),
        ):
            metric = family(name, doc, labels=["kind"])
            totals: Tally[str] = Tally()
            for row in rows:
                totals[row["kind"]] += row[key]
            for kind, n in sorted(totals.items()):
                metric.add_metric([kind], n)
            yield metric
        yield GaugeMetricFamily("autotrader_actors_faulted", "actors stopped for good",
                                value=sum(1 for row in rows if row["state"] == "faulted"))
        router = app[ROUTER]
        yield GaugeMetricFamily("autotrader_feeds", "running market feeds", value=len(router.feeds))
        yield CounterMetricFamily("autotrader_feed_drops", "records a full feed mailbox refused",
                                  value=router.dropped)
        yield GaugeMetricFamily("autotrader_upstream_live", "1 when the market-data upstream is live",
                                value=1 if router.status == "live" else 0)
        yield GaugeMetricFamily("autotrader_websocket_clients", "open /kis_socket connections",
                                value=len(app[WEBSOCKETS]))
        if LOOP_LAG in app:
            lag = app[LOOP_LAG]
            yield _lag_family(lag)
            yield _lag_histogram(lag)
        upstream = app[SOURCE].counters()
        errors = CounterMetricFamily("autotrader_broker_errors", "upstream broker errors", labels=["kind"])
        for kind in ("reconnects", "bad_frames", "missed_pingpongs"):
            errors.add_metric([kind], getattr(upstream, kind))  # a Struct field by name, not a probe
        yield errors
        orders = GaugeMetricFamily("autotrader_orders", "orders seen by account actors, by status",
                                   labels=["status"])
        statuses: Tally[str] = Tally()
        for row in rows:
            for status, n in (row.get("details") or {}).get("orders_by_status", {}).items():
                statuses[status] += n
        for status, n in sorted(statuses.items()):
            orders.add_metric([status], n)
        yield orders


def _lag_family(lag: LoopLag) -> GaugeMetricFamily:
    family = GaugeMetricFamily("autotrader_event_loop_lag_seconds",
                               "how late a 100 ms timer fires (recent p99 and max; worst since start)",
                               labels=["stat"])
    family.add_metric(["p99"], lag.recent_p99())
    family.add_metric(["max"], lag.recent_max())
    family.add_metric(["worst"], lag.worst)
    return family


def _lag_histogram(lag: LoopLag) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for edge, n in zip((*map(repr, EDGES), "+Inf"), lag.counts, strict=True):
        cumulative += n
        buckets.append((edge, cumulative))
    return HistogramMetricFamily("autotrader_event_loop_delay_seconds",
                                 "how late each 100 ms timer fired, since start", buckets=buckets,
                                 sum_value=lag.total_s)


@web.middleware
async def measure(request: web.Request, handler):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics = request.app[METRICS]
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - start)


async def scrape(request: web.Request) -> web.Response:
    await require_admin(request)
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def setup(app: web.Application) -> None:
    app[METRICS] = Metrics(app)
    app.middlewares.insert(0, measure)
    route(app, "GET", "/metrics", scrape, summary="Prometheus metrics (admin)", tag="admin",
          responses={200: None}, errors=(403,))
