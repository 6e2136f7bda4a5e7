"""``KisBroker``: one KIS account's orders, balance and fill notices (the Broker protocol).

Orders (``order-cash``) are sent once — :meth:`KisRest.post` never retries — and the
answer is classified for the caller (KIS_PROTOCOL.md §4.1, §5):

- HTTP 200 with ``rt_cd != "0"``: the order system's verdict → :class:`OrderRejected`
  with the broker's ``msg_cd`` / ``msg1``. So is an HTTP 5xx whose body carries an order
  system code (``APBK...``, ``OPSQ...``) or a gateway code that refuses a request
  before it is forwarded (bad token/app key/headers, a tr_id of the other mode).
- ``EGW00201`` (HTTP 500 or 200): KIS's API gateway counts calls per app key per
  second and refuses the excess with this code *instead of forwarding the call*
  ("초당 거래건수를 초과하였습니다"; official samples wait and call again) → the order
  was not taken: :class:`BrokerUnavailable`, safe to retry later.
- Connection refused (the request never left) or no token: :class:`BrokerUnavailable`.
- A timeout, a dropped connection, a 5xx with no body, a non-JSON body or an unknown
  code: the order may or may not exist → :class:`OutcomeUnknown`. Never resent here;
  the caller reconciles with :meth:`orders_today`.

A holding's market (KOSPI / KOSDAQ) is not in inquire-balance: the keyring's
:class:`~engine.brokers.kis.listings.KisListings` learns each code once from
search-info, in the background after the balance read that first shows it (the
read never waits; until then the holding's ``market`` is ``""``, null in the API).

Inquiries (``inquire-daily-ccld``, ``inquire-balance``) follow KIS paging (response
``tr_cont`` F/M = more; request ``tr_cont: N`` with the ``CTX_AREA_FK100/NK100`` of the
previous page) and raise :class:`BrokerUnavailable` with the broker's words on failure.

Fill notices: :meth:`subscribe_fills` joins the app key's one WebSocket session (a
:class:`~engine.brokers.kis.key_session.KeySession` of the keyring, H0STCNI0 /
H0STCNI9 keyed by the HTS id) and calls the listener with a :class:`BrokerFill` per
fill. KIS allows one WebSocket session per app key (a second is refused with
OPSP8996), so the session is shared: by every account on the key and by the
market-data source when the key is also a market-data key. Pass the process's
``keyring=``; alone, the broker makes a private one (its own session).

REST calls share the app key's :class:`Throttle` and token (pass ``rest=`` to share a
:class:`KisRest` of the same app key); every call and the WebSocket have timeouts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp
import msgspec

from engine.brokers.base import (
    AmendAck,
    BrokerBalance,
    BrokerOrderStatus,
    CancelRequest,
    ModifyRequest,
    BrokerUnavailable,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
)
from engine.brokers.http import client_session
from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import KisApiError, KisError, KisRateLimited, KisTokenError, KisTransportError
from engine.brokers.kis.frames import TR_NOTICE, TR_NOTICE_PAPER, VENUES
from engine.brokers.kis.inquiries import (
    BALANCE_PATH,
    CCLD_PATH,
    balance_from,
    balance_params,
    ccld_params,
    kst_ms,
    number,
    statuses_from,
)
from engine.brokers.kis.notice_stream import FillFeed, FillListener, StatusListener
from engine.brokers.kis.rest import KisRest
from engine.brokers.kis.keyring import KisKeyring
from engine.brokers.kis.listings import KisListings
from engine.brokers.kis.throttle import Throttle, default_rate
from engine.market.krx import kst_date
from engine.runtime.clock import Clock
from engine.settings import Settings

log = logging.getLogger(__name__)

ORDER_PATH = "/uapi/domestic-stock/v1/trading/order-cash"
RVSECNCL_PATH = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
PSBL_RVSECNCL_PATH = "/uapi/domestic-stock/v1/trading/inquire-psbl-rvsecncl"
PSBL_ORDER_PATH = "/uapi/domestic-stock/v1/trading/inquire-psbl-order"
PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
TR_PRICE = "FHKST01010100"  # 주식현재가 시세: the same tr_id in both modes
TR_BUY, TR_SELL, TR_RVSECNCL = "TTTC0012U", "TTTC0011U", "TTTC0013U"
TR_BALANCE, TR_CCLD = "TTTC8434R", "TTTC0081R"
TR_PSBL_RVSECNCL, TR_PSBL_ORDER = "TTTC0084R", "TTTC8908R"
MAX_PAGES = 200
# Gateway codes that refuse a call before it reaches the order system (KIS_PROTOCOL.md §5).
REFUSED_BEFORE_FORWARDING = frozenset(
    {"EGW00002", "EGW00103", "EGW00105", "EGW00121", "EGW00123", "EGW00205", "EGW00213", "OPSQ0002"}
)


class KisAccount(Protocol):
    """What the broker needs of an account's credentials (storage.AccountCredentials fits)."""

    account_number: str  # 10 digits: CANO (8) + ACNT_PRDT_CD (2)
    app_key: str
    app_secret: str
    hts_id: str | None
    paper_trading: bool


def mode_tr_id(tr_id: str, paper: bool) -> str:
    """Paper trading (모의투자) uses ``V`` for ``T``/``J``/``C``-prefixed tr_ids."""
    return "V" + tr_id[1:] if paper and tr_id[:1] in ("T", "J", "C") else tr_id


class KisBroker:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        credentials: KisAccount,
        http: aiohttp.ClientSession | None = None,
        *,
        rest: KisRest | None = None,
        keyring: KisKeyring | None = None,
    ) -> None:
        number = credentials.account_number
        if len(number) != 10 or not number.isdigit():
            raise ValueError("a KIS account number has 10 digits (CANO 8 + ACNT_PRDT_CD 2)")
        self.paper = credentials.paper_trading
        self._cano, self._product = number[:8], number[8:]
        self._creds = credentials
        self._clock = clock
        self._rest_url = settings.kis_paper_rest_url if self.paper else settings.kis_rest_url
        self._rate = settings.kis_rest_rate_per_s or default_rate(self.paper)
        self._timeout_s = settings.kis_timeout_s
        self._ca_file = settings.ca_file
        self._exchange = VENUES[settings.kis_venue][2]  # EXCG_ID_DVSN_CD (AUTOTRADER_KIS_VENUE)
        self._market_code = VENUES[settings.kis_venue][3]  # FID_COND_MRKT_DIV_CODE of the quotations
        self._limits: dict[str, tuple[str, tuple[int, int]]] = {}  # code -> (KST day, (lower, upper))
        self._settings = settings
        self._keyring = keyring
        self._owns_keyring = keyring is None
        self._http = http
        self._owns_http = http is None
        self._rest = rest if rest is not None and rest.auth.app_key == credentials.app_key else None
        self.fill_feed: FillFeed | None = None  # the notice connection, once subscribe_fills was called
        self.listings = keyring.listings if keyring is not None else KisListings()  # holdings' markets
        self._learning: set[asyncio.Task[None]] = set()
        self._orgno: dict[str, str] = {}  # ODNO -> KRX_FWDG_ORD_ORGNO of the orders this process placed

    def __repr__(self) -> str:
        return f"KisBroker(account=******{self._creds.account_number[-4:]}, paper={self.paper})"

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = client_session(self._ca_file)
        return self._http

    def _client(self) -> KisRest:
        if self._rest is None:
            self._session()
            assert self._http is not None
            auth = KisAuth(
                self._http,
                self._rest_url,
                self._creds.app_key,
                self._creds.app_secret,
                self._clock,
                timeout_s=self._timeout_s,
            )
            self._rest = KisRest(
                self._http, self._rest_url, auth, Throttle(self._rate, self._clock), timeout_s=self._timeout_s
            )
        return self._rest

    # -- orders ------------------------------------------------------------------------

    async def place_order(self, req: OrderRequest) -> OrderAck:
        """Send once: market (ORD_DVSN 01, ORD_UNPR "0") when ``req.price`` is None, else limit (00)."""
        body = {
            "CANO": self._cano,
            "ACNT_PRDT_CD": self._product,
            "PDNO": req.code,
            "ORD_DVSN": "01" if req.price is None else "00",
            "ORD_QTY": str(req.quantity),
            "ORD_UNPR": "0" if req.price is None else str(req.price),
            "EXCG_ID_DVSN_CD": self._exchange,
            "SLL_TYPE": "01" if req.side == "sell" else "",
            "CNDT_PRIC": "",
        }
        tr_id = mode_tr_id(TR_BUY if req.side == "buy" else TR_SELL, self.paper)
        output = await self._order_call(ORDER_PATH, tr_id, body)
        odno = str(output.get("ODNO", "")).strip()
        tmd = str(output.get("ORD_TMD", ""))
        self._orgno[odno] = str(output.get("KRX_FWDG_ORD_ORGNO", "")).strip()
        log.info(
            "KIS order %s: %s %s x%d -> ODNO %s", req.client_order_id, req.side, req.code, req.quantity, odno
        )
        return OrderAck(broker_order_no=odno, accepted_ms=kst_ms(self._clock.now_ms(), "", tmd))

    async def _order_call(self, path: str, tr_id: str, body: dict[str, str]) -> dict:
        """POST an order-system call once and classify the answer (module doc); its ``output``."""
        rest = self._client()
        try:
            await rest.auth.access_token()  # a token problem is found before anything is sent
        except KisError as exc:
            raise BrokerUnavailable(f"no KIS access token: {exc}", getattr(exc, "code", "")) from exc
        try:
            resp = await rest.post(path, tr_id, body)
        except KisRateLimited as exc:
            raise BrokerUnavailable(exc.message, exc.code) from exc
        except KisTokenError as exc:
            raise BrokerUnavailable(exc.message, exc.code) from exc
        except KisApiError as exc:
            if (
                exc.status == 200
                or exc.code.startswith(("APBK", "OPSQ"))
                or exc.code in REFUSED_BEFORE_FORWARDING
            ):
                raise OrderRejected(exc.message, exc.code) from exc
            raise OutcomeUnknown(f"HTTP {exc.status} without a verdict: {exc.message}", exc.code) from exc
        except KisTransportError as exc:
            if not exc.sent:  # the connection failed: nothing reached KIS
                raise BrokerUnavailable(str(exc)) from exc
            raise OutcomeUnknown(str(exc)) from exc
        output = resp.body.get("output")
        if not isinstance(output, dict) or not str(output.get("ODNO", output.get("odno", ""))).strip():
            raise OutcomeUnknown(
                f"success answer without ODNO: {resp.body.get('msg1', '')}", str(resp.body.get("msg_cd", ""))
            )
        return {k.upper(): v for k, v in output.items()}

    # -- cancel and modify (order-rvsecncl) ---------------------------------------------

    async def cancel_order(self, req: CancelRequest) -> AmendAck:
        """RVSE_CNCL_DVSN_CD 02 for the whole remainder (QTY_ALL_ORD_YN Y)."""
        output = await self._rvsecncl(req.broker_order_no, "02", req.quantity, req.price or 0, all_qty=True,
                                      market=req.price is None)
        return AmendAck(broker_order_no=str(output["ODNO"]).strip(), quantity=req.quantity)

    async def modify_order(self, req: ModifyRequest) -> AmendAck:
        """A lower quantity is a partial cancel (02, QTY_ALL_ORD_YN N, the shares dropped); a new price
        a modify of the whole remainder (01, QTY_ALL_ORD_YN Y), which KIS answers with a new ODNO."""
        odno = req.broker_order_no
        if req.quantity < req.remaining:
            out = await self._rvsecncl(odno, "02", req.remaining - req.quantity, req.old_price, all_qty=False)
            if req.price == req.old_price:
                return AmendAck(broker_order_no=odno, quantity=req.quantity)
        out = await self._rvsecncl(odno, "01", req.quantity, req.price, all_qty=True)
        return AmendAck(broker_order_no=str(out["ODNO"]).strip(), quantity=req.quantity)

    async def _rvsecncl(self, odno: str, kind: str, qty: int, price: int, *, all_qty: bool,
                        market: bool = False) -> dict:
        orgno = self._orgno.get(odno) or await self._order_branch(odno)
        body = {
            "CANO": self._cano,
            "ACNT_PRDT_CD": self._product,
            "KRX_FWDG_ORD_ORGNO": orgno,
            "ORGN_ODNO": odno,
            "ORD_DVSN": "01" if market else "00",
            "RVSE_CNCL_DVSN_CD": kind,
            "ORD_QTY": "0" if all_qty and kind == "02" else str(qty),
            "ORD_UNPR": "0" if market else str(price),
            "QTY_ALL_ORD_YN": "Y" if all_qty else "N",
            "EXCG_ID_DVSN_CD": "KRX",
            "CNDT_PRIC": "",
        }
        output = await self._order_call(RVSECNCL_PATH, mode_tr_id(TR_RVSECNCL, self.paper), body)
        new = str(output["ODNO"]).strip()
        self._orgno[new] = str(output.get("KRX_FWDG_ORD_ORGNO", orgno)).strip() or orgno
        log.info("KIS %s of ODNO %s: %d shares -> ODNO %s", "cancel" if kind == "02" else "modify", odno, qty, new)
        return output

    async def _order_branch(self, odno: str) -> str:
        """The order's KRX_FWDG_ORD_ORGNO when this process did not place it: inquire-psbl-rvsecncl on a
        real account (TTTC0084R, which 모의투자 lacks), inquire-daily-ccld on a paper one."""
        if not self.paper:
            params = {"CANO": self._cano, "ACNT_PRDT_CD": self._product, "CTX_AREA_FK100": "",
                      "CTX_AREA_NK100": "", "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"}
            pages = await self._pages(PSBL_RVSECNCL_PATH, TR_PSBL_RVSECNCL, params)
            key = "output"
        else:
            params = {**ccld_params(self._cano, self._product, self._clock.now_ms()), "ODNO": odno}
            pages = await self._pages(CCLD_PATH, mode_tr_id(TR_CCLD, self.paper), params)
            key = "output1"
        for body in pages:
            rows = body.get(key)
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict) and str(row.get("odno", "")).strip() == odno:
                    return str(row.get("ord_gno_brno", "")).strip()
        raise OrderRejected(f"order {odno} is not open for a cancel or modify at KIS", "not_cancellable")

    # -- inquiries -----------------------------------------------------------------------

    async def orders_today(self) -> list[BrokerOrderStatus]:
        """Today's (KST) orders via inquire-daily-ccld, every page."""
        return await self.orders_on("")

    async def orders_on(self, day: str) -> list[BrokerOrderStatus]:
        """The orders of KST ``day`` (YYYYMMDD; "" today) via inquire-daily-ccld, every page."""
        params = ccld_params(self._cano, self._product, self._clock.now_ms(), day or None)
        pages = await self._pages(CCLD_PATH, mode_tr_id(TR_CCLD, self.paper), params)
        return statuses_from(pages, self._clock.now_ms())

    async def balance(self) -> BrokerBalance:
        """Cash (dnca_tot_amt, D+1, D+2) and holdings with hldg_qty > 0 via inquire-balance, every page;
        buying power (ord_psbl_cash) via inquire-psbl-order."""
        params = balance_params(self._cano, self._product)
        pages = await self._pages(BALANCE_PATH, mode_tr_id(TR_BALANCE, self.paper), params)
        try:
            balance = balance_from(pages)
        except ValueError as exc:
            raise BrokerUnavailable(f"unreadable balance: {exc}") from exc
        psbl = {"CANO": self._cano, "ACNT_PRDT_CD": self._product, "PDNO": "", "ORD_UNPR": "",
                "ORD_DVSN": "01", "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"}
        body = (await self._pages(PSBL_ORDER_PATH, mode_tr_id(TR_PSBL_ORDER, self.paper), psbl))[0]
        output = body.get("output")
        try:
            orderable = number(output.get("ord_psbl_cash")) if isinstance(output, dict) else None
        except ValueError as exc:
            raise BrokerUnavailable(f"unreadable inquire-psbl-order: {exc}") from exc
        if orderable is None:
            raise BrokerUnavailable("inquire-psbl-order answer without output.ord_psbl_cash")
        self._learn_markets([h.code for h in balance.holdings])
        holdings = [msgspec.structs.replace(h, market=self.listings.market(h.code) or "") for h in balance.holdings]
        return msgspec.structs.replace(balance, holdings=holdings, orderable=orderable)

    def market_of(self, code: str) -> str | None:
        """The code's market as KIS told it (search-info), None while unknown: a sale's tax uses it."""
        return self.listings.market(code)

    def _learn_markets(self, codes: list[str]) -> None:
        """inquire-balance does not say a holding's market: learn the unknown ones in the background
        (:mod:`engine.brokers.kis.listings`), never holding the balance read up."""
        task = self.listings.learn(self._client(), codes)
        if task is not None:
            self._learning.add(task)
            task.add_done_callback(self._learning.discard)

    async def price_limits(self, code: str) -> tuple[int, int] | None:
        """Today's (lower, upper) of ``code`` as the exchange set them: inquire-price's ``stck_llam`` /
        ``stck_mxpr``, asked once per code and KST day. None when KIS cannot answer now (the caller
        falls back to the limits computed from the base price)."""
        day = kst_date(self._clock.now_ms()).isoformat()
        known = self._limits.get(code)
        if known is not None and known[0] == day:
            return known[1]
        params = {"FID_COND_MRKT_DIV_CODE": self._market_code, "FID_INPUT_ISCD": code}
        try:
            resp = await self._client().get(PRICE_PATH, TR_PRICE, params)
            output = resp.body.get("output")
            lower = number(output.get("stck_llam")) if isinstance(output, dict) else None
            upper = number(output.get("stck_mxpr")) if isinstance(output, dict) else None
        except (KisError, ValueError) as exc:
            log.warning("%r: the exchange's limits of %s unknown (%s); computed ones apply", self, code, exc)
            return None
        if not lower or not upper or lower > upper:
            log.warning("%r: inquire-price gave no usable limits for %s; computed ones apply", self, code)
            return None
        self._limits[code] = (day, (lower, upper))
        return lower, upper

    async def _pages(self, path: str, tr_id: str, params: dict[str, str]) -> list[dict]:
        rest = self._client()
        bodies: list[dict] = []
        tr_cont = ""
        for _ in range(MAX_PAGES):
            try:
                resp = await rest.get(path, tr_id, params, tr_cont=tr_cont)
            except KisApiError as exc:
                raise BrokerUnavailable(exc.message, exc.code) from exc
            except KisError as exc:
                raise BrokerUnavailable(str(exc)) from exc
            bodies.append(resp.body)
            if resp.headers.get("tr_cont", "") not in ("F", "M"):
                return bodies
            tr_cont = "N"
            params = {
                **params,
                "CTX_AREA_FK100": str(resp.body.get("ctx_area_fk100", "")),
                "CTX_AREA_NK100": str(resp.body.get("ctx_area_nk100", "")),
            }
        raise BrokerUnavailable(f"{path}: more than {MAX_PAGES} pages")

    # -- fill notices ----------------------------------------------------------------------

    @property
    def notice_tr_id(self) -> str:
        return TR_NOTICE_PAPER if self.paper else TR_NOTICE

    async def subscribe_fills(
        self, listener: FillListener, *, on_status: StatusListener | None = None
    ) -> bool:
        """Call ``listener`` with each fill of this account from now on (see base.FillNotifier).

        True once the notice subscription is live; False when there is no HTS id, KIS
        refused the subscription, or the connection did not come up within ``kis_timeout_s`` (it keeps trying; ``on_status(live, detail)``
        reports each change so the caller can reconcile after a gap).
        """
        hts_id = self._creds.hts_id
        if not hts_id:
            log.warning("%r: no HTS id, fill notices off (reconcile with orders_today)", self)
            return False
        if self.fill_feed is None:
            if self._keyring is None:
                self._keyring = KisKeyring(self._settings, self._clock, http=self._session())
            session = self._keyring.session(self._client().auth, self.paper)
            self.fill_feed = FillFeed(f"kis-notices-{self._cano[-4:]}", session, self._clock,
                                      tr_id=self.notice_tr_id, hts_id=hts_id,
                                      account_number=self._creds.account_number)
        return await self.fill_feed.start(listener, on_status, self._timeout_s)

    async def close(self) -> None:
        learning, self._learning = self._learning, set()
        for task in learning:
            task.cancel()
        await asyncio.gather(*learning, return_exceptions=True)
        feed, self.fill_feed = self.fill_feed, None
        if feed is not None:
            await feed.stop()
        ring, self._keyring = self._keyring, None
        if ring is not None and self._owns_keyring:
            await ring.close()
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            await http.close()
