"""The embedded default's keys: generated on first start, kept in the data folder.

Three secrets protect the service: the JWT signing secret, the data key(s)
that encrypt account numbers, app keys and secrets (Fernet; several for
rotation, the first encrypts), and the hash key (HMAC) for account-number
uniqueness. A value given in settings (``AUTOTRADER_JWT_SECRET``,
``AUTOTRADER_DATA_KEYS``, ``AUTOTRADER_HASH_KEY``) wins; whatever is missing is
read from ``<data_dir>/keys.json``, or generated into it on first start. The
file is created with mode 0600 (tightened to 0600 if found looser) and reused on
every later start, so encrypted rows stay readable across restarts.

:func:`ensure_keys` does blocking file I/O: call it once at start-up, before the
event loop serves requests (or through ``loop.run_in_executor``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from pathlib import Path

import msgspec
from cryptography.fernet import Fernet

from engine.settings import Settings
from storage.errors import KeyConfigError

log = logging.getLogger(__name__)

KEYS_FILE = "keys.json"
FILE_MODE = 0o600


def ensure_keys(settings: Settings) -> Settings:
    """``settings`` with ``jwt_secret``, ``data_keys`` and ``hash_key`` all filled."""
    if settings.jwt_secret and settings.data_keys and settings.hash_key:
        validate_data_keys(settings.data_keys)
        return settings
    path = settings.data_path / KEYS_FILE
    stored = _read(path)
    generators = {  # file entry -> (the setting that overrides it, generator)
        "jwt_secret": (settings.jwt_secret, lambda: secrets.token_urlsafe(48)),
        "data_key": (settings.data_keys, lambda: Fernet.generate_key().decode("ascii")),
        "hash_key": (settings.hash_key, lambda: secrets.token_urlsafe(32)),
    }
    wanted = {name: generate for name, (given, generate) in generators.items() if not given}
    missing = [name for name in wanted if not stored.get(name)]
    if missing:
        for name in missing:
            stored[name] = wanted[name]()
        stored = _write(path, stored, create=not path.exists())
        log.info("generated %s into %s", ", ".join(missing), path)
    filled = msgspec.structs.replace(
        settings,
        jwt_secret=settings.jwt_secret or stored.get("jwt_secret", ""),
        data_keys=settings.data_keys or stored.get("data_key", ""),
        hash_key=settings.hash_key or stored.get("hash_key", ""),
    )
    validate_data_keys(filled.data_keys)
    return filled


def stored_data_keys(settings: Settings) -> str:
    """The ``data_key`` entry of ``<data_dir>/keys.json`` ("" when there is none)."""
    return _read(settings.data_path / KEYS_FILE).get("data_key", "")


def write_data_keys(settings: Settings, data_keys: str) -> Path:
    """Put ``data_keys`` (comma-separated, first encrypts) into keys.json, keeping its other entries."""
    validate_data_keys(data_keys)
    path = settings.data_path / KEYS_FILE
    stored = _read(path)
    stored["data_key"] = data_keys
    _write(path, stored, create=False)
    return path


def validate_data_keys(data_keys: str) -> list[str]:
    """The comma-separated Fernet keys, each checked; the error never shows a key."""
    keys = [key.strip() for key in data_keys.split(",") if key.strip()]
    if not keys:
        raise KeyConfigError("AUTOTRADER_DATA_KEYS: no key given")
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise KeyConfigError(
                f"AUTOTRADER_DATA_KEYS: key #{index} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) with mode 0700; an existing folder is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask


def _read(path: Path) -> dict[str, str]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return {}
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); setting it to 0600", path, mode)
        os.chmod(path, FILE_MODE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise KeyConfigError(f"{path}: unreadable keys file ({type(error).__name__})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise KeyConfigError(f"{path}: expected a JSON object of strings")
    return data


def _write(path: Path, data: dict[str, str], *, create: bool) -> dict[str, str]:
    """Write ``data`` with mode 0600; on a first-start race, keep the file that won."""
    make_private_dir(path.parent)
    body = json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:  # another process generated them first: use theirs
            return _read(path)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        return data
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(body)
    os.replace(temp, path)
    return data
