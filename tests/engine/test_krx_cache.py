"""The KRX session table's cache file: what it gives back is exactly a fresh build from
exchange_calendars; a file for another date or library version, or one that does not
decode, is rebuilt (and rewritten), never believed."""

from __future__ import annotations

import msgspec
import pytest

from engine.market import calendar_cache, krx

pytestmark = pytest.mark.timeout(120)  # one real build of the library's calendar (seconds of CPU)


@pytest.fixture(scope="module")
def fresh() -> dict[int, tuple[int, int]]:
    table, _range = krx._build_library_table()
    return table


def _load() -> dict[int, tuple[int, int]]:
    """What a new process would get from its cache file (the per-process memo bypassed)."""
    return krx._library_table.__wrapped__()


def _key() -> str:
    return krx._cache_key(calendar_cache.default_range(krx.dt.date.today()))


@pytest.fixture
def cache_file(tmp_path, monkeypatch):
    path = tmp_path / "xkrx-sessions.json"
    monkeypatch.setattr(krx, "_cache_file", path)
    return path


def test_the_cached_table_is_a_fresh_build(cache_file, fresh):
    assert _load() == fresh  # no file yet: built, then written
    assert cache_file.exists()
    assert calendar_cache.read(cache_file, _key()) == fresh  # read back, not rebuilt
    assert _load() == fresh
    assert krx._library_table() == fresh  # and the process's own table is the same one


def test_a_stale_key_is_rebuilt(cache_file, fresh):
    some_day = min(fresh)
    stale = calendar_cache.CachedTable("another date or library version", [(some_day, 1, 2)])
    cache_file.write_bytes(msgspec.json.encode(stale))
    assert calendar_cache.read(cache_file, _key()) is None
    assert _load() == fresh  # not the stale file's one-day table
    assert calendar_cache.read(cache_file, _key()) == fresh  # rewritten with the current key


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"key": 3, "days": []}', b"\x00\xff" * 40])
def test_a_corrupt_file_is_rebuilt(cache_file, fresh, content):
    cache_file.write_bytes(content)
    assert _load() == fresh
    assert calendar_cache.read(cache_file, _key()) == fresh


def test_the_key_follows_the_overrides_and_the_date(monkeypatch):
    key = _key()
    day = next(iter(krx.SESSION_OVERRIDES))
    monkeypatch.setitem(krx.SESSION_OVERRIDES, day, (("09:00", "15:30"), "changed"))
    assert _key() != key
    monkeypatch.undo()
    assert _key() == key
    tomorrow = krx.dt.date.today() + krx.dt.timedelta(days=1)
    assert krx._cache_key(calendar_cache.default_range(tomorrow)) != key  # the library's range moves a day


def test_the_range_is_the_librarys(fresh):
    """The key of a read (today's range, computed here) is the key the build writes (the range the
    library used), so the file written today is the one read today."""
    _table, built = krx._build_library_table()
    assert built == calendar_cache.default_range(krx.dt.date.today())
    import pandas as pd

    for day in ("2024-02-29", "2026-12-01", "2027-01-01", "2028-02-29"):  # as the library computes it
        now = pd.Timestamp(day)
        want = ((now - pd.DateOffset(years=20)).date(), (now + pd.DateOffset(years=1)).date())
        assert calendar_cache.default_range(now.date()) == want


def test_an_unwritable_place_costs_a_build_not_an_error(tmp_path, monkeypatch, fresh):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(krx, "_cache_file", blocker / "xkrx-sessions.json")  # its parent is a file
    assert _load() == fresh
