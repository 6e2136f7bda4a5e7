"""The KIS simulator's trading endpoints (KIS_PROTOCOL.md §4.1, §4.2), over ``sim.orders``.

- ``order-cash`` (buy ``TTTC0012U`` / sell ``TTTC0011U``, old ``TTTC0802U`` /
  ``TTTC0801U``; ``V...`` in paper mode): UPPERCASE string body; a rejection is
  HTTP 200 ``rt_cd`` "1" with an ``APBK...`` code; success is ``APBK0013`` with
  ``KRX_FWDG_ORD_ORGNO``, ``ODNO``, ``ORD_TMD``.
- ``inquire-balance`` (``TTTC8434R``): ``output1`` holdings, ``output2`` [account].
- ``inquire-daily-ccld`` (``TTTC0081R``): today's orders with filled quantity and
  average price, ``output2`` totals.
- ``order-rvsecncl`` (``TTTC0013U``): cancel (RVSE_CNCL_DVSN_CD 02) or modify (01) an open
  order, the whole remainder (QTY_ALL_ORD_YN Y) or ORD_QTY shares; the answer is like
  order-cash's with the new ODNO.
- ``inquire-psbl-rvsecncl`` (``TTTC0084R``, real only: 모의투자 lacks it): open orders with
  ``psbl_qty`` (what can still be cancelled or modified) and ``ord_gno_brno``.
- ``inquire-psbl-order`` (``TTTC8908R``): ``ord_psbl_cash`` (D+2 cash less open buys'
  reservations), ``max_buy_qty`` / ``nrcvb_buy_qty`` at ``ORD_UNPR`` (or the upper limit).
Both inquiries page: 50 / 100 rows a page real, 20 / 15 paper (the daily-ccld sizes
are inferred). The response header ``tr_cont`` is ``F`` (first page, more follow),
``M`` (more follow), ``D`` (only page) or ``E`` (last page); a next page is asked with
request header ``tr_cont: N`` and the previous ``ctx_area_fk100`` / ``ctx_area_nk100``
echoed as ``CTX_AREA_FK100`` / ``CTX_AREA_NK100``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.brokers.kis.sim_orders import BRANCH, Fault, OrderError, SimOrder, _int, business_days_after
from engine.market.krx import price_limits

if TYPE_CHECKING:
    from engine.brokers.kis.simulator import KisSimulator

PATH = "/uapi/domestic-stock/v1/trading"
BUY_TRS = frozenset({"TTTC0012U", "TTTC0802U"})
SELL_TRS = frozenset({"TTTC0011U", "TTTC0801U"})
ORDER_FIELDS = ("CANO", "ACNT_PRDT_CD", "PDNO", "ORD_DVSN", "ORD_QTY", "ORD_UNPR")
BALANCE_FIELDS = (
    "CANO",
    "ACNT_PRDT_CD",
    "AFHR_FLPR_YN",
    "INQR_DVSN",
    "UNPR_DVSN",
    "FUND_STTL_ICLD_YN",
    "FNCG_AMT_AUTO_RDPT_YN",
    "PRCS_DVSN",
)
CCLD_FIELDS = (
    "CANO",
    "ACNT_PRDT_CD",
    "INQR_STRT_DT",
    "INQR_END_DT",
    "SLL_BUY_DVSN_CD",
    "INQR_DVSN",
    "CCLD_DVSN",
)


def _json(status: int, body: dict[str, Any], tr_cont: str = "") -> web.Response:
    headers = {"tr_cont": tr_cont} if tr_cont else None
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def _error(exc: OrderError) -> web.Response:
    return _json(200, {"rt_cd": "1", "msg_cd": exc.msg_cd, "msg1": exc.msg1})


def _missing(fields: tuple[str, ...], values: Any) -> None:
    for name in fields:
        if not isinstance(values.get(name), str):
            raise OrderError("OPSQ2000", f"ERROR : INPUT_FIELD_NAME {name}")  # (inferred)


async def _order_body(sim: KisSimulator, request: web.Request,
                      fields: tuple[str, ...]) -> tuple[dict[str, Any], Fault | None] | web.Response:
    """An order call (place, or amend/cancel): counted, its body checked for ``fields``. Returns the body
    and the injected fault that strikes once the order is taken (``_after_taken``), or the answer KIS
    gives instead (a fault before the order, bad JSON, a missing field)."""
    orders = sim.orders
    orders.order_calls += 1
    fault = orders.take_fault()
    if fault is not None and fault.kind == "fail" and not fault.place:
        return _fault_response(fault.status, fault.body)
    try:
        body = await request.json()
    except ValueError:
        return _json(400, {"rt_cd": "1", "msg_cd": "EGW00002", "msg1": "JSON 형식이 아닙니다."})
    try:
        if not isinstance(body, dict):
            raise OrderError("OPSQ2000", "ERROR : INPUT_FIELD_NAME CANO")
        _missing(fields, body)
    except OrderError as exc:
        return _error(exc)
    return body, fault


async def _after_taken(sim: KisSimulator, fault: Fault | None) -> web.Response | None:
    """The injected fault's answer after the order was taken (or its stall); None: answer as KIS does."""
    if fault is not None and fault.kind == "fail":
        return _fault_response(fault.status, fault.body)
    if fault is not None and fault.kind == "stall":
        await sim.orders.withheld()
    return None


async def order_cash(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    got = await _order_body(sim, request, ORDER_FIELDS)
    if isinstance(got, web.Response):
        return got
    body, fault = got
    orders = sim.orders
    try:
        side = "buy" if ("T" + tr_id[1:]) in BUY_TRS else "sell"
        acct = orders.account(body["CANO"], body["ACNT_PRDT_CD"], request.headers.get("appkey", ""))
        order = orders.place(acct, request.headers.get("appkey", ""), side, body)
    except OrderError as exc:
        return _error(exc)
    if (faulted := await _after_taken(sim, fault)) is not None:
        return faulted
    return _json(
        200,
        {
            "rt_cd": "0",
            "msg_cd": "APBK0013",
            "msg1": "주문 전송 완료 되었습니다.",
            "output": {"KRX_FWDG_ORD_ORGNO": BRANCH, "ODNO": order.odno, "ORD_TMD": order.tmd},
        },
    )


def _fault_response(status: int, body: dict[str, Any] | str) -> web.Response:
    if isinstance(body, dict):
        return _json(status, body)
    return web.Response(status=status, text=body, content_type="text/html")


def _page(
    request: web.Request, rows: list[dict[str, str]], size: int, fingerprint: str
) -> tuple[list[dict[str, str]], str, dict[str, str]]:
    """This call's rows, the response ``tr_cont`` and the ctx fields to echo."""
    start = 0
    if request.headers.get("tr_cont", "") == "N":
        fk, nk = request.query.get("CTX_AREA_FK100", ""), request.query.get("CTX_AREA_NK100", "").strip()
        if fk.strip() != fingerprint or not nk.isdigit():
            raise OrderError(
                "OPSQ2002", "ERROR : CTX_AREA_FK100/NK100 (연속조회키) 를 확인하세요."
            )  # (inferred)
        start = int(nk)
    chunk = rows[start : start + size]
    more = start + size < len(rows)
    tr_cont = ("F" if start == 0 else "M") if more else ("D" if start == 0 else "E")
    ctx = {
        "ctx_area_fk100": fingerprint.ljust(100),
        "ctx_area_nk100": str(start + size if more else 0).ljust(100),
    }
    return chunk, tr_cont, ctx


async def inquire_balance(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    q = request.query
    try:
        _missing(BALANCE_FIELDS, q)
        acct = sim.orders.account(q["CANO"], q["ACNT_PRDT_CD"], request.headers.get("appkey", ""))
        rows = []
        for code, (qty, cost) in sorted(acct.holdings.items()):
            price = sim.market.state(code).price
            avg = cost / qty if qty else 0.0
            rows.append(
                {
                    "pdno": code,
                    "prdt_name": f"SIM{code}",
                    "trad_dvsn_name": "현금",
                    "hldg_qty": str(qty),
                    "ord_psbl_qty": str(qty),
                    "pchs_avg_pric": f"{avg:.4f}",
                    "pchs_amt": str(cost),
                    "prpr": str(price),
                    "evlu_amt": str(qty * price),
                    "evlu_pfls_amt": str(qty * price - cost),
                    "evlu_pfls_rt": f"{(qty * price - cost) * 100 / cost if cost else 0:.2f}",
                    "loan_dt": "",
                    "loan_amt": "0",
                    "stln_slng_chgs": "0",
                    "expd_dt": "",
                    "fltt_rt": "0.00",
                    "bfdy_cprs_icdc": "0",
                }
            )
        size = sim.orders.balance_page or (20 if sim.config.paper else 50)
        chunk, tr_cont, ctx = _page(request, rows, size, f"B{acct.cano}{acct.product}")
    except OrderError as exc:
        return _error(exc)
    stocks = sum(int(r["evlu_amt"]) for r in rows)
    cost = sum(int(r["pchs_amt"]) for r in rows)
    today = sim.orders.now().strftime("%Y%m%d")
    account = {
        "dnca_tot_amt": str(acct.cash_on(today)),
        "nxdy_excc_amt": str(acct.cash_on(business_days_after(today, 1))),
        "prvs_rcdl_excc_amt": str(acct.cash),
        "scts_evlu_amt": str(stocks),
        "tot_evlu_amt": str(acct.cash + stocks),
        "nass_amt": str(acct.cash + stocks),
        "pchs_amt_smtl_amt": str(cost),
        "evlu_amt_smtl_amt": str(stocks),
        "evlu_pfls_smtl_amt": str(stocks - cost),
        "thdt_buy_amt": "0",
        "thdt_sll_amt": "0",
        "thdt_tlex_amt": "0",
        "tot_loan_amt": "0",
    }
    return _json(
        200,
        {
            "rt_cd": "0",
            "msg_cd": "KIOK0510",
            "msg1": "조회가 완료되었습니다",
            **ctx,
            "output1": chunk,
            "output2": [account],
        },
        tr_cont,
    )


def _ccld_row(o: SimOrder) -> dict[str, str]:
    avg = o.amount / o.filled if o.filled else 0.0
    return {
        "ord_dt": o.day,
        "ord_gno_brno": BRANCH,
        "odno": o.odno,
        "orgn_odno": o.orgn,
        "ord_dvsn_cd": o.kind,
        "ord_dvsn_name": "지정가" if o.kind == "00" else "시장가",
        "sll_buy_dvsn_cd": "02" if o.side == "buy" else "01",
        "sll_buy_dvsn_cd_name": "매수" if o.side == "buy" else "매도",
        "pdno": o.code,
        "prdt_name": f"SIM{o.code}",
        "ord_qty": str(o.qty),
        "ord_unpr": str(o.price),
        "ord_tmd": o.tmd,
        "tot_ccld_qty": str(o.filled),
        "avg_prvs": f"{avg:.0f}" if avg == int(avg) else f"{avg:.4f}",
        "cncl_yn": "Y" if o.is_cancel else "N",
        "tot_ccld_amt": str(o.amount),
        "rmn_qty": str(o.remaining),
        "rjct_qty": "0",
        "cnc_cfrm_qty": str(o.qty if o.is_cancel else o.cancelled),
        "excg_id_dvsn_cd": "KRX",
        # the rest of KIS's output1 columns (python-kis reads them)
        "loan_dt": "", "ordr_empno": "", "ccld_cndt_name": "없음", "inqr_ip_addr": "", "infm_tmd": "",
        "cpbc_ordp_ord_rcit_dvsn_cd": "", "cpbc_ordp_infm_mthd_dvsn_cd": "", "ctac_tlno": "",
        "prdt_type_cd": "300", "excg_dvsn_cd": "02", "cpbc_ordp_mtrl_dvsn_cd": "", "ord_orgno": BRANCH,
        "rsvn_ord_end_dt": "", "stpm_cndt_pric": "0", "stpm_efct_occr_dtmd": "",
    }


async def inquire_daily_ccld(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    q = request.query
    try:
        _missing(CCLD_FIELDS, q)
        acct = sim.orders.account(q["CANO"], q["ACNT_PRDT_CD"], request.headers.get("appkey", ""))
        first, last = q["INQR_STRT_DT"], q["INQR_END_DT"]
        side = {"01": "sell", "02": "buy"}.get(q["SLL_BUY_DVSN_CD"])
        ccld = q["CCLD_DVSN"]
        picked = [
            o
            for o in sim.orders.orders
            if o.account is acct
            and first <= o.day <= last
            and (side is None or o.side == side)
            and (not q.get("PDNO") or o.code == q["PDNO"])
            and (not q.get("ODNO") or o.odno == q["ODNO"])
            and (ccld != "01" or o.filled)
            and (ccld != "02" or o.open)
        ]
        if q["INQR_DVSN"] != "01":
            picked.reverse()  # 00: newest first
        rows = [_ccld_row(o) for o in picked]
        size = sim.orders.ccld_page or (15 if sim.config.paper else 100)
        chunk, tr_cont, ctx = _page(request, rows, size, f"C{acct.cano}{first}{last}")
    except OrderError as exc:
        return _error(exc)
    filled = sum(o.filled for o in picked)
    amount = sum(o.amount for o in picked)
    totals = {
        "tot_ord_qty": str(sum(o.qty for o in picked)),
        "tot_ccld_qty": str(filled),
        "tot_ccld_amt": str(amount),
        "prsm_tlex_smtl": "0",
        "pchs_avg_pric": f"{amount / filled if filled else 0:.4f}",
    }
    return _json(
        200,
        {
            "rt_cd": "0",
            "msg_cd": "KIOK0460",
            "msg1": "조회 되었습니다.",
            **ctx,
            "output1": chunk,
            "output2": totals,
        },
        tr_cont,
    )


RVSECNCL_FIELDS = ("CANO", "ACNT_PRDT_CD", "KRX_FWDG_ORD_ORGNO", "ORGN_ODNO", "ORD_DVSN", "RVSE_CNCL_DVSN_CD",
                   "ORD_QTY", "ORD_UNPR", "QTY_ALL_ORD_YN")


async def order_rvsecncl(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    got = await _order_body(sim, request, RVSECNCL_FIELDS)
    if isinstance(got, web.Response):
        return got
    body, fault = got
    orders = sim.orders
    try:
        acct = orders.account(body["CANO"], body["ACNT_PRDT_CD"], request.headers.get("appkey", ""))
        order = orders.amend(acct, request.headers.get("appkey", ""), body)
    except OrderError as exc:
        return _error(exc)
    if (faulted := await _after_taken(sim, fault)) is not None:
        return faulted
    done = "취소" if order.is_cancel else "정정"
    return _json(200, {"rt_cd": "0", "msg_cd": "APBK0013", "msg1": f"주문 {done} 완료 되었습니다.",
                       "output": {"KRX_FWDG_ORD_ORGNO": BRANCH, "ODNO": order.odno, "ORD_TMD": order.tmd}})


async def inquire_psbl_rvsecncl(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    q = request.query
    if sim.config.paper:
        return _json(200, {"rt_cd": "1", "msg_cd": "EGW00213", "msg1": "모의투자 TR 이 아닙니다."})
    try:
        _missing(("CANO", "ACNT_PRDT_CD", "INQR_DVSN_1", "INQR_DVSN_2"), q)
        acct = sim.orders.account(q["CANO"], q["ACNT_PRDT_CD"], request.headers.get("appkey", ""))
        rows = [{
            "ord_gno_brno": BRANCH, "odno": o.odno, "orgn_odno": o.orgn, "pdno": o.code,
            "prdt_name": f"SIM{o.code}", "ord_dvsn_cd": o.kind, "ord_dvsn_name": "지정가" if o.kind == "00" else "시장가",
            "sll_buy_dvsn_cd": "02" if o.side == "buy" else "01", "ord_qty": str(o.qty), "ord_unpr": str(o.price),
            "ord_tmd": o.tmd, "tot_ccld_qty": str(o.filled), "tot_ccld_amt": str(o.amount),
            "psbl_qty": str(o.remaining), "excg_id_dvsn_cd": "KRX",
        } for o in sim.orders.orders if o.account is acct and o.open]
        chunk, tr_cont, ctx = _page(request, rows, 50, f"R{acct.cano}")
    except OrderError as exc:
        return _error(exc)
    return _json(200, {"rt_cd": "0", "msg_cd": "KIOK0510", "msg1": "조회가 완료되었습니다", **ctx,
                       "output": chunk}, tr_cont)


async def inquire_psbl_order(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    q = request.query
    try:
        _missing(("CANO", "ACNT_PRDT_CD", "PDNO", "ORD_UNPR", "ORD_DVSN"), q)
        acct = sim.orders.account(q["CANO"], q["ACNT_PRDT_CD"], request.headers.get("appkey", ""))
    except OrderError as exc:
        return _error(exc)
    cash = sim.orders.orderable_cash(acct)
    unit = _int(q["ORD_UNPR"]) or 0
    if not unit and q["PDNO"]:
        unit = price_limits(sim.market.state(q["PDNO"]).prev_close)[1]
    qty = cash // unit if unit > 0 else 0
    output = {"ord_psbl_cash": str(cash), "ord_psbl_sbst": "0", "ruse_psbl_amt": "0", "fund_rpch_chgs": "0",
              "psbl_qty_calc_unpr": str(unit), "nrcvb_buy_amt": str(cash), "nrcvb_buy_qty": str(qty),
              "max_buy_amt": str(cash), "max_buy_qty": str(qty), "cma_evlu_amt": "0",
              "ovrs_re_use_amt_wcrc": "0", "ord_psbl_frcr_amt_wcrc": "0"}
    return _json(200, {"rt_cd": "0", "msg_cd": "KIOK0510", "msg1": "조회가 완료되었습니다", "output": output})


TRADING_ROUTES = {
    ("POST", f"{PATH}/order-cash"): (BUY_TRS | SELL_TRS, order_cash),
    ("POST", f"{PATH}/order-rvsecncl"): (frozenset({"TTTC0013U", "TTTC0803U"}), order_rvsecncl),
    ("GET", f"{PATH}/inquire-psbl-rvsecncl"): (frozenset({"TTTC0084R", "TTTC8036R"}), inquire_psbl_rvsecncl),  # old id too
    ("GET", f"{PATH}/inquire-psbl-order"): (frozenset({"TTTC8908R"}), inquire_psbl_order),
    ("GET", f"{PATH}/inquire-balance"): (frozenset({"TTTC8434R"}), inquire_balance),
    # new ids and the old ones clients still send (TTTC8001R = TTTC0081R, CTSC9115R = CTSC9215R: older days)
    ("GET", f"{PATH}/inquire-daily-ccld"): (frozenset({"TTTC0081R", "TTTC8001R", "CTSC9215R", "CTSC9115R"}),
                                            inquire_daily_ccld),
}
