"""Wire schemas: request bodies (unknown fields forbidden) and response bodies.

Every REST response is one of these Structs, so the OpenAPI document can be
generated from the code. Internal engine messages live in engine/ and actors/.
"""

from __future__ import annotations

from typing import Any

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
    last_error: str | None = None
    details: dict[str, Any] = {}


class ActorTree(msgspec.Struct, frozen=True):
    totals: dict[str, int]
    actors: list[ActorRow]
