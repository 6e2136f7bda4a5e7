"""A bad setting stops the start with one line naming the variable (range and meaning too);
an unknown AUTOTRADER_* name is a warning naming the closest known one."""

from __future__ import annotations

import pytest

from engine.settings import SettingsError, load_settings, unknown_names
from web.cli import main


@pytest.mark.parametrize("name, value", [
    ("AUTOTRADER_BCRYPT_COST", "2"),
    ("AUTOTRADER_BCRYPT_COST", "40"),
    ("AUTOTRADER_LOG_LEVEL", "LOUD"),
    ("AUTOTRADER_JWT_LIFETIME_S", "0"),
    ("AUTOTRADER_JWT_LIFETIME_S", "-5"),
    ("AUTOTRADER_WS_MAX_QUEUE", "0"),
    ("AUTOTRADER_ASK_TIMEOUT_S", "0"),
    ("AUTOTRADER_LOGIN_MAX_FAILURES", "0"),
    ("AUTOTRADER_MAX_BODY_BYTES", "10"),
])
def test_a_bad_value_stops_serve_with_one_line_naming_it(monkeypatch, capsys, tmp_path, name, value):
    monkeypatch.setenv("AUTOTRADER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:  # db upgrade: had the value passed, it would end anyway
        main(["serve", "--port", "0"] if name == "AUTOTRADER_BCRYPT_COST" else ["db", "upgrade"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "Traceback" not in err[0]
    assert not list(tmp_path.iterdir())  # stopped before anything was created


def test_every_checked_range_names_a_setting():
    from engine.settings import _RANGES, Settings

    assert {field for field, _, _ in _RANGES} <= set(Settings.__struct_fields__)


def test_a_port_out_of_range_names_the_variable():
    with pytest.raises(SettingsError, match="AUTOTRADER_PORT=70000: must be from 0 to 65535"):
        load_settings({"AUTOTRADER_PORT": "70000"})


def test_replay_without_a_csv_names_the_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("AUTOTRADER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTOTRADER_MARKET_DATA", "replay")
    with pytest.raises(SystemExit):
        main(["serve", "--port", "0"])
    assert "AUTOTRADER_REPLAY_CSV is required" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="AUTOTRADER_REPLAY_CSV='/nowhere.csv': no such file"):
        load_settings({"AUTOTRADER_MARKET_DATA": "replay", "AUTOTRADER_REPLAY_CSV": "/nowhere.csv"})


def test_an_unknown_name_warns_with_the_closest_known_one(monkeypatch, capsys):
    warnings = unknown_names({"AUTOTRADER_BCRYPT_COSTS": "10", "AUTOTRADER_PORT": "1", "HOME": "/"})
    assert warnings == ["AUTOTRADER_BCRYPT_COSTS is not a setting and is ignored; did you mean AUTOTRADER_BCRYPT_COST?"]
    monkeypatch.setenv("AUTOTRADER_JWT_LIFETIME", "60")
    monkeypatch.setenv("AUTOTRADER_PORT", "eighty")  # then stop at once, having warned
    with pytest.raises(SystemExit):
        main(["db", "upgrade"])
    assert "did you mean AUTOTRADER_JWT_LIFETIME_S?" in capsys.readouterr().err
