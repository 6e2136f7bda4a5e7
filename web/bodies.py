"""Decoding request bodies and encoding responses with msgspec.

Malformed JSON → :class:`BadJson` (400); a body that does not fit the schema
(wrong type, missing or unknown field) → :class:`Invalid` (422) naming the
field. One decoder per schema, built once.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from web.errors import BadJson, Invalid

T = TypeVar("T")

_PATH = re.compile(r"at `\$\.?([^`]*)`")
_FIELD = re.compile(r"field `([^`]+)`")
_encoder = msgspec.json.Encoder()


@lru_cache(maxsize=None)
def _decoder(schema: type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(schema)


def decode(raw: bytes, schema: type[T]) -> T:
    try:
        return _decoder(schema).decode(raw)
    except msgspec.ValidationError as exc:
        fields = _all_field_problems(raw, schema)
        fields.setdefault(_field(exc), _message(exc))
        raise Invalid(_message(exc), fields=fields) from None
    except msgspec.DecodeError as exc:
        raise BadJson(f"malformed JSON: {exc}") from None


async def read(request: web.Request, schema: type[T]) -> T:
    raw = await request.read()
    if not raw.strip():
        raise BadJson("a JSON body is required")
    return decode(raw, schema)


def _all_field_problems(raw: bytes, schema: type) -> dict[str, str]:
    """Every missing and unknown top-level field (msgspec stops at the first)."""
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
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
