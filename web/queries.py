"""Query strings as Structs: one declaration gives the decoding, the field rules
(``msgspec.Meta`` constraints) and the OpenAPI parameters, so they cannot drift apart.

    class Paging(msgspec.Struct, frozen=True):
        limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50

    page = query(request, Paging)          # Invalid (422) naming every bad field
    route(..., params=query_params(Paging))
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from aiohttp import web

from web.errors import Invalid
from web.openapi import Param

T = TypeVar("T")


def query(request: web.Request, schema: type[T]) -> T:
    """The request's query decoded into ``schema`` (strings converted; unknown keys ignored)."""
    known = schema.__struct_fields__  # type: ignore[attr-defined]
    raw = {k: v for k, v in request.query.items() if k in known}
    try:
        return msgspec.convert(raw, schema, strict=False)
    except msgspec.ValidationError:
        fields = {}
        for name, value in raw.items():  # msgspec stops at the first: name every bad one
            try:
                msgspec.convert({name: value}, schema, strict=False)
            except msgspec.ValidationError as exc:
                fields[name] = str(exc).split(" - at `")[0]
        raise Invalid("invalid query", fields=fields) from None


def query_params(schema: type) -> tuple[Param, ...]:
    """The OpenAPI parameters of ``schema``, rules included."""
    doc = msgspec.json.schema(schema)
    props: dict[str, Any] = doc["$defs"][schema.__name__]["properties"]
    params = []
    for name, prop in props.items():
        prop = {k: v for k, v in prop.items() if k != "default"}
        options = [p for p in prop.get("anyOf", ()) if p.get("type") != "null"]
        if len(options) == 1:  # optional: `int | None` is just an integer that may be left out
            prop = options[0]
        params.append(Param(name, schema=prop))
    return tuple(params)
