"""Helpers for every test package: where the shared market data lives, and the test databases' server
and data key (``conftest`` builds its fixtures on them; test modules import them from here).

The CSV files are not in the repository: they sit in ``../shared/data`` next to
the repository root (found from this file, whatever the working folder), or
wherever ``AUTOTRADER_TEST_DATA`` points.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pandas as pd
import pymysql
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from engine.market.csv_bars import load_csv
from engine.strategy.backtest import backtest
from engine.strategy.swing import SwingParams

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AUTOTRADER_TEST_DATA") or ROOT.parent / "shared" / "data")


def data_file(name: str) -> Path:
    """A file of the shared data; a clear error when the folder is not where expected."""
    path = DATA / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: put the shared data in {ROOT.parent / 'shared' / 'data'} "
                                "or set AUTOTRADER_TEST_DATA to its folder")
    return path


def cli_run(name: str, start: str | None = None):
    """What `autotrader backtest --csv ../shared/data/NAME [--start]` computes, with its defaults."""
    df = load_csv(data_file(name))
    if start:
        df = df[df.index >= pd.Timestamp(start, tz="UTC")]
    return backtest(df, SwingParams(stock_code=df.attrs.get("code", "000000"), unit_amount=5_000_000,
                                    bar_size="1D", repeat=True))


MARIADB_SERVER_URL = os.environ.get("AUTOTRADER_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306")
TEST_DATA_KEY = Fernet.generate_key().decode("ascii")  # per run: nothing real is ever encrypted under it


class MariaDB:
    """Creates and drops test databases on the shared server, with sync pymysql."""

    def __init__(self, server_url: str) -> None:
        self.url = make_url(server_url)

    def _connect(self) -> pymysql.connections.Connection:
        try:
            return pymysql.connect(
                host=self.url.host or "127.0.0.1",
                port=self.url.port or 3306,
                user=self.url.username or "root",
                password=self.url.password or "",
                connect_timeout=5,
            )
        except pymysql.err.OperationalError as error:
            reason = str(error)
        pytest.fail(
            f"MariaDB leg: cannot reach {self.url.render_as_string(hide_password=True)} ({reason}). "
            "Start MariaDB (.ci/run does) or set AUTOTRADER_TEST_MARIADB_URL; this leg never skips.",
            pytrace=False,
        )

    def create(self) -> str:
        name = f"autotrader_test_{secrets.token_hex(6)}"
        with self._connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self._connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
