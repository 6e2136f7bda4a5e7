"""KIS account inquiries: query parameters and the rows they return as broker structs.

``inquire-daily-ccld`` (today's orders with their fills) and ``inquire-balance``
(cash and holdings), KIS_PROTOCOL.md §4.1-4.2. KIS sends every number as a string,
sometimes with decimals ("73100.0000") or zero-padding; rows are read leniently
(unknown fields ignored, a row that cannot be read is logged and skipped, never
guessed). Times are KST ``YYYYMMDD`` / ``HHMMSS``; structs carry UTC epoch ms.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from engine.brokers.base import BrokerBalance, BrokerOrderStatus, Holding

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
TRADING = "/uapi/domestic-stock/v1/trading"
BALANCE_PATH = f"{TRADING}/inquire-balance"
CCLD_PATH = f"{TRADING}/inquire-daily-ccld"
_SIDES = {"01": "sell", "02": "buy"}


def number(value: Any) -> int:
    """A KIS numeric string as an int (decimals rounded half up); "" is 0; else ValueError."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return 0
    try:
        return int(Decimal(text).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise ValueError(f"not a number: {text[:20]!r}") from None


def kst_day(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, KST).strftime("%Y%m%d")


def kst_ms(now_ms: int, yyyymmdd: str, hhmmss: str) -> int:
    """UTC ms of a KST date and time; the date defaults to today's, a bad time gives ``now_ms``."""
    try:
        day = datetime.strptime(yyyymmdd, "%Y%m%d").date() if yyyymmdd else None
        t = datetime.strptime(hhmmss, "%H%M%S").time()
    except ValueError:
        return now_ms
    if day is None:
        day = datetime.fromtimestamp(now_ms / 1000, KST).date()
    return int(datetime.combine(day, t, KST).timestamp() * 1000)


def ccld_params(cano: str, product: str, now_ms: int, day: str | None = None) -> dict[str, str]:
    today = day or kst_day(now_ms)
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "INQR_STRT_DT": today,
        "INQR_END_DT": today,
        "SLL_BUY_DVSN_CD": "00",
        "INQR_DVSN": "01",
        "PDNO": "",
        "CCLD_DVSN": "00",
        "ORD_GNO_BRNO": "",
        "ODNO": "",
        "INQR_DVSN_3": "00",
        "INQR_DVSN_1": "",
        "EXCG_ID_DVSN_CD": "KRX",
        "CTX_AREA_FK100": "",
        "CTX_AREA_NK100": "",
    }


def balance_params(cano: str, product: str) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "AFHR_FLPR_YN": "N",
        "OFL_YN": "",
        "INQR_DVSN": "02",
        "UNPR_DVSN": "01",
        "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N",
        "PRCS_DVSN": "00",
        "CTX_AREA_FK100": "",
        "CTX_AREA_NK100": "",
    }


def _rows(bodies: list[dict[str, Any]], key: str = "output1") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for body in bodies:
        rows = body.get(key)
        if isinstance(rows, list):
            out.extend(r for r in rows if isinstance(r, dict))
    return out


def statuses_from(bodies: list[dict[str, Any]], now_ms: int) -> list[BrokerOrderStatus]:
    """inquire-daily-ccld pages into one status per order number (the first row wins)."""
    seen: dict[str, BrokerOrderStatus] = {}
    for row in _rows(bodies):
        odno = str(row.get("odno", "")).strip()
        side = _SIDES.get(str(row.get("sll_buy_dvsn_cd", "")))
        if not odno or side is None:
            log.warning("daily-ccld row without order number or side skipped: odno=%r", odno)
            continue
        if odno in seen:
            continue
        try:
            filled = number(row.get("tot_ccld_qty"))
            seen[odno] = BrokerOrderStatus(
                broker_order_no=odno,
                code=str(row.get("pdno", "")).strip(),
                side=side,
                quantity=number(row.get("ord_qty")),
                filled_quantity=filled,
                average_price=number(row.get("avg_prvs")) if filled else 0,
                # a cancel order's own row says Y; the order it cancelled shows 취소확인수량 and no remainder
                cancelled=str(row.get("cncl_yn", "")).upper() == "Y" or (
                    number(row.get("cnc_cfrm_qty")) > 0 and number(row.get("rmn_qty")) == 0
                    and filled < number(row.get("ord_qty"))),
                ordered_ms=kst_ms(now_ms, str(row.get("ord_dt", "")), str(row.get("ord_tmd", ""))),
                price=number(row.get("ord_unpr")),
                original_no=str(row.get("orgn_odno", "") or "").strip() if number(row.get("orgn_odno")) else "",
            )
        except ValueError as exc:
            log.warning("daily-ccld row %s skipped: %s", odno, exc)
    return list(seen.values())


def balance_from(bodies: list[dict[str, Any]]) -> BrokerBalance:
    """inquire-balance pages: cash from ``output2`` (object or [object]), holdings with hldg_qty > 0."""
    account: dict[str, Any] = {}
    for body in bodies:
        out2 = body.get("output2")
        if isinstance(out2, list) and out2 and isinstance(out2[0], dict):
            account = out2[0]
        elif isinstance(out2, dict):
            account = out2
    if "dnca_tot_amt" not in account:
        raise ValueError("inquire-balance answer without output2.dnca_tot_amt")
    holdings: dict[str, Holding] = {}
    for row in _rows(bodies):
        code = str(row.get("pdno", "")).strip()
        try:
            qty = number(row.get("hldg_qty"))
            if qty <= 0 or not code or code in holdings:
                continue
            holdings[code] = Holding(
                code=code,
                quantity=qty,
                average_price=number(row.get("pchs_avg_pric")),
                current_price=number(row.get("prpr")),
                orderable=number(row["ord_psbl_qty"]) if "ord_psbl_qty" in row else None,
            )
        except ValueError as exc:
            log.warning("balance row %s skipped: %s", code, exc)
    return BrokerBalance(cash=number(account["dnca_tot_amt"]), holdings=list(holdings.values()),
                         d1=number(account.get("nxdy_excc_amt", account["dnca_tot_amt"])),
                         d2=number(account.get("prvs_rcdl_excc_amt", account["dnca_tot_amt"])))
