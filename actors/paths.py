"""Every actor path, built here and nowhere else."""

from __future__ import annotations

FEEDS = "/feeds"
STRATEGIES = "/strategies"
SWINGS = "/swings"
ACCOUNTS = "/accounts"
SESSIONS = "/sessions"
BARS = "/bars"


def feed(code: str) -> str:
    return f"{FEEDS}/{code}"


def user_strategies(user_id: int) -> str:
    return f"{STRATEGIES}/{user_id}"


def strategy(user_id: int, name: str) -> str:
    return f"{STRATEGIES}/{user_id}/{name}"


def swing(swing_id: int) -> str:
    return f"{SWINGS}/{swing_id}"


def account(account_id: int) -> str:
    return f"{ACCOUNTS}/{account_id}"


def session(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}"
