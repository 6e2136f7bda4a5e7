"""Decoding request bodies and encoding responses with msgspec.

Malformed JSON → :class:`BadJson` (400); a body that does not fit the schema
(wrong type, missing or unknown field) → :class:`Invalid` (422) naming the
field. One decoder per schema, built once. A body nested deeper than
:data:`MAX_DEPTH` arrays/objects is 400 before any decoder sees it (no schema
here nests past 4; a recursive decoder must never meet 1,000 levels).
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from web.errors import BadJson, Invalid, RequestTimeout

T = TypeVar("T")

_PATH = re.compile(r"at `\$\.?([^`]*)`")
_FIELD = re.compile(r"field `([^`]+)`")
_encoder = msgspec.json.Encoder()
MAX_DEPTH = 32
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def nesting_problem(raw: bytes | str) -> str | None:
    """Why ``raw`` nests too deep (or ``None``): counts brackets outside strings."""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return f"JSON nested deeper than {MAX_DEPTH} levels"
        elif token in (b"]", b"}"):
            depth -= 1
    return None


@lru_cache(maxsize=None)
def _decoder(schema: type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(schema)


def decode(raw: bytes, schema: type[T]) -> T:
    problem = nesting_problem(raw)
    if problem:
        raise BadJson(f"malformed JSON: {problem}")
    try:
        return _decoder(schema).decode(raw)
    except msgspec.ValidationError as exc:
        fields = _all_field_problems(raw, schema)
        fields.setdefault(_field(exc), _message(exc))
        raise Invalid(_message(exc), fields=fields) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadJson(f"malformed JSON: {exc}") from None


async def read_raw(request: web.Request) -> bytes:
    """The whole body, or 408 when it does not arrive within ``AUTOTRADER_BODY_TIMEOUT_S``."""
    from web.keys import SETTINGS

    try:
        async with asyncio.timeout(request.app[SETTINGS].body_timeout_s):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout("the request body did not arrive in time") from None


async def read(request: web.Request, schema: type[T]) -> T:
    raw = await read_raw(request)
    if not raw.strip():
        raise BadJson("a JSON body is required")
    return decode(raw, schema)


def _all_field_problems(raw: bytes, schema: type) -> dict[str, str]:
    """Every missing and unknown top-level field (msgspec stops at the first)."""
    try:
        doc = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return {}
    if not isinstance(doc, dict) or not hasattr(schema, "__struct_fields__"):
        return {}
    problems: dict[str, str] = {}
    known = set(schema.__struct_fields__)
    for field in msgspec.structs.fields(schema):
        if field.required and field.encode_name not in doc:
            problems[field.encode_name] = "required"
    if schema.__struct_config__.forbid_unknown_fields:
        for name in doc:
            if name not in known:
                problems[str(name)] = "unknown field"
    return problems


def _field(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    named = _FIELD.search(text)
    at = _PATH.search(text)
    path = at.group(1) if at else ""
    if named:
        return f"{path}.{named.group(1)}" if path else named.group(1)
    return path or "body"


def _message(exc: msgspec.ValidationError) -> str:
    return str(exc).split(" - at `")[0]


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encoder.encode(body), status=status, content_type="application/json", headers=headers
    )
