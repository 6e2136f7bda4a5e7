"""Benchmark 8: restart recovery. A database as a SIGKILL leaves it — 1,000 live swings,
each with a transition in flight (its intent written; for half of them the order is
also journalled ``pending``, never sent) — then the real server is started on it.

    python -m benchmarks.recovery [--swings 1000] [--accounts 100] [--repeat 3] [--json]

Measured from process start: seconds until the server listens (open orders already
reconciled: that happens before it listens), and until every swing actor is live and
every in-flight transition is settled (no swing intent left, no order pending or
unknown). Checked after each run: no client order id journalled twice, no order
lost (every intent ends in exactly one journalled order). Baseline, same run: the
same server starting on an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec
from sqlalchemy import func, select

from engine.journal import NewOrder, fingerprint
from engine.settings import Settings
from engine.strategy.swing import SwingParams
from engine.swings import Intent
from storage import AccountRepo, Crypto, OrderRepo, SwingRepo, UserRepo, create_engine, create_session_factory
from storage import ensure_keys, upgrade
from storage.models import OrderRow
from storage.swing_models import SwingRow

PARAMS = {"unit_amount": 1_000_000, "bar_size": "1H", "short_term": 5, "medium_term": 20, "long_term": 60,
          "rsi_threshold": 30.0, "adx_threshold": 25.0, "obv_threshold": 1000.0, "stop_loss_pct": None,
          "repeat": False}


DATABASE: dict[str, str] = {}  # data dir -> database URL, when --mariadb


def settings_for(data: Path) -> Settings:
    return ensure_keys(Settings(data_dir=str(data), database_url=DATABASE.get(str(data), "")))


def env_for(data: Path) -> dict[str, str]:
    return {**os.environ, "AUTOTRADER_DATA_DIR": str(data), "AUTOTRADER_DATABASE_URL": DATABASE.get(str(data), ""), "AUTOTRADER_LOG_LEVEL": "WARNING",
            "AUTOTRADER_SIM_QUOTES_PER_S": "5", "AUTOTRADER_IGNORE_MARKET_HOURS": "true",
            "AUTOTRADER_MAX_POSITION_VALUE": "0", "AUTOTRADER_MAX_ORDER_VALUE": "0", "PYTHONUNBUFFERED": "1"}


async def seed(data: Path, swings: int, accounts: int) -> None:
    settings = settings_for(data)
    engine = create_engine(settings)
    await upgrade(engine)
    sessions = create_session_factory(engine)
    crypto = Crypto.from_settings(settings)
    now = int(time.time() * 1000)
    async with sessions.begin() as session:
        user = await UserRepo(session).create("recovery@example.com", "x")
        ids = []
        for a in range(accounts):
            acct = await AccountRepo(session, crypto).create(
                user.id, broker="paper", account_number=f"{10_000_000 + a:08d}-01", app_key=f"key-{a}",
                app_secret=f"secret-{a}", paper_initial_cash=10_000_000_000)
            ids.append(acct.id)
        for i in range(swings):
            account_id, code = ids[i % accounts], f"{i % 500 + 1:06d}"
            swing = await SwingRepo(session).create(user_id=user.id, account_id=account_id, stock_code=code,
                                                    params=SwingParams(**{**PARAMS, "stock_code": code, "account_id": account_id}),
                                                    status="active")
            client_order_id = f"swing-{swing.id}-1"
            intent = Intent(status="active", action="buy", quantity_rule="unit_amount", quantity=1, price=10_000,
                            signal_before=0, signal_after=1, trigger="first_stage_buy", reason="seeded",
                            bar_start_ms=now - 3_600_000, indicators={})
            await SwingRepo(session).save(swing.id, msgspec.structs.replace(
                swing.state(), order_seq=1, intent_order_id=client_order_id, intent=intent))
            if i % 2 == 0:  # journalled, never sent: the process died between the two
                await OrderRepo(session).create(NewOrder(
                    account_id=account_id, client_order_id=client_order_id,
                    fingerprint=fingerprint(code, "buy", 1, None), source=f"swing:{swing.id}", code=code,
                    side="buy", quantity=1, price=None, created_ms=now))
    await engine.dispose()


async def settled(data: Path) -> tuple[int, int]:
    """(swings with an intent, orders pending or unknown)."""
    engine = create_engine(settings_for(data))
    try:
        async with create_session_factory(engine)() as session:
            intents = await session.scalar(select(func.count()).select_from(SwingRow)
                                           .where(SwingRow.intent_order_id.is_not(None)))
            open_ = await session.scalar(select(func.count()).select_from(OrderRow)
                                         .where(OrderRow.status.in_(("pending", "unknown"))))
            return intents, open_
    finally:
        await engine.dispose()


async def integrity(data: Path, swings: int) -> None:
    engine = create_engine(settings_for(data))
    try:
        async with create_session_factory(engine)() as session:
            rows = (await session.execute(select(OrderRow.client_order_id))).scalars().all()
    finally:
        await engine.dispose()
    seeded = [r for r in rows if re.fullmatch(r"swing-\d+-1", r)]
    if len(seeded) != swings or len(set(seeded)) != swings:
        raise AssertionError(f"{len(seeded)} journalled for {swings} intents ({len(set(seeded))} distinct)")


async def start(data: Path) -> tuple[asyncio.subprocess.Process, str, float]:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", "0", env=env_for(data),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        if not line:
            raise RuntimeError("the server exited")
        if m := re.search(r"listening on (http://\S+)", line):
            return proc, m.group(1), time.perf_counter() - t0


async def stop(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def one_run(swings: int, accounts: int, empty: bool, mariadb: str) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="recovery-"))
    if mariadb:
        import pymysql
        from sqlalchemy.engine import make_url

        server = make_url(mariadb)
        name = f"autotrader_bench_{data.name.replace('-', '_')}"
        with pymysql.connect(host=server.host, port=server.port or 3306, user=server.username or "root",
                             password=server.password or "") as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        DATABASE[str(data)] = server.set(database=name).render_as_string(hide_password=False)
    try:
        if not empty:
            await seed(data, swings, accounts)
        else:
            await seed(data, 0, 1)
        proc, url, listening = await start(data)
        t0 = time.perf_counter() - listening
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/health") as resp:
                    assert resp.status == 200
            deadline = time.perf_counter() + 300
            while time.perf_counter() < deadline:
                intents, open_ = await settled(data)
                if intents == 0 and open_ == 0:
                    break
                await asyncio.sleep(0.2)  # a benchmark polls the database; tests never do
            else:
                raise AssertionError(f"not settled: {intents} intents, {open_} open orders")
            done = time.perf_counter() - t0
        finally:
            await stop(proc)
        if not empty:
            await integrity(data, swings)
        return {"listening_s": listening, "settled_s": done}
    finally:
        shutil.rmtree(data, ignore_errors=True)
        if mariadb:
            with pymysql.connect(host=server.host, port=server.port or 3306, user=server.username or "root",
                                 password=server.password or "") as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swings", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mariadb", default="", metavar="URL",
                        help="run on MariaDB (e.g. mysql+aiomysql://root@127.0.0.1:3306); a database per run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    async def runs() -> dict[str, list[dict[str, float]]]:
        out: dict[str, list[dict[str, float]]] = {"empty": [], "recovery": []}
        for _ in range(args.repeat):  # interleaved
            out["empty"].append(await one_run(args.swings, args.accounts, True, args.mariadb))
            out["recovery"].append(await one_run(args.swings, args.accounts, False, args.mariadb))
        return out

    result = asyncio.run(runs())
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("listening_s", "settled_s")}
           for k, v in result.items()}
    report = {"machine": {"python": platform.python_version(), "cores": os.cpu_count(),
                          "database": "mariadb" if args.mariadb else "sqlite"},
              "swings": args.swings, "accounts": args.accounts, "median": med,
              "ratio_listening": med["recovery"]["listening_s"] / med["empty"]["listening_s"]}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"machine: {report['machine']}  swings {args.swings}, accounts {args.accounts}")
        for k, v in med.items():
            print(f"{k:>9}: listening after {v['listening_s']:.2f} s, all settled after {v['settled_s']:.2f} s")
        print(f"ratio (listening, recovery / empty start): {report['ratio_listening']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
