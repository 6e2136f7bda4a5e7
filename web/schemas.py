"""Wire schemas: request bodies (unknown fields forbidden) and response bodies.

Every REST response is one of these Structs, so the OpenAPI document can be
generated from the code. Internal engine messages live in engine/ and actors/.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str
    fields: dict[str, str] = {}


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorDetail


class Health(msgspec.Struct, frozen=True):
    status: str
    version: str


class Ready(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]
    waiting_accounts: list[int] = []  # accounts whose start-up reconciliation waits for their broker


class ActorRow(msgspec.Struct, frozen=True, omit_defaults=True):
    path: str
    kind: str
    state: str
    mailbox_depth: int
    mailbox_limit: int
    mailbox_peak: int
    handled: int
    failed: int
    rejected: int
    conflated: int
    restarts: int
    dead_letters: int  # messages to this actor that it did not take (full, or stopped)
    last_error: str | None = None
    details: dict[str, Any] = {}


class DeadLetterRow(msgspec.Struct, frozen=True):
    target: str
    sender: str
    msg_type: str
    reason: str


class ActorTree(msgspec.Struct, frozen=True):
    totals: dict[str, int]
    actors: list[ActorRow]
    dead_letters: list[DeadLetterRow] = []  # the latest ones, oldest first


# -- users and accounts ------------------------------------------------------


class Credentials(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    password: str


class PasswordChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    old_password: str
    new_password: str


class Message(msgspec.Struct, frozen=True):
    message: str


class TokenBody(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = 0


class AccountRegistration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account_number: str
    api_key: str
    secret_key: str
    broker: Literal["paper", "kis"] = "paper"
    paper_trading: bool = False
    hts_id: str | None = None


class AccountCreated(msgspec.Struct, frozen=True):
    message: str
    account_id: int


class AccountView(msgspec.Struct, frozen=True):
    account_id: int
    broker: str
    paper_trading: bool
    account_number: str  # masked: last 4 characters
    api_key: str  # masked
    hts_id: str | None
    cash_balance: int
    created_at: str  # ISO-8601 in KST


class AccountList(msgspec.Struct, frozen=True):
    accounts: list[AccountView]
