"""The KIS simulator's quotation endpoints (KIS_PROTOCOL.md §4.3).

- ``inquire-price`` (FHKST01010100): the walk now, all 82 fields of KIS's ``output``.
- ``inquire-time-itemchartprice`` (FHKST03010200): today's session minutes up to
  ``FID_INPUT_HOUR_1`` (a future time means now), 30 rows a call, newest first;
  ``stck_cntg_hour`` labels a minute by its start.
- ``inquire-daily-itemchartprice`` (FHKST03010100): sessions between two dates
  (``00000101`` = from the start), today's bar so far included, at most 100 rows a
  call, newest first; periods D, W, M, Y.
- ``search-info`` (CTPF1604R), ``chk-holiday`` (CTCA0903R).
All of them read the one walk of :mod:`sim_market`, so they agree with the stream.
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
    market = request.query.get("FID_COND_MRKT_DIV_CODE", "")
    if market not in ("J", "NX", "UN"):
        return None
    sim.quote_markets[market] += 1
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
    return _reply({"output": sim.market.price_summary(code, _now(sim))})


def _output1(sim: KisSimulator, code: str, daily: bool) -> dict[str, str]:
    """The charts' ``output1``: the stock's figures now (the minute chart's is the first 8 of these)."""
    st = sim.market.state(code, _now(sim))
    full = sim.market.price_summary(code, _now(sim))
    history = sim.market.daily_bars(code, _now(sim).date())
    prev = history[-1] if history else (None, st.prev_close, st.prev_close, st.prev_close, st.prev_close, 0)
    out = {
        "prdy_vrss": full["prdy_vrss"], "prdy_vrss_sign": full["prdy_vrss_sign"], "prdy_ctrt": full["prdy_ctrt"],
        "stck_prdy_clpr": str(st.prev_close), "acml_vol": full["acml_vol"], "acml_tr_pbmn": full["acml_tr_pbmn"],
        "hts_kor_isnm": f"SIM{code}", "stck_prpr": full["stck_prpr"],
    }
    if daily:
        out.update({
            "stck_shrn_iscd": code, "prdy_vol": str(prev[5]), "stck_mxpr": full["stck_mxpr"],
            "stck_llam": full["stck_llam"], "stck_oprc": full["stck_oprc"], "stck_hgpr": full["stck_hgpr"],
            "stck_lwpr": full["stck_lwpr"], "stck_prdy_oprc": str(prev[1]), "stck_prdy_hgpr": str(prev[2]),
            "stck_prdy_lwpr": str(prev[3]), "askp": str(st.ask), "bidp": str(st.bid),
            "prdy_vrss_vol": str(st.cum_vol - prev[5]), "vol_tnrt": full["vol_tnrt"],
            "stck_fcam": full["stck_fcam"], "lstn_stcn": full["lstn_stcn"], "cpfn": full["cpfn"],
            "hts_avls": full["hts_avls"], "per": full["per"], "eps": full["eps"], "pbr": full["pbr"],
            "itewhol_loan_rmnd_ratem_name": full["whol_loan_rmnd_rate"],  # sic: KIS's own field name
        })
    return out


async def minute_chart(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    """Today's session minutes (09:00-15:30 KST) at or before FID_INPUT_HOUR_1, newest first."""
    code = _code(sim, request)
    hour = request.query.get("FID_INPUT_HOUR_1", "").replace(":", "") or "000000"
    if code is None or len(hour) != 6 or not hour.isdigit():
        return _bad("FID_INPUT_ISCD / FID_INPUT_HOUR_1 를 확인하세요.")
    now = _now(sim)
    day = now.strftime("%Y%m%d")
    asked = int(hour[:2]) * 60 + int(hour[2:4])
    if hour == "000000":  # python-kis asks its first page so, and gets the newest rows (inferred)
        asked = 24 * 60
    last = min(asked, now.hour * 60 + now.minute)  # a future time means now
    bars = sim.market.minute_bars(code, day, now)
    rows = []
    for minute in sorted((m for m in bars if m <= last), reverse=True)[:MINUTE_ROWS]:
        o, h, lo, c, v = bars[minute]
        rows.append({
            "stck_bsop_date": day, "stck_cntg_hour": f"{minute // 60:02d}{minute % 60:02d}00",
            "stck_prpr": str(c), "stck_oprc": str(o), "stck_hgpr": str(h), "stck_lwpr": str(lo),
            "cntg_vol": str(v), "acml_tr_pbmn": str(v * c),
        })
    return _reply({"output1": _output1(sim, code, daily=False), "output2": rows})


def _date(text: str) -> date | None:
    if text == "00000101":  # "from the beginning", as clients send it
        return date.min
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _period_key(day: date, period: str) -> tuple[int, int]:
    if period == "W":
        iso = day.isocalendar()
        return iso[0], iso[1]
    if period == "M":
        return day.year, day.month
    if period == "Y":
        return day.year, 0
    return day.toordinal(), 0


def _periods(bars: list[tuple], period: str) -> list[tuple]:
    """Daily bars folded into weeks, months or years (labelled by their last session, as KIS does)."""
    if period == "D":
        return bars
    out: list[list] = []
    last_key = None
    for day, o, h, lo, c, v in bars:
        key = _period_key(day, period)
        if key != last_key:
            out.append([day, o, h, lo, c, v])
            last_key = key
        else:
            row = out[-1]
            row[0], row[2], row[3], row[4], row[5] = day, max(row[2], h), min(row[3], lo), c, row[5] + v
    return [tuple(r) for r in out]


async def daily_chart(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    """Sessions between two dates (today's bar so far included), at most 100 rows, newest first."""
    code = _code(sim, request)
    start = _date(request.query.get("FID_INPUT_DATE_1", ""))
    end = _date(request.query.get("FID_INPUT_DATE_2", ""))
    period = request.query.get("FID_PERIOD_DIV_CODE", "D").upper() or "D"
    if code is None or start is None or end is None or start > end or period not in ("D", "W", "M", "Y"):
        return _bad("FID_INPUT_ISCD / FID_INPUT_DATE_1 / FID_INPUT_DATE_2 / FID_PERIOD_DIV_CODE 를 확인하세요.")
    now = _now(sim)
    today = now.date()
    end = min(end, today)
    bars = list(sim.market.daily_bars(code, today))
    current = sim.market.today_bar(code, now)
    if current is not None:
        bars.append(current)
    rows = []
    previous_close = {b[0]: bars[i - 1][4] for i, b in enumerate(bars) if i}
    for day, o, h, lo, c, v in reversed(_periods(bars, period)):
        if day > end:
            continue
        if day < start or len(rows) >= DAILY_ROWS:
            break
        diff = c - previous_close.get(day, o)
        rows.append({
            "stck_bsop_date": day.strftime("%Y%m%d"), "stck_clpr": str(c), "stck_oprc": str(o),
            "stck_hgpr": str(h), "stck_lwpr": str(lo), "acml_vol": str(v),
            "acml_tr_pbmn": str(v * c), "flng_cls_code": "00", "prtt_rate": "0.00", "mod_yn": "N",
            "prdy_vrss_sign": "2" if diff > 0 else ("5" if diff < 0 else "3"), "prdy_vrss": str(diff),
            "revl_issu_reas": "",
        })
    return _reply({"output1": _output1(sim, code, daily=True), "output2": rows})


async def inquire_holiday(sim: KisSimulator, request: web.Request, tr_id: str) -> web.Response:
    """국내휴장일조회 (CTCA0903R): from BASS_DT, the next days with whether KRX opens (opnd_yn)."""
    start = _date(request.query.get("BASS_DT", ""))
    if start is None or start == date.min:
        return _bad("BASS_DT 를 확인하세요.")
    rows = []
    for n in range(23):
        day = start + timedelta(days=n)
        opens = "Y" if sim.market.is_open_day(day) else "N"  # its declared holidays included
        rows.append({"bass_dt": day.strftime("%Y%m%d"), "wday_dvsn_cd": f"{(day.isoweekday() % 7) + 1:02d}",
                     "bzdy_yn": opens, "tr_day_yn": opens, "opnd_yn": opens, "sttl_day_yn": opens})
    return _reply({"output": rows})


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
    ("GET", "/uapi/domestic-stock/v1/quotations/chk-holiday"): (frozenset({"CTCA0903R"}), inquire_holiday),
    ("GET", f"{PATH}/search-info"): (frozenset({"CTPF1604R"}), search_info),
    ("GET", f"{PATH}/inquire-price"): (frozenset({"FHKST01010100"}), inquire_price),
    ("GET", f"{PATH}/inquire-time-itemchartprice"): (frozenset({"FHKST03010200"}), minute_chart),
    ("GET", f"{PATH}/inquire-daily-itemchartprice"): (frozenset({"FHKST03010100"}), daily_chart),
}
