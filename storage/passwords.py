"""Passwords: the policy, and bcrypt kept off the event loop.

Policy: 8 to 72 bytes in UTF-8 (72 is bcrypt's limit, so nothing is silently
cut off), and not all of one character class (lower case, upper case, digits,
everything else). :func:`password_problem` says what is wrong in words;
:func:`check_password` raises :class:`~storage.errors.WeakPassword` with it.

:class:`PasswordHasher` runs bcrypt in a worker thread behind a semaphore of
``bcrypt_concurrency``, so a burst of logins neither blocks the loop nor takes
every thread of the default executor. At most ``max_waiting`` more wait for
a slot; past that :class:`HasherBusy` is raised at once (the web answers 429),
so a burst of logins cannot queue every later login behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import bcrypt

from storage.errors import WeakPassword

MIN_BYTES = 8
MAX_BYTES = 72


def password_problem(password: str) -> str | None:
    """Why ``password`` breaks the policy, or ``None`` when it is acceptable."""
    size = len(password.encode("utf-8"))
    if size < MIN_BYTES:
        return f"password must be at least {MIN_BYTES} bytes long"
    if size > MAX_BYTES:
        return f"password must be at most {MAX_BYTES} bytes in UTF-8"
    classes = {_char_class(char) for char in password}
    if len(classes) < 2:
        return "password must mix at least two of: lower case, upper case, digits, symbols"
    return None


def check_password(password: str) -> None:
    """Raise :class:`WeakPassword` naming the broken rule."""
    problem = password_problem(password)
    if problem is not None:
        raise WeakPassword(problem)


def _char_class(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.islower():
        return "lower"
    if char.isupper():
        return "upper"
    return "other"


class HasherBusy(Exception):
    """Every bcrypt slot is taken and the queue behind them is full."""


class PasswordHasher:
    """``await hash(password)`` and ``await verify(password, hash)``, bcrypt in threads."""

    def __init__(self, cost: int = 12, concurrency: int = 4, max_waiting: int | None = None) -> None:
        if not 4 <= cost <= 31:
            raise ValueError("bcrypt cost must be between 4 and 31")
        if concurrency < 1:
            raise ValueError("bcrypt concurrency must be at least 1")
        self.cost = cost
        self._slots = asyncio.Semaphore(concurrency)
        self._limit = None if max_waiting is None else concurrency + max(0, max_waiting)
        self._inside = 0  # running or waiting
        self._dummy: bytes | None = None

    def __repr__(self) -> str:
        return f"PasswordHasher(cost={self.cost})"

    async def hash(self, password: str) -> str:
        """The bcrypt hash of a password that passes the policy (else :class:`WeakPassword`)."""
        check_password(password)
        secret = password.encode("utf-8")
        with self._admitted():
            async with self._slots:
                hashed = await asyncio.to_thread(lambda: bcrypt.hashpw(secret, bcrypt.gensalt(self.cost)))
        return hashed.decode("ascii")

    @contextlib.contextmanager
    def _admitted(self) -> Iterator[None]:
        if self._limit is not None and self._inside >= self._limit:
            raise HasherBusy()
        self._inside += 1
        try:
            yield
        finally:
            self._inside -= 1

    async def verify(self, password: str, hashed: str | None) -> bool:
        """True when ``password`` matches ``hashed``.

        With ``hashed=None`` (unknown user) it still spends one bcrypt check and
        returns False, so an unknown email costs the same time as a wrong password.
        """
        secret = password.encode("utf-8")
        if len(secret) > MAX_BYTES:
            secret = secret[:MAX_BYTES]  # never matches: no stored password is this long
            hashed = None
        with self._admitted():
            return await self._verify(secret, hashed)

    async def _verify(self, secret: bytes, hashed: str | None) -> bool:
        async with self._slots:
            if hashed is None:
                dummy = self._dummy
                if dummy is None:
                    salt = bcrypt.gensalt(self.cost)
                    dummy = self._dummy = await asyncio.to_thread(bcrypt.hashpw, b"dummy-pw", salt)
                await asyncio.to_thread(bcrypt.checkpw, secret, dummy)
                return False
            try:
                return await asyncio.to_thread(bcrypt.checkpw, secret, hashed.encode("ascii"))
            except ValueError:  # not a bcrypt hash
                return False
