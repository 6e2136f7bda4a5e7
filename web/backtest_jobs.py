"""Backtest jobs for the dashboard: the CLI's backtest, run on a worker thread with progress.

A job is started by ``POST /backtests`` and read back by ``GET /backtests/{id}``
(see web/backtests.py). The work — reading the CSV, the indicators and the
bar-by-bar pass of engine/strategy/backtest.py — runs on a small thread pool,
never on the event loop; its progress is handed to the loop with
``call_soon_threadsafe``, so the :class:`Job` objects are only ever touched by
the loop. Jobs live in memory, newest ``KEEP`` of them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from aiohttp import web

from engine.market.krx import KST
from engine.market.csv_bars import detect_format, infer_bar_size, load_csv
from engine.risk import fee as _fee
from engine.strategy.backtest import Metrics, Trade, backtest
from engine.strategy.swing import SwingParams, indicator_arrays

log = logging.getLogger(__name__)

KEEP = 50  # finished jobs kept per application
WORKERS = 2


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """One entry per bar; times are UTC epoch seconds of the bar's start."""

    time: list[int]
    open: list[int]
    high: list[int]
    low: list[int]
    close: list[int]
    volume: list[int]
    ema_short: list[float | None]
    ema_medium: list[float | None]
    ema_long: list[float | None]
    equity: list[int]
    buy_and_hold: list[int]  # the buy-and-hold position marked at each close (the metric also pays its sale)
    drawdown_pct: list[float]  # equity below its running peak


class BacktestReport(msgspec.Struct, frozen=True, kw_only=True):
    parameters: dict[str, Any]
    metrics: Metrics
    trades: list[Trade]
    series: Series


class Job:
    __slots__ = ("id", "user_id", "status", "progress", "error", "fields", "report", "started", "source", "done")

    def __init__(self, job_id: int, user_id: int, source: str) -> None:
        self.id, self.user_id, self.source = job_id, user_id, source
        self.status = "running"  # running | done | failed
        self.progress = 0.0  # percent
        self.error: str | None = None
        self.fields: dict[str, str] = {}
        self.report: BacktestReport | None = None
        self.started = datetime.now(KST).isoformat(timespec="seconds")
        self.done = asyncio.Event()  # set when the job is done or failed


class Spec(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker needs: the file (a path or the uploaded text) and the parameters."""

    path: str | None
    text: str | None
    code: str | None
    start: str | None
    end: str | None
    params: dict[str, Any]  # SwingParams fields but stock_code and bar_size (from the file)
    cash: int
    commission_pct: float
    tax_pct: float | None
    market: str


class BacktestJobs:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self.jobs: OrderedDict[int, Job] = OrderedDict()
        self._ids = itertools.count(1)
        self._futures: set[asyncio.Future[BacktestReport]] = set()

    def running_for(self, user_id: int) -> Job | None:
        return next((j for j in self.jobs.values() if j.user_id == user_id and j.status == "running"), None)

    def get(self, user_id: int, job_id: int) -> Job | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.user_id == user_id else None

    def start(self, user_id: int, spec: Spec) -> Job:
        loop = asyncio.get_running_loop()
        job = Job(next(self._ids), user_id, Path(spec.path).name if spec.path else "upload.csv")
        self.jobs[job.id] = job
        self._trim()

        def set_progress(pct: float) -> None:
            if job.status == "running":
                job.progress = max(job.progress, pct)

        def report(pct: float) -> None:  # called on the worker thread
            loop.call_soon_threadsafe(set_progress, pct)

        future = loop.run_in_executor(self.executor, run, spec, report)
        self._futures.add(future)
        future.add_done_callback(lambda f: self._finish(job, f))
        return job

    def _finish(self, job: Job, future: asyncio.Future[BacktestReport]) -> None:
        self._futures.discard(future)
        try:
            self._settle(job, future)
        finally:
            job.done.set()

    def _settle(self, job: Job, future: asyncio.Future[BacktestReport]) -> None:
        if future.cancelled():
            job.status, job.error = "failed", "cancelled: the server is stopping"
            return
        exc = future.exception()
        if exc is None:
            job.status, job.progress, job.report = "done", 100.0, future.result()
        elif isinstance(exc, (ValueError, OSError)):  # bad file or parameters: the user's to fix
            job.status, job.error = "failed", str(exc)
            job.fields = dict(getattr(exc, "fields", {}) or {})
        else:
            log.error("backtest job %d failed", job.id, exc_info=exc)
            job.status, job.error = "failed", "internal error"

    def _trim(self) -> None:
        done = [j for j in self.jobs.values() if j.status != "running"]
        for job in done[: max(0, len(self.jobs) - KEEP)]:
            del self.jobs[job.id]

    def close(self) -> None:
        for future in list(self._futures):
            future.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)


BACKTEST_JOBS = web.AppKey("backtest_jobs", BacktestJobs)


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    jobs = app[BACKTEST_JOBS] = BacktestJobs(ThreadPoolExecutor(WORKERS, thread_name_prefix="backtest"))
    try:
        yield
    finally:
        jobs.close()


def header_format(text: str) -> str:
    """The format of an uploaded CSV from its header line (ValueError if none fits)."""
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip()
    return detect_format([c.strip() for c in first.split(",")])


# -- on the worker thread -----------------------------------------------------------


def run(spec: Spec, report: Callable[[float], None]) -> BacktestReport:
    report(1.0)
    df = _load(spec)
    if spec.start:
        df = df[df.index >= pd.Timestamp(spec.start, tz="UTC")]
    if spec.end:
        df = df[df.index < pd.Timestamp(spec.end, tz="UTC") + pd.Timedelta(days=1)]
    if len(df) < 2:
        raise ValueError("fewer than two bars between start and end")
    report(5.0)
    code = spec.code or str(df.attrs.get("code") or "000000")
    params = SwingParams(stock_code=code, bar_size=infer_bar_size(df), **spec.params).validate()
    result = backtest(df, params, cash=spec.cash, commission_pct=spec.commission_pct, tax_pct=spec.tax_pct,
                      market=spec.market, progress=lambda done, total: report(5.0 + 90.0 * done / total))
    report(96.0)
    return BacktestReport(parameters=result.parameters, metrics=result.metrics, trades=result.trades,
                          series=_series(df, params, result.equity, spec.cash, spec.commission_pct))


def _load(spec: Spec) -> pd.DataFrame:
    if spec.path is not None:
        return load_csv(spec.path)
    with tempfile.TemporaryDirectory(prefix="autotrader-backtest-") as folder:  # load_csv reads a path twice
        path = Path(folder) / "upload.csv"
        path.write_text(spec.text or "", encoding="utf-8")
        return load_csv(path)


def _series(df: pd.DataFrame, params: SwingParams, equity: list[Any], cash: int, commission_pct: float) -> Series:
    o, h, lo, c, v = (np.rint(df[k].to_numpy(np.float64)).astype(np.int64)
                      for k in ("open", "high", "low", "close", "volume"))
    arrays = indicator_arrays(params, h, lo, c, v)
    curve = np.array([p.equity for p in equity], dtype=np.float64)
    peak = np.maximum.accumulate(curve)
    first = int(o[0])
    shares = int(cash // (first * (1 + commission_pct / 100))) if first > 0 else 0
    while shares > 0 and shares * first + _fee(shares * first, commission_pct) > cash:
        shares -= 1
    left = cash - shares * first - _fee(shares * first, commission_pct)
    seconds = (df.index.as_unit("s").asi8).tolist()

    def floats(a: np.ndarray) -> list[float | None]:
        return [None if math.isnan(x) else round(x, 4) for x in a.tolist()]

    return Series(
        time=seconds, open=o.tolist(), high=h.tolist(), low=lo.tolist(), close=c.tolist(), volume=v.tolist(),
        ema_short=floats(arrays["ema_short"]), ema_medium=floats(arrays["ema_medium"]),
        ema_long=floats(arrays["ema_long"]), equity=[p.equity for p in equity],
        buy_and_hold=(left + shares * c).tolist(),
        drawdown_pct=np.round(100 * (1 - curve / peak), 4).tolist(),
    )
