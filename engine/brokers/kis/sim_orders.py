"""The KIS simulator's order book: accounts, cash orders, fills and fill notices.

One :class:`SimOrders` per simulator (``sim.orders``). An account is CANO (8 digits)
+ ACNT_PRDT_CD ("01"); the first app key that uses an account number opens it with
:attr:`SimOrders.initial_cash` (like a fresh 모의투자 account), unless
:attr:`SimOrders.auto_open` is off; another app key using it gets "unknown account".

- Market orders fill at once, whole, at the walk's current price for the code. A
  market buy needs cash for the quantity at the day's upper limit (KIS prices
  market buys at 상한가 when checking the orderable amount).
- Limit orders on the tick grid and inside the daily limits; a marketable one fills
  at once at the current price, the rest rest until the walk crosses them (a
  walker task steps the code's walk while orders rest) and fill at their limit.
- Cash and holdings move on each fill (no commission or tax in the simulator). Cash
  settles at D+2 as on KRX: ``dnca_tot_amt`` (예수금) moves only when a trade settles
  two business days later, ``nxdy_excc_amt`` / ``prvs_rcdl_excc_amt`` are the cash after
  D+1's and D+2's settlements, and ``ord_psbl_cash`` (주문가능금액) is the D+2 cash less
  what open buys reserve (their value; a market buy's at the day's upper limit).
- ``order-rvsecncl``: cancel (02) the remainder or part of it (QTY_ALL_ORD_YN), or modify
  (01) its price: each answer has a new ODNO whose row in inquire-daily-ccld names the
  original (``orgn_odno``); the original keeps its fills and shows the moved or cancelled
  shares in ``cnc_cfrm_qty`` with no remainder.
- Each order gets an acceptance notice (CNTG_YN 1) and each fill a fill notice
  (CNTG_YN 2) on H0STCNI0 (H0STCNI9 when ``paper``), AES-encrypted with the key/iv of
  the subscription's acknowledgement, to the app key's session subscribed with the
  account's HTS id (any HTS id when the account was opened without one).

Test hooks: :meth:`open_account`, :meth:`set_price`, :meth:`stall_next` (the order
is placed, the answer withheld until :meth:`release`), :meth:`fail_next` (an HTTP
status and body instead of the answer, with or without placing the order),
:attr:`order_calls`, and page sizes :attr:`balance_page` / :attr:`ccld_page`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from engine.brokers.kis.frames import TR_NOTICE, TR_NOTICE_PAPER, encrypt
from engine.market.krx import is_on_tick

if TYPE_CHECKING:
    from engine.brokers.kis.simulator import KisSimulator

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
BRANCH = "91252"


class OrderError(Exception):
    """A KIS order rejection (HTTP 200, ``rt_cd`` "1")."""

    def __init__(self, msg_cd: str, msg1: str) -> None:
        super().__init__(f"{msg_cd} {msg1}")
        self.msg_cd = msg_cd
        self.msg1 = msg1


class Fault:
    """What the next order-cash call does instead of answering normally."""

    __slots__ = ("kind", "status", "body", "place")

    def __init__(
        self, kind: Literal["stall", "fail"], status: int = 0, body: Any = None, place: bool = False
    ) -> None:
        self.kind = kind
        self.status = status
        self.body = body
        self.place = place


class SimAccount:
    __slots__ = ("cano", "product", "app_key", "hts_id", "cash", "holdings", "unsettled")

    def __init__(self, cano: str, product: str, cash: int, app_key: str | None, hts_id: str | None) -> None:
        self.cano = cano
        self.product = product
        self.app_key = app_key
        self.hts_id = hts_id
        self.cash = cash  # after every settlement (D+2)
        self.holdings: dict[str, list[int]] = {}  # code -> [quantity, total cost]; kept at 0 once sold
        self.unsettled: list[tuple[str, int]] = []  # (settlement day YYYYMMDD, cash delta) of trades

    def cash_on(self, day: str) -> int:
        """The cash once every settlement due by ``day`` is made."""
        return self.cash - sum(delta for settles, delta in self.unsettled if settles > day)


def business_days_after(day: str, n: int) -> str:
    """``day`` + ``n`` weekdays (KRX holidays ignored in the simulator)."""
    d = datetime.strptime(day, "%Y%m%d")
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d.strftime("%Y%m%d")


class SimOrder:
    __slots__ = (
        "odno",
        "account",
        "app_key",
        "code",
        "side",
        "kind",
        "qty",
        "price",
        "filled",
        "amount",
        "day",
        "tmd",
        "orgn",
        "cancelled",
        "is_cancel",
    )

    def __init__(
        self,
        odno: str,
        account: SimAccount,
        app_key: str,
        code: str,
        side: str,
        kind: str,
        qty: int,
        price: int,
        day: str,
        tmd: str,
    ) -> None:
        self.odno = odno
        self.account = account
        self.app_key = app_key
        self.code = code
        self.side = side  # "buy" | "sell"
        self.kind = kind  # ORD_DVSN "00" limit | "01" market
        self.qty = qty
        self.price = price  # limit price; 0 for market
        self.filled = 0
        self.amount = 0  # sum of fill quantity x price
        self.day = day  # YYYYMMDD KST
        self.tmd = tmd  # HHMMSS KST
        self.orgn = ""  # a cancel or modify order: the ODNO it changed
        self.cancelled = 0  # shares cancelled, or moved to a modify order
        self.is_cancel = False  # a cancel order (its own row: cncl_yn Y)

    @property
    def open(self) -> bool:
        return not self.is_cancel and self.filled + self.cancelled < self.qty

    @property
    def remaining(self) -> int:
        return 0 if self.is_cancel else self.qty - self.filled - self.cancelled


class SimOrders:
    def __init__(self, sim: KisSimulator) -> None:
        self.sim = sim
        self.exchanges: Counter[str] = Counter()  # orders by EXCG_ID_DVSN_CD
        self.accounts: dict[tuple[str, str], SimAccount] = {}
        self.orders: list[SimOrder] = []
        self.auto_open = True
        self.initial_cash = 100_000_000
        self.balance_page: int | None = None  # None: 50 rows real, 20 paper
        self.ccld_page: int | None = None  # None: 100 rows real, 15 paper (inferred)
        self.order_calls = 0  # order-cash requests that reached the handler
        self.notices_sent = 0
        self._faults: deque[Fault] = deque()
        self._released = asyncio.Event()
        self._notices: asyncio.Queue[tuple[SimOrder, str]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._walker: asyncio.Task[None] | None = None
        self._seq = 0

    # -- test hooks ----------------------------------------------------------------

    def open_account(
        self,
        account_number: str,
        *,
        cash: int | None = None,
        app_key: str | None = None,
        hts_id: str | None = None,
        holdings: dict[str, tuple[int, int]] | None = None,
    ) -> SimAccount:
        """A 10-digit account; ``holdings`` maps code -> (quantity, average price)."""
        acct = SimAccount(
            account_number[:8],
            account_number[8:],
            self.initial_cash if cash is None else cash,
            app_key,
            hts_id,
        )
        for code, (qty, avg) in (holdings or {}).items():
            acct.holdings[code] = [qty, qty * avg]
        self.accounts[(acct.cano, acct.product)] = acct
        return acct

    def set_price(self, code: str, price: int) -> None:
        """Move the code's walk to ``price`` and fill the resting orders it crosses."""
        self.sim.market.set_price(code, price, self.now())
        self._match(code)

    def stall_next(self) -> None:
        """The next order is placed but its answer is withheld until :meth:`release`."""
        self._released.clear()
        self._faults.append(Fault("stall"))

    def fail_next(self, status: int, body: dict[str, Any] | str, *, place: bool = False) -> None:
        """The next order-cash call answers ``status`` with ``body`` (``place``: after placing the order)."""
        self._faults.append(Fault("fail", status, body, place))

    def release(self) -> None:
        self._released.set()

    def take_fault(self) -> Fault | None:
        return self._faults.popleft() if self._faults else None

    async def withheld(self) -> None:
        await self._released.wait()

    async def close(self) -> None:
        self.release()
        tasks = [*self._tasks, *([self._walker] if self._walker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._walker = None

    # -- accounts and orders ---------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now_ms() / 1000, KST)

    def account(self, cano: str, product: str, app_key: str) -> SimAccount:
        if len(cano) != 8 or not cano.isdigit() or product != "01":
            raise OrderError("OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO")  # (inferred)
        acct = self.accounts.get((cano, product))
        if acct is None and self.auto_open:
            acct = self.open_account(cano + product, app_key=app_key)
        if acct is None or (acct.app_key is not None and acct.app_key != app_key):
            raise OrderError("APBK0560", "계좌번호를 확인하여 주십시오.")  # (inferred)
        acct.app_key = app_key
        return acct

    def place(self, acct: SimAccount, app_key: str, side: str, body: dict[str, str]) -> SimOrder:
        code = body.get("PDNO", "")
        kind = body.get("ORD_DVSN", "")
        exchange = body.get("EXCG_ID_DVSN_CD", "") or "KRX"  # absent in old clients: KRX
        if exchange not in ("KRX", "NXT", "SOR"):
            raise OrderError("APBK1747", "거래소ID구분코드를 확인하여 주십시오.")  # (inferred)
        self.exchanges[exchange] += 1
        codes = self.sim.config.codes
        if len(code) != 6 or not code.isalnum() or (codes and code not in codes):
            raise OrderError("APBK0656", "해당종목정보가 없습니다.")  # (inferred)
        if kind not in ("00", "01"):
            raise OrderError(
                "APBK0919", "주문구분을 확인하여 주십시오. (simulator: ORD_DVSN 00 or 01)"
            )  # (inferred)
        qty = _int(body.get("ORD_QTY", ""))
        if qty is None or qty <= 0:
            raise OrderError("APBK0400", "주문수량을 확인하여 주십시오.")  # (inferred)
        state = self.sim.market.state(code)
        lower, upper = state.limits()
        price = _int(body.get("ORD_UNPR", "")) if kind == "00" else 0
        if kind == "00":
            if price is None or price <= 0 or not is_on_tick(price):
                raise OrderError("APBK0506", "주문단가를 호가단위에 맞게 입력하여 주십시오.")  # (inferred)
            if not lower <= price <= upper:
                raise OrderError("APBK0508", "주문가격이 상하한가 범위를 벗어났습니다.")  # (inferred)
        assert price is not None
        if side == "buy":
            needed = qty * (price or upper)
            if needed > self.orderable_cash(acct):
                raise OrderError("APBK0952", "주문가능금액을 초과 했습니다")
        else:
            held = acct.holdings.get(code, [0, 0])[0]
            if qty > held - self._reserved_qty(acct, code):
                raise OrderError("APBK0986", "주문가능수량을 초과 하였습니다.")  # (inferred)
        now = self.now()
        self._seq += 1
        order = SimOrder(
            f"{self._seq:010d}",
            acct,
            app_key,
            code,
            side,
            kind,
            qty,
            price,
            now.strftime("%Y%m%d"),
            now.strftime("%H%M%S"),
        )
        self.orders.append(order)
        self._notice(order, "1")
        current = state.price
        if kind == "01" or (side == "buy" and current <= price) or (side == "sell" and current >= price):
            self._fill(order, order.qty, current)
        else:
            self._ensure_walker()
        return order

    def orderable_cash(self, acct: SimAccount) -> int:
        """ord_psbl_cash: the D+2 cash less what open buys reserve."""
        return acct.cash - self._reserved_cash(acct)

    def _reserved_cash(self, acct: SimAccount) -> int:
        total = 0
        for o in self.orders:
            if o.account is acct and o.side == "buy" and o.open:
                unit = o.price or self.sim.market.state(o.code).limits()[1]
                total += o.remaining * unit
        return total

    def _reserved_qty(self, acct: SimAccount, code: str) -> int:
        return sum(
            o.remaining
            for o in self.orders
            if o.account is acct and o.side == "sell" and o.code == code and o.open
        )

    def amend(self, acct: SimAccount, app_key: str, body: dict[str, str]) -> SimOrder:
        """order-rvsecncl: cancel (02) or modify (01) an open order; returns the new order."""
        orgn = body.get("ORGN_ODNO", "").strip()
        original = next((o for o in self.orders if o.odno == orgn and o.account is acct), None)
        kind = body.get("RVSE_CNCL_DVSN_CD", "")
        if original is None:
            raise OrderError("APBK0404", "원주문번호가 존재하지 않습니다.")  # (inferred)
        if body.get("KRX_FWDG_ORD_ORGNO", "").strip() != BRANCH:
            raise OrderError("APBK0411", "주문조직번호를 확인하여 주십시오.")  # (inferred)
        if kind not in ("01", "02"):
            raise OrderError("APBK0919", "정정취소구분코드를 확인하여 주십시오.")  # (inferred)
        if not original.open:
            raise OrderError("APBK0344", "정정/취소할 수량이 없습니다.")  # (inferred)
        all_qty = body.get("QTY_ALL_ORD_YN", "") == "Y"
        qty = original.remaining if all_qty else (_int(body.get("ORD_QTY", "")) or 0)
        if qty <= 0 or qty > original.remaining:
            raise OrderError("APBK0400", "주문수량을 확인하여 주십시오.")  # (inferred)
        price = original.price
        if kind == "01":
            price = _int(body.get("ORD_UNPR", "")) or 0
            lower, upper = self.sim.market.state(original.code).limits()
            if original.kind != "00" or price <= 0 or not is_on_tick(price) or not lower <= price <= upper:
                raise OrderError("APBK0506", "주문단가를 호가단위에 맞게 입력하여 주십시오.")  # (inferred)
            if original.side == "buy" and qty * (price - original.price) > self.orderable_cash(acct):
                raise OrderError("APBK0952", "주문가능금액을 초과 했습니다")
        now = self.now()
        self._seq += 1
        order = SimOrder(f"{self._seq:010d}", acct, app_key, original.code, original.side, original.kind, qty,
                         price, now.strftime("%Y%m%d"), now.strftime("%H%M%S"))
        order.orgn = original.odno
        order.is_cancel = kind == "02"
        original.cancelled += qty
        self.orders.append(order)
        self._notice(order, "1")
        if kind == "01":
            self._match(order.code)
            if order.open:
                self._ensure_walker()
        return order

    def _fill(self, order: SimOrder, qty: int, price: int) -> None:
        order.filled += qty
        order.amount += qty * price
        holding = order.account.holdings.setdefault(order.code, [0, 0])
        delta = -qty * price if order.side == "buy" else qty * price
        order.account.unsettled.append((business_days_after(order.day, 2), delta))
        if order.side == "buy":
            order.account.cash -= qty * price
            holding[0] += qty
            holding[1] += qty * price
        else:
            order.account.cash += qty * price
            holding[1] = holding[1] * (holding[0] - qty) // holding[0] if holding[0] else 0
            holding[0] -= qty
        self._notice(order, "2", qty, price)

    def _match(self, code: str) -> None:
        current = self.sim.market.state(code).price
        for order in self.orders:
            if order.code != code or not order.open or order.kind != "00":
                continue
            if (order.side == "buy" and current <= order.price) or (
                order.side == "sell" and current >= order.price
            ):
                self._fill(order, order.remaining, order.price)

    def _ensure_walker(self) -> None:
        if self._walker is None or self._walker.done():
            self._walker = asyncio.create_task(self._walk(), name="kis-sim-walker")

    async def _walk(self) -> None:
        """Step the walk of every code with resting orders, until none rest."""
        while True:
            codes = {o.code for o in self.orders if o.open}
            if not codes:
                return
            await asyncio.sleep(1.0 / self.sim.config.rate)
            now = self.now()
            for code in codes:
                self.sim.market.state(code, now)  # the walk at now
                self._match(code)

    # -- fill notices ------------------------------------------------------------------

    def _notice(self, order: SimOrder, cntg_yn: str, qty: int = 0, price: int = 0) -> None:
        record = self.notice_record(order, cntg_yn, qty, price)
        if self._notices is None:
            self._notices = asyncio.Queue()
            task = asyncio.create_task(self._send_notices(self._notices), name="kis-sim-notices")
            self._tasks.add(task)
        self._notices.put_nowait((order, record))

    def notice_record(self, order: SimOrder, cntg_yn: str, qty: int, price: int) -> str:
        """The 26 H0STCNI0 fields (KIS_PROTOCOL.md §3.7) joined by ``^``."""
        acct = order.account
        filled = cntg_yn == "2"
        # fmt: off
        fields = [
            acct.hts_id or "simuser", acct.cano + acct.product, order.odno, "",  # 0-3 CUST_ID .. OODER_NO
            "02" if order.side == "buy" else "01", "0", order.kind, "0", order.code,  # 4-8 side .. code
            str(qty if filled else order.qty), str(price if filled else order.price),  # 9-10 qty, price
            self.now().strftime("%H%M%S"), "0", cntg_yn, "2" if filled else "1",  # 11-14 .. ACPT_YN
            BRANCH, str(order.qty), "SIM ACCOUNT", "0", "1", "Y", "", "10", "",  # 15-23 BRNC_NO .. LOAN_DATE
            f"SIM{order.code}", str(order.price),  # 24-25 CNTG_ISNM40, ODER_PRC
        ]
        # fmt: on
        return "^".join(fields)

    async def _send_notices(self, queue: asyncio.Queue[tuple[SimOrder, str]]) -> None:
        tr_id = TR_NOTICE_PAPER if self.sim.config.paper else TR_NOTICE
        while True:
            order, record = await queue.get()
            hts_id = order.account.hts_id
            for session in list(self.sim.all_sessions):
                if session.app_key != order.app_key:
                    continue
                for (sub_tr, sub_key), (key, iv) in list(session.subs.items()):
                    if sub_tr == tr_id and (hts_id is None or sub_key == hts_id):
                        await session.send_text(f"1|{tr_id}|001|{encrypt(record, key, iv)}")
                        self.notices_sent += 1


def _int(text: object) -> int | None:
    if not isinstance(text, str) or not text.isdigit():
        return None
    return int(text)
