"""The Content-Security-Policy: pages may load and talk to the server's own origin only.

Every response carries it (JSON too: harmless, and a JSON body opened in a tab
then runs nothing). No ``'unsafe-inline'`` and no ``'unsafe-eval'``: the
dashboard and ``/docs`` are external script and style files, and style
attributes in markup are refused (scripts set styles through the CSSOM, which
CSP allows). ``connect-src`` names this origin's WebSocket scheme explicitly,
because a browser that predates CSP 3 does not let ``'self'`` cover ``ws:``.
"""

from __future__ import annotations

from aiohttp import web

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self' {ws}; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def policy_for(request: web.Request) -> str:
    scheme = "wss" if request.secure else "ws"
    return POLICY.format(ws=f"{scheme}://{request.host}")


@web.middleware
async def content_security_policy(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    if not response.prepared:  # a WebSocket or a streamed response has sent its headers already
        response.headers.setdefault("Content-Security-Policy", policy_for(request))
    return response
