"""The cache file of the KRX session table (``engine.market.krx``'s library table).

Building the table costs every process (server, test worker, subprocess server) seconds of
CPU, almost all of it exchange_calendars computing Korean lunar holidays since 1956. The
table is a pure function of the libraries' versions, ``SESSION_OVERRIDES`` and its range of
days (the library's default: 20 years back to one year ahead of the local date), so it is kept
in one small JSON file keyed by exactly those: the first process of a day builds it, the others
read it in milliseconds. A file with another key, or one that does not decode, is rebuilt and
rewritten. Written atomically (a temporary file renamed over it), so concurrent processes never
read half a file. The I/O runs where the build would: inside ``krx.load_calendar``, which async
code calls from an executor. The location is the user's cache dir, or
``AUTOTRADER_CALENDAR_CACHE_DIR``; never the repository or ``../shared``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["FILE_NAME", "default_path", "default_range", "cache_key", "read", "write"]

log = logging.getLogger(__name__)

FORMAT = 1  # of the file: a change of it makes every old file stale
FILE_NAME = "xkrx-sessions.json"

def default_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """exchange_calendars' default range on ``today``: 20 years back to one year ahead (a 29 February
    becomes the 28th, as pandas' DateOffset does)."""
    def years(n: int) -> dt.date:
        try:
            return today.replace(year=today.year + n)
        except ValueError:
            return today.replace(year=today.year + n, day=28)

    return years(-20), years(1)


class CachedTable(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    days: list[tuple[int, int, int]]  # (KST day number, open_ms, close_ms), ascending


def default_path() -> Path:
    """``$XDG_CACHE_HOME/autotrader/xkrx-sessions.json`` (``~/.cache/...`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autotrader" / FILE_NAME


def cache_key(days: tuple[dt.date, dt.date], overrides: dict[dt.date, Any]) -> str:
    """What the table depends on, hashed: the libraries' versions, the range, the overrides."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("exchange_calendars", "korean_lunar_calendar", "pandas"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = ""
    corrections = sorted((d.isoformat(), repr(v)) for d, v in overrides.items())
    text = repr((FORMAT, sorted(versions.items()), [d.isoformat() for d in days], corrections))
    return hashlib.sha256(text.encode()).hexdigest()


def read(path: Path, key: str) -> dict[int, tuple[int, int]] | None:
    """The table in ``path`` if it is there, decodes and has ``key``; else None (rebuild)."""
    try:
        cached = msgspec.json.decode(path.read_bytes(), type=CachedTable)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError) as exc:
        log.warning("calendar cache %s unreadable, rebuilding: %s", path, exc)
        return None
    if cached.key != key or not cached.days:
        log.info("calendar cache %s is for another date or library version: rebuilding", path)
        return None
    return {n: (o, c) for n, o, c in cached.days}


def write(path: Path, key: str, table: dict[int, tuple[int, int]]) -> None:
    """``table`` into ``path`` under ``key``, atomically; a failure is logged, never raised."""
    days = [(n, *table[n]) for n in sorted(table)]
    data = msgspec.json.encode(CachedTable(key, days))  # type: ignore[arg-type]
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp",
                                         delete=False) as f:
            tmp = Path(f.name)
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home costs the next process a build, nothing more
        log.warning("calendar cache %s not written: %s", path, exc)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
