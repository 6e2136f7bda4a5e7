"""Password policy, and bcrypt hashing in worker threads behind a semaphore."""

from __future__ import annotations

import asyncio
import threading

import bcrypt
import pytest

from storage import passwords
from storage.errors import WeakPassword
from storage.passwords import PasswordHasher, check_password, password_problem


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Ab1", "at least 8 bytes"),
        ("abcdefghij", "mix at least two"),
        ("12345678", "mix at least two"),
        ("ABCDEFGH", "mix at least two"),
        ("!@#$%^&*", "mix at least two"),
        ("a1" * 36 + "x", "at most 72 bytes"),
        ("가" * 24 + "1", "at most 72 bytes"),  # 25 characters, 73 bytes
    ],
)
def test_policy_refusals_say_why(password: str, problem: str) -> None:
    assert problem in password_problem(password)
    with pytest.raises(WeakPassword, match=problem):
        check_password(password)


@pytest.mark.parametrize("password", ["abcd1234", "Password", "a1" * 36, "비밀번호는1234"])
def test_policy_accepts(password: str) -> None:
    assert password_problem(password) is None


async def test_hash_and_verify() -> None:
    hasher = PasswordHasher(cost=4, concurrency=2)
    hashed = await hasher.hash("correct horse 1")
    assert hashed.startswith("$2b$04$") and "correct" not in hashed
    assert await hasher.verify("correct horse 1", hashed)
    assert not await hasher.verify("correct horse 2", hashed)
    assert not await hasher.verify("correct horse 1", "not-a-bcrypt-hash")
    assert not await hasher.verify("correct horse 1", None)  # unknown user: same work, False
    assert not await hasher.verify("x" * 100, hashed)
    with pytest.raises(WeakPassword):
        await hasher.hash("short")


async def test_bcrypt_never_runs_on_the_loop_thread_and_respects_concurrency(monkeypatch) -> None:
    loop_thread = threading.get_ident()
    release = threading.Event()
    lock = threading.Lock()
    state = {"running": 0, "peak": 0, "threads": set(), "entered": 0}
    entered = asyncio.Event()
    loop = asyncio.get_running_loop()
    real_hashpw = bcrypt.hashpw

    def slow_hashpw(secret: bytes, salt: bytes) -> bytes:
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
            state["threads"].add(threading.get_ident())
            state["entered"] += 1
        loop.call_soon_threadsafe(entered.set)
        release.wait(timeout=10)
        try:
            return real_hashpw(secret, salt)
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(passwords.bcrypt, "hashpw", slow_hashpw)
    hasher = PasswordHasher(cost=4, concurrency=1)
    tasks = [asyncio.create_task(hasher.hash(f"password{i}")) for i in range(3)]
    await entered.wait()
    for _ in range(5):  # the loop stays free while bcrypt holds its thread
        await asyncio.sleep(0)
    assert state["entered"] == 1  # the semaphore holds the other two back
    release.set()
    hashes = await asyncio.gather(*tasks)
    assert state["peak"] == 1 and state["entered"] == 3
    assert loop_thread not in state["threads"]
    assert all(h.startswith("$2b$04$") for h in hashes)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        PasswordHasher(cost=3)
    with pytest.raises(ValueError):
        PasswordHasher(cost=4, concurrency=0)
