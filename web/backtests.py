"""``GET /backtests/data``, ``POST /backtests``, ``GET /backtests/{id}``: the swing backtest over HTTP.

The dashboard's backtest page: pick a bundled data file (the folder
``AUTOTRADER_BACKTEST_DATA_DIR``, by default ``../shared/data`` beside the
repository) or upload a CSV in the body, set the parameters (every one has the
CLI's default), and poll the job for its progress and then its report. The run
is web/backtest_jobs.py's, off the event loop. One running job per user; a job
is visible to its owner only.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import msgspec
from aiohttp import web

from engine.market.tax import MARKETS
from engine.strategy.backtest import DEFAULT_CASH, DEFAULT_COMMISSION_PCT, DEFAULT_TAX_PCT, DEFAULT_UNIT_AMOUNT
from engine.strategy.swing import SwingParams, SwingParamsError
from web.auth import require_user
from web.backtest_jobs import BACKTEST_JOBS, BacktestReport, Job, Spec, header_format, jobs_ctx
from web.bodies import read, respond
from web.errors import ConflictError, Invalid, NotFoundError
from web.keys import SETTINGS
from web.openapi import route
from web.params import parse_id

_D = msgspec.to_builtins(SwingParams(stock_code="000000", unit_amount=1))
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_UPLOAD_CHARS = 8_000_000  # the body limit (AUTOTRADER_MAX_BODY_BYTES) usually binds first


class BacktestRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_file: str | None = None  # a name from GET /backtests/data
    csv: str | None = None  # or the CSV's text (any format of GET /backtests/data)
    stock_code: str | None = None  # default: from the file
    start: str | None = None  # YYYY-MM-DD, first bar's date
    end: str | None = None  # YYYY-MM-DD, last bar's date
    short_term: int = _D["short_term"]
    medium_term: int = _D["medium_term"]
    long_term: int = _D["long_term"]
    rsi_threshold: float = _D["rsi_threshold"]
    adx_threshold: float = _D["adx_threshold"]
    obv_threshold: float = _D["obv_threshold"]
    unit_amount: int = DEFAULT_UNIT_AMOUNT
    stop_loss_pct: float | None = None
    repeat: bool = True
    cash: int = DEFAULT_CASH
    commission_pct: float = DEFAULT_COMMISSION_PCT
    tax_pct: float | None = DEFAULT_TAX_PCT  # a flat sell tax; null: the KRX schedule by date and market
    market: str = "KOSPI"  # the code's market, for the transaction tax


class DataFile(msgspec.Struct, frozen=True):
    name: str
    format: str  # krx_daily | krx_1m | yf_daily | ...
    bytes: int


class DataFiles(msgspec.Struct, frozen=True):
    files: list[DataFile]
    folder: str  # where they are read from ("" when no folder is found)


class BacktestJobView(msgspec.Struct, frozen=True):
    backtest_id: int
    status: str  # running | done | failed
    progress: float  # percent
    source: str  # the data file's name, or upload.csv
    started_at: str
    error: str | None = None
    fields: dict[str, str] = {}
    report: BacktestReport | None = None


def data_dir(request: web.Request) -> Path | None:
    configured = request.app[SETTINGS].backtest_data_dir
    folder = Path(configured) if configured else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return folder if folder.is_dir() else None


def _list(folder: Path | None) -> list[DataFile]:
    out: list[DataFile] = []
    for path in sorted(folder.glob("*.csv")) if folder is not None else ():
        try:
            with path.open(encoding="utf-8") as fh:
                fmt = header_format(fh.readline())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        out.append(DataFile(path.name, fmt, path.stat().st_size))
    return out


async def data_files(request: web.Request) -> web.Response:
    require_user(request)
    folder = data_dir(request)
    files = await asyncio.get_running_loop().run_in_executor(None, _list, folder)
    return respond(DataFiles(files, str(folder) if folder is not None else ""))


def _view(job: Job) -> BacktestJobView:
    return BacktestJobView(job.id, job.status, round(job.progress, 1), job.source, job.started, job.error,
                           job.fields, job.report)


async def start(request: web.Request) -> web.Response:
    user_id = require_user(request)
    body = await read(request, BacktestRequest)
    fields: dict[str, str] = {}
    path: Path | None = None
    if (body.data_file is None) == (body.csv is None):
        fields["data_file"] = "name one bundled data file, or send the CSV text in csv"
    elif body.data_file is not None:
        folder = data_dir(request)
        names = {f.name for f in await asyncio.get_running_loop().run_in_executor(None, _list, folder)}
        if folder is None or body.data_file not in names:
            fields["data_file"] = "not one of GET /backtests/data"
        else:
            path = folder / body.data_file
    else:
        assert body.csv is not None
        if len(body.csv) > MAX_UPLOAD_CHARS:
            fields["csv"] = f"at most {MAX_UPLOAD_CHARS} characters"
        else:
            try:
                header_format(body.csv)
            except ValueError as exc:
                fields["csv"] = str(exc)
    for name in ("start", "end"):
        value = getattr(body, name)
        if value is not None and not _DATE.fullmatch(value):
            fields[name] = "expected YYYY-MM-DD"
    if body.cash <= 0:
        fields["cash"] = "must be a positive amount of KRW"
    if not 0 <= body.commission_pct < 100:
        fields["commission_pct"] = "a percent from 0 to 100"
    if body.tax_pct is not None and not 0 <= body.tax_pct < 100:
        fields["tax_pct"] = "a percent from 0 to 100"
    if body.market not in MARKETS:
        fields["market"] = f"one of {', '.join(MARKETS)}"
    params = {k: getattr(body, k) for k in ("short_term", "medium_term", "long_term", "rsi_threshold",
                                             "adx_threshold", "obv_threshold", "unit_amount", "stop_loss_pct",
                                             "repeat")}
    try:
        SwingParams(stock_code=body.stock_code or "000000", bar_size="1D", **params).validate()
    except SwingParamsError as exc:
        fields.update(exc.fields)
    if fields:
        raise Invalid("invalid backtest", fields=fields)
    jobs = request.app[BACKTEST_JOBS]
    running = jobs.running_for(user_id)
    if running is not None:
        raise ConflictError(f"backtest {running.id} is still running", code="backtest_running")
    spec = Spec(path=str(path) if path is not None else None, text=body.csv, code=body.stock_code,
                start=body.start, end=body.end, params=params, cash=body.cash,
                commission_pct=body.commission_pct, tax_pct=body.tax_pct, market=body.market)
    return respond(_view(jobs.start(user_id, spec)), status=202)


async def one(request: web.Request) -> web.Response:
    user_id = require_user(request)
    job_id = parse_id(request.match_info["backtest_id"])  # ASCII digits only: int() takes ٠٥ too
    if job_id is None:
        raise NotFoundError("no such backtest")
    job = request.app[BACKTEST_JOBS].get(user_id, job_id)
    if job is None:
        raise NotFoundError("no such backtest")
    return respond(_view(job))


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(jobs_ctx)
    route(app, "GET", "/backtests/data", data_files, summary="the bundled CSV files a backtest can run over",
          tag="backtest", responses={200: DataFiles})
    route(app, "POST", "/backtests", start, tag="backtest", request=BacktestRequest,
          summary="start a swing backtest off the event loop (202; poll GET /backtests/{id})",
          responses={202: BacktestJobView}, errors=(409,))
    route(app, "GET", "/backtests/{backtest_id}", one, summary="a backtest's progress, then its report",
          tag="backtest", responses={200: BacktestJobView}, errors=(404,))

