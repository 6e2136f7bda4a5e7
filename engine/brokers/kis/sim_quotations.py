"""The KIS simulator's quotation endpoints (KIS_PROTOCOL.md §4.3).

- ``inquire-price`` (FHKST01010100): the live walk's current price summary.
- ``inquire-time-itemchartprice`` (FHKST03010200): today's minute bars up to
  ``FID_INPUT_HOUR_1`` (a future time means now), 30 rows a call, newest first.
  The simulated market trades around the clock, so rows start at 00:00 KST.
  ``stck_cntg_hour`` labels a minute by its start.
- ``inquire-daily-itemchartprice`` (FHKST03010100): daily bars between two dates,
  at most 100 rows a call, newest first (period ``D`` only).
Parameter errors answer HTTP 200 with ``rt_cd`` "1" and a ``SIM...`` code (the real
codes for these are not public).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from engine.brokers.kis.simulator import KisSimulator

KST = timezone(timedelta(hours=9))
PATH = "/uapi/domestic-stock/v1/quotations"
MINUTE_ROWS = 30
DAILY_ROWS = 100
_OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}


def _reply(body: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps({**_OK, **body}, ensure_ascii=False), content_type="application/json")


def _bad(message: str) -> web.Response:
    body = {"rt_cd": "1", "msg_cd": "SIM00422", "msg1": message}
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def _code(sim: KisSimulator, request: web.Request) -> str | None:
    code = request.query.get("FID_INPUT_ISCD", "")
    if request.query.get("FID_COND_MRKT_DIV_CODE", "") not in ("J", "NX", "UN"):
        return None
    codes = sim.config.codes
    if len(code) != 6 or not code.isalnum() or (codes and code not in codes):
        return None
    return code


def _now(sim: KisSimulator) -> datetime:
    return datetime.fromtimestamp(sim.clock.now_ms() / 1000, KST)


async def inquire_price(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    code = _code(sim, request)
    if code is None:
        return _bad("FID_COND_MRKT_DIV_CODE / FID_INPUT_ISCD 를 확인하세요.")
    return _reply({"output": sim.market.price_summary(code)})


async def minute_chart(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    code = _code(sim, request)
    hour = request.query.get("FID_INPUT_HOUR_1", "")
    if code is None or len(hour) != 6 or not hour.isdigit():
        return _bad("FID_INPUT_ISCD / FID_INPUT_HOUR_1 를 확인하세요.")
    now = _now(sim)
    day = now.strftime("%Y%m%d")
    asked = int(hour[:2]) * 60 + int(hour[2:4])
    last = min(asked, now.hour * 60 + now.minute, 1439)
    bars = sim.market.minute_bars(code, day)
    rows = []
    volume_total = 0
    for minute in range(last, max(-1, last - MINUTE_ROWS), -1):
        o, h, lo, c, v = bars[minute]
        volume_total += v
        rows.append({
            "stck_bsop_date": day, "stck_cntg_hour": f"{minute // 60:02d}{minute % 60:02d}00",
            "stck_prpr": str(c), "stck_oprc": str(o), "stck_hgpr": str(h), "stck_lwpr": str(lo),
            "cntg_vol": str(v), "acml_tr_pbmn": str(v * c),
        })
    close = bars[last][3]
    output1 = {
        "stck_prpr": str(close), "stck_prdy_clpr": str(bars[0][0]), "prdy_vrss": str(close - bars[0][0]),
        "acml_vol": str(sum(b[4] for b in bars[: last + 1])), "hts_kor_isnm": f"SIM{code}",
    }
    return _reply({"output1": output1, "output2": rows})


def _date(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


async def daily_chart(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    code = _code(sim, request)
    start = _date(request.query.get("FID_INPUT_DATE_1", ""))
    end = _date(request.query.get("FID_INPUT_DATE_2", ""))
    if code is None or start is None or end is None or start > end:
        return _bad("FID_INPUT_ISCD / FID_INPUT_DATE_1 / FID_INPUT_DATE_2 를 확인하세요.")
    if request.query.get("FID_PERIOD_DIV_CODE", "D") != "D":
        return _bad("the simulator serves FID_PERIOD_DIV_CODE=D only")
    today = _now(sim).date()
    end = min(end, today)
    bars = sim.market.daily_bars(code, today)
    rows = []
    for day, o, h, lo, c, v in reversed(bars):
        if day > end:
            continue
        if day < start or len(rows) >= DAILY_ROWS:
            break
        rows.append({
            "stck_bsop_date": day.strftime("%Y%m%d"), "stck_clpr": str(c), "stck_oprc": str(o),
            "stck_hgpr": str(h), "stck_lwpr": str(lo), "acml_vol": str(v),
            "acml_tr_pbmn": str(v * c), "flng_cls_code": "00", "prtt_rate": "0.00", "mod_yn": "N",
        })
    return _reply({"output1": {"hts_kor_isnm": f"SIM{code}"}, "output2": rows})


async def search_info(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    """상품기본조회 (CTPF1604R): what the code is, with its market (KOSPI ``STK`` / KOSDAQ ``KSQ``)."""
    code = request.query.get("PDNO", "")
    kind = request.query.get("PRDT_TYPE_CD", "300")
    codes = sim.config.codes
    if len(code) != 6 or not code.isalnum() or (codes and code not in codes) or kind not in ("300", "301", "302"):
        body = {"rt_cd": "7", "msg_cd": "KIER2570", "msg1": "조회할 자료가 없습니다."}  # (inferred) what clients test
        return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")
    kosdaq = sim.market.is_kosdaq(code)
    return _reply({"output": {
        "pdno": f"00000A{code}", "prdt_type_cd": "300", "shtn_pdno": code, "std_pdno": f"KR7{code}003",
        "prdt_abrv_name": f"SIM{code}", "prdt_name": f"SIM{code}", "prdt_name120": f"SIM{code}",
        "prdt_eng_abrv_name": f"SIM{code}", "prdt_eng_name": f"SIM{code}", "prdt_eng_name120": f"SIM{code}",
        "mket_id_cd": "KSQ" if kosdaq else "STK", "scty_grp_id_cd": "ST", "excg_dvsn_cd": "03" if kosdaq else "02",
        "lstg_stqt": "1000000000", "tr_stop_yn": "N", "admn_item_yn": "N",
    }})


QUOTATION_ROUTES = {
    ("GET", f"{PATH}/search-info"): (frozenset({"CTPF1604R"}), search_info),
    ("GET", f"{PATH}/inquire-price"): (frozenset({"FHKST01010100"}), inquire_price),
    ("GET", f"{PATH}/inquire-time-itemchartprice"): (frozenset({"FHKST03010200"}), minute_chart),
    ("GET", f"{PATH}/inquire-daily-itemchartprice"): (frozenset({"FHKST03010100"}), daily_chart),
}
