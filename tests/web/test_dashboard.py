"""The dashboard's files and headers: served at /, /static and /docs; a Content-Security-Policy of this
origin only on every response; no inline script or style for it to refuse; vendored libraries pinned
with their licences; the price-limits endpoint the order ticket uses (hand-computed limits)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from web.csp import POLICY

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
pytestmark = pytest.mark.timeout(30)


async def test_the_page_and_its_modules_are_served(client):
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert '<script type="module" src="/static/js/app.js">' in html and 'lang="ko"' in html
    js = await client.get("/static/js/app.js")
    assert js.status == 200 and "javascript" in js.content_type
    chart = await client.get("/static/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs")
    assert chart.status == 200 and "javascript" in chart.content_type
    assert (await client.get("/static/../web/app.py")).status in (403, 404)
    assert (await client.get("/static/js/nope.js")).status == 404


async def test_docs_is_swagger_ui_over_the_document(client):
    resp = await client.get("/docs")
    html = await resp.text()
    assert resp.status == 200 and "/openapi.json" in html
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html and "/static/js/docs.js" in html
    init = (STATIC / "js" / "docs.js").read_text()
    assert 'url: "/openapi.json"' in init and "tryItOutEnabled: true" in init and "validatorUrl: null" in init


@pytest.mark.parametrize("path", ["/", "/docs", "/health", "/openapi.json", "/static/css/app.css", "/nope"])
async def test_every_response_carries_the_policy(client, path):
    resp = await client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    host = f"{client.server.host}:{client.server.port}"
    assert csp == POLICY.format(ws=f"ws://{host}")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["connect-src"] == f"'self' ws://{host}"
    assert "unsafe" not in csp and "*" not in csp and "http" not in csp


def test_no_inline_script_or_style_for_the_policy_to_refuse():
    for html in STATIC.glob("*.html"):
        text = html.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{html.name}: inline <script>"
        assert "<style" not in text and not re.search(r"\sstyle=", text), f"{html.name}: inline style"
        assert not re.search(r"\son[a-z]+=", text), f"{html.name}: inline event handler"
    for js in [*STATIC.glob("js/*.js"), *STATIC.glob("js/pages/*.js")]:
        text = js.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, f"{js.name}: HTML from strings"
        assert 'setAttribute("style"' not in text and "eval(" not in text and "new Function" not in text, js.name
        assert "localStorage" not in text, f"{js.name}: the token is never in localStorage"


def test_vendored_libraries_are_pinned_with_their_licences():
    for name, file, version in (
        ("lightweight-charts", "lightweight-charts.standalone.production.mjs", "lightweight-charts 5.2.1"),
        ("swagger-ui", "swagger-ui-bundle.js", "swagger-ui-dist 5.35.0"),
    ):
        folder = STATIC / "vendor" / name
        assert (folder / file).stat().st_size > 100_000
        assert "Apache License" in (folder / "LICENSE").read_text()
        stamp = (folder / "VERSION").read_text()
        assert stamp.startswith(version) and "npm pack" in stamp and "sha512-" in stamp


async def test_price_limits_are_the_days_limits_on_the_tick_grid(client, make_user):
    _, headers = await make_user()
    body = await (await client.get("/realtime/price-limits/005930", headers=headers)).json()
    # the simulated market's 005930 closed at 37,200 yesterday: ±30 % is 26,040..48,360, and at those
    # prices the tick is 50 KRW, so inward onto the grid: 26,050..48,350
    assert (body["base_price"], body["lower_limit"], body["upper_limit"]) == (37_200, 26_050, 48_350)
    assert body["tick_bands"][0] == {"below": 2000, "tick": 1} and body["tick_bands"][-1] == {"below": None, "tick": 1000}
    assert [b["tick"] for b in body["tick_bands"]] == [1, 5, 10, 50, 100, 500, 1000]
    bad = await client.get("/realtime/price-limits/12", headers=headers)
    assert bad.status == 422 and "stock_code" in (await bad.json())["error"]["fields"]
    assert (await client.get("/realtime/price-limits/005930")).status == 401
