"""The KIS simulator: a local server speaking the KIS Open API wire protocol.

REST and WebSocket share one port; any GET with ``Upgrade: websocket`` on any path
is the real-time socket (KIS ignores the path), everything else is REST, routed by
(method, path) through :attr:`KisSimulator.routes` so later endpoints (orders,
balance) slot in with :meth:`KisSimulator.add_route`. It rejects what KIS rejects,
with KIS's bodies: token issuance more than once a minute (HTTP 403 ``EGW00133``),
more REST calls per second than allowed (HTTP 500 ``EGW00201``), bad or expired
tokens, missing or wrong app keys, a tr_id of the other mode (``EGW00213``),
``appsecret`` instead of ``secretkey`` in the Approval body. Codes marked
"(inferred)" in comments have no public source beyond KIS_PROTOCOL.md's tables.

Test hooks on :class:`KisSimulator`: :meth:`drop_all`, :attr:`stalled`,
:meth:`send_garbage`, :meth:`forget_approvals`, and counters; the order book and
its hooks are :attr:`KisSimulator.orders` (sim_orders.py, routes in sim_trading.py).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from aiohttp import web

from engine.brokers.kis.sim_market import SimMarket
from engine.brokers.kis.sim_orders import SimOrders
from engine.brokers.kis.sim_quotations import QUOTATION_ROUTES
from engine.brokers.kis.sim_session import SimSession
from engine.brokers.kis.sim_trading import TRADING_ROUTES
from engine.runtime.clock import Clock, WallClock

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
Handler = Callable[["KisSimulator", web.Request, str], Awaitable[web.Response]]


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    codes: tuple[str, ...] = ()  # accepted codes; empty = any 6-character code
    seed: int = 7
    rate: float = 5.0  # frames per second per subscription
    batch_prob: float = 0.2  # share of frames carrying 2-4 records
    trade_fields: int = 46  # H0STCNT0 record width as documented (47 has been seen live)
    quote_fields: int = 59  # H0STASP0 record width as documented (62 has been seen live)
    max_subscriptions: int = 41
    pingpong_interval_s: float = 10.0
    pingpong_timeout_s: float = 100.0
    token_ttl_s: int = 86_400
    token_interval_s: float = 60.0  # one token issuance per app key per interval
    rest_rate_per_s: int = 20  # REST calls per app key per second (paper KIS: 2)
    paper: bool = False  # accept V-prefixed trading tr_ids instead of T/J/C ones
    state_file: str = ""  # the walk is saved here on shutdown and continued from it on start
    holidays: tuple[str, ...] = ()  # YYYYMMDD days KRX closes that the library calendar calls sessions
    apps: tuple[tuple[str, str], ...] = ()  # known (app key, app secret); empty: any key, secret bound on first use


class Rejection(Exception):
    """A KIS error answer: raised by handlers, turned into the response by the dispatcher."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def api_error(status: int, msg_cd: str, msg1: str) -> Rejection:
    return Rejection(status, {"rt_cd": "1", "msg_cd": msg_cd, "msg1": msg1})


def paper_tr_id(tr_id: str) -> str:
    """KIS's rule: paper trading uses ``V`` for ``T``/``J``/``C``-prefixed ids."""
    return "V" + tr_id[1:] if tr_id[:1] in ("T", "J", "C") else tr_id


class KisSimulator:
    def __init__(self, config: SimulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or WallClock()
        holidays = frozenset(datetime.strptime(d, "%Y%m%d").date() for d in config.holidays)
        self.market = SimMarket(config.seed, lambda: datetime.fromtimestamp(self.clock.now_ms() / 1000, KST),
                                holidays)
        self.rng = random.Random(config.seed)
        self.secrets: dict[str, str] = dict(config.apps)  # app key -> app secret (else bound on first use)
        self.tokens: dict[str, tuple[str, int]] = {}  # token -> (app key, expiry ms)
        self.approvals: dict[str, str] = {}  # approval key -> app key
        self.sessions: dict[str, SimSession] = {}  # app key -> its one live session
        self.all_sessions: set[SimSession] = set()
        self.token_issuances: Counter[str] = Counter()
        self.rest_calls: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.tr_calls: Counter[str] = Counter()  # REST calls answered, by tr_id
        self.quote_markets: Counter[str] = Counter()  # quotation calls by FID_COND_MRKT_DIV_CODE (J, NX, UN)
        self.stalled = False
        self._last_token: dict[str, float] = {}
        self._windows: dict[str, deque[float]] = {}
        self.routes: dict[tuple[str, str], tuple[frozenset[str], Handler]] = {}
        for (method, path), (tr_ids, handler) in (QUOTATION_ROUTES | TRADING_ROUTES).items():
            self.add_route(method, path, tr_ids, handler)
        self.orders = SimOrders(self)  # accounts, orders, fills, fill notices (sim_orders.py)

    def add_route(self, method: str, path: str, tr_ids: frozenset[str], handler: Handler) -> None:
        """Serve ``handler`` for REST calls with one of ``tr_ids`` (the real-mode ids)."""
        self.routes[(method.upper(), path)] = (tr_ids, handler)

    # -- test hooks ------------------------------------------------------------------

    async def drop_all(self) -> None:
        """Close every WebSocket session (KIS restarting its processes)."""
        for session in list(self.all_sessions):
            await session.close("server restart")

    async def send_garbage(self, text: str = "0|H0STCNT0|002|005930^not^a^record") -> None:
        for session in list(self.all_sessions):
            await session.send_text(text)

    def forget_approvals(self) -> None:
        """Every approval key becomes unknown (clients must fetch a new one)."""
        self.approvals.clear()

    def subscriptions(self, app_key: str) -> set[tuple[str, str]]:
        session = self.sessions.get(app_key)
        return set(session.subs) if session else set()

    # -- sessions ----------------------------------------------------------------------

    def bind_session(self, app_key: str, session: SimSession) -> bool:
        current = self.sessions.get(app_key)
        if current is not None and current is not session and not current.ws.closed:
            return False
        self.sessions[app_key] = session
        session.app_key = app_key
        return True

    def end_session(self, session: SimSession) -> None:
        self.all_sessions.discard(session)
        if session.app_key and self.sessions.get(session.app_key) is session:
            del self.sessions[session.app_key]

    # -- authentication ------------------------------------------------------------------

    def check_app(self, app_key: str, app_secret: str) -> None:
        if not app_key or (self.config.apps and app_key not in self.secrets):
            raise Rejection(403, _token_error("EGW00103", "유효하지 않은 AppKey입니다."))
        bound = self.secrets.setdefault(app_key, app_secret)
        if not app_secret or bound != app_secret:
            raise Rejection(403, _token_error("EGW00105", "유효하지 않은 AppSecret입니다."))

    def authorize(self, request: web.Request, tr_ids: frozenset[str]) -> str:
        """Check the headers of a REST call; return its tr_id."""
        h = request.headers
        app_key, app_secret = h.get("appkey", ""), h.get("appsecret", "")
        if not app_key or app_key not in self.secrets:
            raise api_error(500, "EGW00103", "유효하지 않은 AppKey입니다.")
        if self.secrets[app_key] != app_secret:
            raise api_error(500, "EGW00105", "유효하지 않은 AppSecret입니다.")
        auth = h.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise api_error(500, "EGW00205", "credentials_type이 유효하지 않습니다.(Bearer)")
        entry = self.tokens.get(auth[7:])
        if entry is None or entry[0] != app_key:
            raise api_error(500, "EGW00121", "유효하지 않은 token 입니다.")
        if entry[1] <= self.clock.now_ms():
            raise api_error(500, "EGW00123", "기간이 만료된 token 입니다.")
        self._rate_check(app_key)
        tr_id = h.get("tr_id", "")
        accepted = {paper_tr_id(t) for t in tr_ids} if self.config.paper else set(tr_ids)
        if tr_id not in accepted:
            other = set(tr_ids) if self.config.paper else {paper_tr_id(t) for t in tr_ids}
            if tr_id in other:
                mode = "모의투자" if self.config.paper else "실전투자"
                raise api_error(500, "EGW00213", f"{mode} TR 이 아닙니다.")
            raise api_error(500, "OPSQ0002", "없는 서비스 코드 입니다")  # (inferred)
        self.tr_calls[tr_id] += 1
        return tr_id

    def _rate_check(self, app_key: str) -> None:
        now = time.monotonic()
        window = self._windows.setdefault(app_key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.config.rest_rate_per_s:
            self.rate_limited[app_key] += 1
            raise api_error(500, "EGW00201", "초당 거래건수를 초과하였습니다.")
        window.append(now)
        self.rest_calls[app_key] += 1

    def issue_token(self, app_key: str, app_secret: str) -> dict[str, Any]:
        self.check_app(app_key, app_secret)
        now = time.monotonic()
        last = self._last_token.get(app_key)
        if last is not None and now - last < self.config.token_interval_s:
            raise Rejection(
                403, _token_error("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
            )
        self._last_token[app_key] = now
        self.token_issuances[app_key] += 1
        token = secrets.token_urlsafe(48)
        expires_ms = self.clock.now_ms() + self.config.token_ttl_s * 1000
        self.tokens[token] = (app_key, expires_ms)
        expired_at = datetime.fromtimestamp(expires_ms / 1000, KST).strftime("%Y-%m-%d %H:%M:%S")
        return {
            "access_token": token,
            "access_token_token_expired": expired_at,
            "token_type": "Bearer",
            "expires_in": self.config.token_ttl_s,
        }

    def issue_approval(self, body: dict[str, Any]) -> dict[str, str]:
        if "secretkey" not in body:
            detail = "유효하지 않은 AppSecret입니다. (body field secretkey required)"
            raise Rejection(403, _token_error("EGW00105", detail))
        self.check_app(str(body.get("appkey", "")), str(body.get("secretkey", "")))
        key = secrets.token_hex(18)  # 36 characters, like KIS's
        self.approvals[key] = str(body["appkey"])
        return {"approval_key": key}

    def revoke(self, body: dict[str, Any]) -> dict[str, str]:
        """``/oauth2/revokeP``: the token stops working (KIS answers code 200 and a message)."""
        self.check_app(str(body.get("appkey", "")), str(body.get("appsecret", "")))
        entry = self.tokens.get(str(body.get("token", "")))
        if entry is None or entry[0] != body.get("appkey"):
            raise Rejection(403, _token_error("EGW00121", "유효하지 않은 token 입니다."))
        del self.tokens[str(body["token"])]
        return {"code": "200", "message": "접근토큰 폐기에 성공하였습니다"}

    def hashkey(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """``/uapi/hashkey``: a digest of an order body (optional for orders; KIS still serves it)."""
        h = request.headers
        app_key = h.get("appkey", "")
        if not app_key or app_key not in self.secrets or self.secrets[app_key] != h.get("appsecret", ""):
            raise api_error(500, "EGW00103", "유효하지 않은 AppKey입니다.")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return {"BODY": body, "HASH": digest}

    # -- HTTP entry point -------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        path = "/" + request.path.lstrip("/")  # clients that join "base/" and "/uapi/..." send //uapi/...
        if request.query and any(k != k.upper() for k in request.query):  # KIS reads query names case-blind
            upper = {k.upper(): v for k, v in request.query.items()}
            request = request.clone(rel_url=request.rel_url.with_query(upper))
        try:
            if request.method == "POST" and path == "/oauth2/tokenP":
                body = await _json_body(request)
                return _json(200, self.issue_token(str(body.get("appkey", "")), str(body.get("appsecret", ""))))
            if request.method == "POST" and path == "/oauth2/Approval":
                return _json(200, self.issue_approval(await _json_body(request)))
            if request.method == "POST" and path == "/oauth2/revokeP":
                return _json(200, self.revoke(await _json_body(request)))
            if request.method == "POST" and path == "/uapi/hashkey":
                return _json(200, self.hashkey(request, await _json_body(request)))
            route = self.routes.get((request.method, path))
            if route is None:
                raise api_error(404, "SIM00404", f"no such endpoint: {request.method} {request.path}")
            tr_ids, handler = route
            tr_id = self.authorize(request, tr_ids)
            response = await handler(self, request, tr_id)
            if "tr_cont" not in response.headers:  # KIS's gateway sends it on every answer (clients read it)
                response.headers["tr_cont"] = "D"
            return response
        except Rejection as rej:
            return _json(rej.status, rej.body)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # the session sees pong frames (PINGPONG answers)
        await ws.prepare(request)
        session = SimSession(self, ws)
        self.all_sessions.add(session)
        await session.run()
        return ws


def _token_error(code: str, description: str) -> dict[str, str]:
    return {"error_code": code, "error_description": description}


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Rejection(400, {"rt_cd": "1", "msg_cd": "EGW00002", "msg1": "JSON 형식이 아닙니다."}) from None
    if not isinstance(body, dict):
        raise Rejection(400, {"rt_cd": "1", "msg_cd": "EGW00002", "msg1": "JSON 형식이 아닙니다."})
    return body


SIMULATOR: web.AppKey[KisSimulator] = web.AppKey("kis_simulator", KisSimulator)


def create_simulator_app(config: SimulatorConfig | None = None, clock: Clock | None = None) -> web.Application:
    """The simulator as an aiohttp app; its :class:`KisSimulator` is ``app[SIMULATOR]``."""
    sim = KisSimulator(config or SimulatorConfig(), clock)
    app = web.Application()
    app[SIMULATOR] = sim

    async def close_sessions(_: web.Application) -> None:
        await sim.orders.close()
        await sim.drop_all()
        if sim.config.state_file:
            sim.market.save(sim.config.state_file)

    async def load_calendar(_: web.Application) -> None:  # the KRX calendar takes a second or more to build
        from engine.brokers.kis.sim_market import warm_up

        await asyncio.get_running_loop().run_in_executor(None, warm_up, sim.clock.now_ms())
        if sim.config.state_file:
            continued = sim.market.load(sim.config.state_file)
            log.info("kis-sim: %d codes continue their walk from %s", continued, sim.config.state_file)

    app.on_startup.append(load_calendar)
    app.on_shutdown.append(close_sessions)
    app.router.add_route("*", "/{tail:.*}", sim.dispatch)
    return app


class Running:
    """A simulator serving on 127.0.0.1: its :class:`KisSimulator` and where to reach it."""

    def __init__(self, sim: KisSimulator, port: int) -> None:
        self.sim = sim
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/tryitout"


@asynccontextmanager
async def running_simulator(config: SimulatorConfig, clock: Clock | None = None) -> AsyncIterator[Running]:
    """The simulator in this process on a free port of 127.0.0.1 (tests and benchmarks)."""
    app = create_simulator_app(config, clock)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Running(app[SIMULATOR], runner.addresses[0][1])
    finally:
        await runner.cleanup()


# -- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``autotrader kis-sim``."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9443, help="0 picks a free port")
    parser.add_argument("--codes", nargs="*", default=[], help="accepted codes (default: any)")
    parser.add_argument("--rate", type=float, default=5.0, help="frames per second per subscription")
    parser.add_argument("--max-subscriptions", type=int, default=41, help="per WebSocket session")
    parser.add_argument("--rest-rate", type=int, default=None,
                        help="REST calls per second per app key (default 20; 2 with --paper, as KIS's 모의투자)")
    parser.add_argument("--pingpong-interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--paper", action="store_true", help="behave as the paper-trading (모의투자) server")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trade-fields", type=int, default=46, help="H0STCNT0 record width (47: as seen live)")
    parser.add_argument("--quote-fields", type=int, default=59, help="H0STASP0 record width (62: as seen live)")
    parser.add_argument("--state", default="", metavar="FILE",
                        help="save the walk here on shutdown and continue it from here on start")
    parser.add_argument("--holiday", action="append", default=[], metavar="YYYYMMDD",
                        help="a day KRX is closed though the library calendar says it trades (repeatable): "
                             "the holiday inquiry (CTCA0903R) answers N and the market stands still")
    parser.add_argument("--app", action="append", default=[], metavar="KEY:SECRET",
                        help="a known app key and secret (repeatable); default: any key, its secret bound on first use")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        codes=tuple(args.codes),
        seed=args.seed,
        rate=args.rate,
        max_subscriptions=args.max_subscriptions,
        rest_rate_per_s=args.rest_rate if args.rest_rate is not None else (2 if args.paper else 20),
        pingpong_interval_s=args.pingpong_interval,
        paper=args.paper,
        trade_fields=args.trade_fields,
        state_file=args.state,
        quote_fields=args.quote_fields,
        apps=tuple(tuple(a.split(":", 1)) for a in args.app if ":" in a),  # type: ignore[misc]
        holidays=tuple(args.holiday),
    )


async def serve(host: str, port: int, config: SimulatorConfig, ready: Callable[[str, int], None]) -> None:
    """Serve until cancelled; ``ready(host, port)`` is called once listening."""
    runner = web.AppRunner(create_simulator_app(config))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        ready(host, runner.addresses[0][1])
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def settings_lines(host: str, port: int, paper: bool) -> list[str]:
    prefix = "AUTOTRADER_KIS_PAPER_" if paper else "AUTOTRADER_KIS_"
    return [
        "AUTOTRADER_MARKET_DATA=kis",
        f"{prefix}REST_URL=http://{host}:{port}",
        f"{prefix}WS_URL=ws://{host}:{port}",
        *(["AUTOTRADER_KIS_PAPER=true"] if paper else []),
        "AUTOTRADER_KIS_APP_KEY=sim-app-key",  # the simulator accepts any key/secret pair
        "AUTOTRADER_KIS_APP_SECRET=sim-app-secret",
    ]


def run(args: argparse.Namespace) -> int:
    """``autotrader kis-sim``: serve until interrupted; prints the settings to use."""
    config = config_from_args(args)

    def ready(host: str, port: int) -> None:
        print(f"kis-sim listening on http://{host}:{port}", flush=True)
        print("settings for the server:", flush=True)
        for line in settings_lines(host, port, config.paper):
            print(f"  {line}", flush=True)

    try:
        asyncio.run(serve(args.host, args.port, config, ready))
    except KeyboardInterrupt:
        return 0
    return 0
