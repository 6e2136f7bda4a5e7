"""The embedded default's keys file: generated once with mode 0600, reused, overridden by settings."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.fernet import Fernet

from engine.settings import Settings
from storage.crypto import Crypto
from storage.errors import KeyConfigError
from storage.keys import ensure_keys


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generated_on_first_start_with_0600_and_reused(tmp_path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))
    first = ensure_keys(settings)
    keys_file = tmp_path / "data" / "keys.json"
    assert _mode(keys_file) == 0o600
    assert first.jwt_secret and first.data_keys and first.hash_key
    assert len({first.jwt_secret, first.data_keys, first.hash_key}) == 3
    Crypto.from_settings(first)  # usable as they are

    again = ensure_keys(settings)
    assert again == first
    assert json.loads(keys_file.read_text()) == {
        "jwt_secret": first.jwt_secret, "data_key": first.data_keys, "hash_key": first.hash_key,
    }


def test_settings_win_and_nothing_is_written_when_all_are_given(tmp_path) -> None:
    key = Fernet.generate_key().decode("ascii")
    given = Settings(data_dir=str(tmp_path), jwt_secret="j" * 40, data_keys=key, hash_key="h" * 20)
    assert ensure_keys(given) is given
    assert not (tmp_path / "keys.json").exists()


def test_a_given_setting_wins_over_the_file(tmp_path) -> None:
    generated = ensure_keys(Settings(data_dir=str(tmp_path)))
    other = Fernet.generate_key().decode("ascii")
    mixed = ensure_keys(Settings(data_dir=str(tmp_path), data_keys=f"{other},{generated.data_keys}"))
    assert mixed.data_keys == f"{other},{generated.data_keys}"
    assert mixed.jwt_secret == generated.jwt_secret and mixed.hash_key == generated.hash_key


def test_a_loose_file_is_tightened(tmp_path) -> None:
    ensure_keys(Settings(data_dir=str(tmp_path)))
    os.chmod(tmp_path / "keys.json", 0o644)
    ensure_keys(Settings(data_dir=str(tmp_path)))
    assert _mode(tmp_path / "keys.json") == 0o600


def test_a_missing_entry_is_added_keeping_the_others(tmp_path) -> None:
    first = ensure_keys(Settings(data_dir=str(tmp_path)))
    stored = json.loads((tmp_path / "keys.json").read_text())
    del stored["hash_key"]
    (tmp_path / "keys.json").write_text(json.dumps(stored))
    again = ensure_keys(Settings(data_dir=str(tmp_path)))
    assert again.data_keys == first.data_keys and again.hash_key and again.hash_key != first.hash_key
    assert _mode(tmp_path / "keys.json") == 0o600


def test_bad_data_key_setting_is_a_clear_error_without_the_value(tmp_path) -> None:
    with pytest.raises(KeyConfigError, match="AUTOTRADER_DATA_KEYS") as caught:
        ensure_keys(Settings(data_dir=str(tmp_path), data_keys="hunter2-not-a-key"))
    assert "hunter2" not in str(caught.value)


def test_corrupt_keys_file_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "keys.json").write_text("{not json")
    os.chmod(tmp_path / "keys.json", 0o600)
    with pytest.raises(KeyConfigError, match="unreadable keys file"):
        ensure_keys(Settings(data_dir=str(tmp_path)))
