"""The OpenAPI 3.1 document, generated from the routes' msgspec schemas.

Resource modules register their handlers through :func:`route`, naming the
request body Struct, the query parameters and the response Structs per
status; ``GET /openapi.json`` serves the document built from them (JSON
Schema by ``msgspec.json.schema_components``), and ``GET /docs`` (web/dashboard.py)
renders it. Nothing is written by hand, so the document cannot drift from the
code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from aiohttp import web

from web.schemas import ErrorBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REF = "#/components/schemas/{name}"
ERRORS = {
    400: "malformed JSON",
    401: "missing, invalid or expired token",
    403: "not allowed",
    404: "not found (or not yours)",
    409: "conflict",
    413: "request body too large",
    422: "the body or a parameter fails the schema or a rule",
    429: "throttled",
    503: "a dependency is unavailable",
}


class Param(msgspec.Struct, frozen=True):
    name: str
    where: str = "query"  # "query" or "path"
    schema: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "string"})
    required: bool = False
    description: str = ""


class Operation(msgspec.Struct, frozen=True, kw_only=False):
    method: str
    path: str
    summary: str
    tag: str
    request: Any = None
    responses: dict[int, Any] = {}
    errors: tuple[int, ...] = ()
    auth: bool = True
    params: tuple[Param, ...] = ()


OPERATIONS: web.AppKey[list[Operation]] = web.AppKey("openapi_operations", list)


def route(app: web.Application, method: str, path: str, handler: Handler, *, summary: str, tag: str,
          request: Any = None, responses: dict[int, Any], errors: Sequence[int] = (), auth: bool = True,
          params: Sequence[Param] = ()) -> None:
    """Register ``handler`` and describe it in the document."""
    app.router.add_route(method, path, handler)
    if OPERATIONS not in app:
        app[OPERATIONS] = []
    app[OPERATIONS].append(Operation(method.upper(), path, summary, tag, request, dict(responses),
                                     tuple(errors), auth, tuple(params)))


def document(app: web.Application, title: str, version: str) -> dict[str, Any]:
    ops = app.get(OPERATIONS, [])
    types: list[Any] = [ErrorBody]
    for op in ops:
        if op.request is not None:
            types.append(op.request)
        types.extend(t for t in op.responses.values() if t is not None)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(map(id, types), schemas))
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        item: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "operationId": _op_id(op),
                                "responses": {}}
        if op.auth:
            item["security"] = [{"bearer": []}]
        params = [_param(p) for p in op.params]
        params.extend(_param(Param(name, "path", required=True)) for name in _path_names(op.path)
                      if name not in {p.name for p in op.params})
        if params:
            item["parameters"] = params
        if op.request is not None:
            item["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": schema_of[id(op.request)]}}}
        for status, body in op.responses.items():
            response: dict[str, Any] = {"description": "ok"}
            if body is not None:
                response["content"] = {"application/json": {"schema": schema_of[id(body)]}}
            item["responses"][str(status)] = response
        errors = set(op.errors) | ({401} if op.auth else set()) | ({400, 413, 422} if op.request else set())
        for status in sorted(errors):
            item["responses"][str(status)] = {
                "description": ERRORS.get(status, "error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(name="ErrorBody")}}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _op_id(op: Operation) -> str:
    words = [w.strip("{}") for w in op.path.strip("/").replace("-", "_").split("/")]
    return "_".join([op.method.lower(), *words])


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                           "schema": p.schema}
    if p.description:
        out["description"] = p.description
    return out


def setup(app: web.Application, title: str, version: str) -> None:
    cache: dict[str, bytes] = {}

    async def openapi_json(request: web.Request) -> web.Response:
        if "doc" not in cache:
            cache["doc"] = msgspec.json.encode(document(request.app, title, version))
        return web.Response(body=cache["doc"], content_type="application/json")

    app.router.add_get("/openapi.json", openapi_json)
