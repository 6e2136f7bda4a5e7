"""The KIS simulator's market: one seeded random walk per code on the KRX tick grid.

One series per code, as a KIS client sees it everywhere: the daily bars (weekday
sessions of the KRX calendar since 2015, seeded by (seed, code)) end at the
previous session's close, which is today's base price; today's walk starts there
and is the live stream (H0STCNT0 prints, H0STASP0 books), the minute chart and
today's daily bar at once. Minutes of the session nobody watched are walked when
first needed, so the charts have no holes; outside the session (09:00-15:30 KST)
the price stands still and no minute bars are made, as at KIS. ``save``/``load``
keep the walk across a restart (``autotrader kis-sim --state FILE``); without a
file a restarted simulator walks the day again from its open, never from the base.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import zlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engine.market.krx import is_session, price_limits, tick_size
from engine.market.listing import simulated_market

SESSION_OPEN_MIN = 9 * 60
SESSION_CLOSE_MIN = 15 * 60 + 30  # the minute bars end at the close, 15:30 KST
STEPS_PER_MINUTE = 3  # walk steps in a minute nobody watched
_DAILY_ORIGIN = date(2015, 1, 2)


def _tick_down(price: int) -> int:
    return max(1, price - tick_size(price - 1))


def _tick_up(price: int) -> int:
    return price + tick_size(price)


def _snap(price: int) -> int:
    return max(1, price - price % tick_size(price))


_BAND_EDGES = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000])
_BAND_TICKS = np.array([1, 5, 10, 50, 100, 500, 1_000])


def _snap_all(prices: np.ndarray) -> np.ndarray:
    """:func:`_snap` of every price (int64), vectorized."""
    whole = prices.astype(np.int64)
    ticks = _BAND_TICKS[np.searchsorted(_BAND_EDGES, whole, side="right")]
    return np.maximum(1, whole - whole % ticks)


@functools.lru_cache(maxsize=8)
def _session_days(until: date) -> list[date]:
    """KRX sessions from 2015 to the day before ``until`` (shared by every code)."""
    days, day = [], _DAILY_ORIGIN
    while day < until:
        if is_session_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def warm_up(now_ms: int) -> None:
    """Build the calendar and the session list before the first request needs them (blocking)."""
    from datetime import timezone

    today = datetime.fromtimestamp(now_ms / 1000, timezone(timedelta(hours=9))).date()
    _session_days(today)
    _session_days(today + timedelta(days=1))


def is_session_day(day: date) -> bool:
    """A KRX session day (the XKRX calendar with the project's overrides)."""
    return day.weekday() < 5 and is_session(day)


class _CodeState:
    __slots__ = (
        "code", "rng", "day", "prev_close", "price", "open", "high", "low", "cum_vol", "cum_amount",
        "buys", "sells", "open_hour", "high_hour", "low_hour", "last_side", "bars", "walked_to", "lower", "upper",
    )

    def __init__(self, seed: int, code: str) -> None:
        self.code = code
        self.rng = random.Random(zlib.crc32(f"{seed}:{code}".encode()))
        self.day = ""  # YYYYMMDD KST of the walk
        self.prev_close = self.price = 0
        self.bars: dict[int, list[int]] = {}  # minute of the day -> [open, high, low, close, volume]
        self.walked_to = SESSION_OPEN_MIN  # minutes before this one are walked
        self.start_day("", 0)

    def start_day(self, day: str, base: int) -> None:
        self.day, self.prev_close, self.price = day, base, base
        self.lower, self.upper = price_limits(base) if base > 0 else (1, 1)
        self.open = self.high = self.low = 0
        self.cum_vol = self.cum_amount = self.buys = self.sells = 0
        self.open_hour = self.high_hour = self.low_hour = "090000"
        self.last_side = 1
        self.bars = {}
        self.walked_to = SESSION_OPEN_MIN

    @property
    def ask(self) -> int:
        return self.price if self.last_side == 1 else _tick_up(self.price)

    @property
    def bid(self) -> int:
        return _tick_down(self.price) if self.last_side == 1 else self.price

    def limits(self) -> tuple[int, int]:
        return self.lower, self.upper

    def step(self, rng: random.Random) -> int:
        """One tick up, down or none, inside today's price limits."""
        move = rng.random()
        if move < 0.25:
            self.price = max(_tick_down(self.price), self.lower)
        elif move >= 0.75:
            self.price = min(_tick_up(self.price), self.upper)
        return self.price

    def record(self, minute: int, hour: str, price: int, volume: int) -> None:
        """A print inside the session: into its minute bar and the day's figures."""
        bar = self.bars.get(minute)
        if bar is None:
            self.bars[minute] = [price, price, price, price, volume]
        else:
            bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
            bar[4] += volume
        if not self.open:
            self.open = self.high = self.low = price
            self.open_hour = self.high_hour = self.low_hour = hour
        if price > self.high:
            self.high, self.high_hour = price, hour
        if price < self.low:
            self.low, self.low_hour = price, hour
        self.cum_vol += volume
        self.cum_amount += volume * price


def _sign(diff: int) -> str:
    return "2" if diff > 0 else ("5" if diff < 0 else "3")


def _minute_of(now: datetime) -> int:
    return now.hour * 60 + now.minute


class SimMarket:
    def __init__(self, seed: int = 7, now: Any = None) -> None:
        self.seed = seed
        self._now = now  # () -> aware datetime in KST; the simulator passes its clock's
        self._states: dict[str, _CodeState] = {}
        self._daily: dict[str, list[tuple[date, int, int, int, int, int]]] = {}

    def _today(self) -> datetime:
        if self._now is None:
            from datetime import timezone

            return datetime.now(timezone(timedelta(hours=9)))
        return self._now()

    def state(self, code: str, now: datetime | None = None) -> _CodeState:
        """The code's walk, brought up to ``now`` (default: the simulator's clock)."""
        now = now or self._today()
        st = self._states.get(code)
        if st is None:
            st = self._states[code] = _CodeState(self.seed, code)
        day = now.strftime("%Y%m%d")
        if st.day != day:
            st.start_day(day, self.base_price(code, now.date()))
        self._walk_until(st, now)
        return st

    def is_kosdaq(self, code: str) -> bool:
        """The code's market, fixed per code (:func:`engine.market.listing.simulated_market`)."""
        return simulated_market(code) == "KOSDAQ"

    # -- the walk ---------------------------------------------------------------

    def in_session(self, now: datetime) -> bool:
        minute = _minute_of(now)
        return SESSION_OPEN_MIN <= minute < SESSION_CLOSE_MIN and is_session_day(now.date())

    def _walk_until(self, st: _CodeState, now: datetime) -> None:
        """Walk the session's minutes before ``now`` that nobody watched."""
        if not is_session_day(now.date()):
            return
        until = min(_minute_of(now), SESSION_CLOSE_MIN)
        rng = random.Random(zlib.crc32(f"{self.seed}:{st.code}:{st.day}:{st.walked_to}".encode()))
        for minute in range(st.walked_to, until):
            if minute in st.bars:
                continue
            hour = f"{minute // 60:02d}{minute % 60:02d}00"
            for _ in range(STEPS_PER_MINUTE):
                st.record(minute, hour, st.step(rng), 1 + int(rng.random() * 1_250))
        st.walked_to = max(st.walked_to, until)

    def set_price(self, code: str, price: int, now: datetime | None = None) -> None:
        """Move the walk to ``price`` (a test hook; a print of one share inside the session)."""
        now = now or self._today()
        st = self.state(code, now)
        st.price = price
        if self.in_session(now):
            st.record(_minute_of(now), now.strftime("%H%M%S"), price, 1)

    # -- live records -----------------------------------------------------------

    def trade_record(self, code: str, now: datetime, width: int = 46) -> str:
        """One H0STCNT0 record (``width`` >= 46 fields; the extras are "0")."""
        st = self.state(code, now)
        rng = st.rng
        hour = now.strftime("%H%M%S")
        live = self.in_session(now)
        price = st.step(rng) if live else st.price  # outside the session the price stands
        st.last_side = 1 if rng.random() < 0.5 else 5
        vol = rng.choice((1, 1, 2, 5, 10, 20, 50, 100, 300))
        if live:
            st.record(_minute_of(now), hour, price, vol)
            if st.last_side == 1:
                st.buys += 1
            else:
                st.sells += 1
        diff = price - st.prev_close
        opened = st.open or price
        high, low = st.high or price, st.low or price
        f = [
            code, hour, str(price), _sign(diff), str(diff),
            f"{diff * 100 / st.prev_close:.2f}", str(st.cum_amount // st.cum_vol if st.cum_vol else price),
            str(opened), str(high), str(low), str(st.ask), str(st.bid),
            str(vol), str(st.cum_vol), str(st.cum_amount), str(st.sells), str(st.buys),
            str(st.buys - st.sells), f"{100 * (st.buys + 1) / (st.sells + 1):.2f}",
            str(st.cum_vol // 2), str(st.cum_vol - st.cum_vol // 2), str(st.last_side),
            "50.00", "100.00", st.open_hour, _sign(price - opened), str(price - opened),
            st.high_hour, _sign(price - high), str(price - high), st.low_hour,
            _sign(price - low), str(price - low), now.strftime("%Y%m%d"), "20" if live else "30", "N",
            str(rng.randrange(1, 5000)), str(rng.randrange(1, 5000)),
            str(rng.randrange(50_000, 500_000)), str(rng.randrange(50_000, 500_000)),
            "0.05", str(st.cum_vol), "100.00", "0", "", str(st.prev_close),
        ]
        f.extend("0" for _ in range(width - len(f)))
        return "^".join(f)

    def quote_record(self, code: str, now: datetime, width: int = 59) -> str:
        """One H0STASP0 record (``width`` >= 59; 62 adds the KRX mid-price fields)."""
        st = self.state(code, now)
        rng = st.rng
        asks, bids = [st.ask], [st.bid]
        for _ in range(9):
            asks.append(_tick_up(asks[-1]))
            bids.append(_tick_down(bids[-1]))
        ask_qty = [rng.randrange(1, 20_000) for _ in range(10)]
        bid_qty = [rng.randrange(1, 20_000) for _ in range(10)]
        f = [code, now.strftime("%H%M%S"), "0"]
        f += map(str, asks)
        f += map(str, bids)
        f += map(str, ask_qty)
        f += map(str, bid_qty)
        f += [str(sum(ask_qty)), str(sum(bid_qty)), "0", "0", "0", "0", "0", "0", "3", "0.00"]
        f += [str(st.cum_vol), "0", "0", "0", "0", "0"]
        extra = [str((asks[0] + bids[0]) // 2), str(rng.randrange(0, 5000)), "0"]
        f += extra[: max(0, width - len(f))]
        f.extend("0" for _ in range(width - len(f)))
        return "^".join(f)

    # -- chart history -------------------------------------------------------------

    def minute_bars(self, code: str, day: str, now: datetime | None = None) -> dict[int, tuple[int, ...]]:
        """Today's session minutes so far: minute of the day -> (open, high, low, close, volume).

        Only today's (KIS serves past days' minutes through another TR); the current
        minute is included as it stands.
        """
        now = now or self._today()
        st = self.state(code, now)
        if day != st.day:
            return {}
        minute = _minute_of(now)
        if self.in_session(now) and minute not in st.bars:  # the minute under way has a row at KIS too
            rng = random.Random(zlib.crc32(f"{self.seed}:{code}:{day}:{minute}:now".encode()))
            st.record(minute, now.strftime("%H%M%S"), st.step(rng), 1 + int(rng.random() * 100))
        return {m: tuple(b) for m, b in sorted(st.bars.items())}

    def base_price(self, code: str, day: date) -> int:
        """The close of the last session before ``day``: that day's base price."""
        history = self.daily_bars(code, day)
        return history[-1][4] if history else _snap(random.Random(zlib.crc32(
            f"{self.seed}:{code}:base".encode())).randrange(5_000, 300_000))

    def daily_bars(self, code: str, until: date) -> list[tuple[date, int, int, int, int, int]]:
        """(day, open, high, low, close, volume) of every session from 2015 before ``until``, oldest first."""
        bars = self._daily.get(code)
        if bars is None or bars[-1][0] < until - timedelta(days=1):
            days = _session_days(max(until, self._today().date()))
            rng = np.random.default_rng(zlib.crc32(f"{self.seed}:{code}:daily".encode()))
            start = float(rng.integers(5_000, 300_000))
            moves = rng.normal(0.0, 0.02, len(days))
            wicks = np.abs(rng.normal(0.0, 0.01, (len(days), 2)))
            volumes = rng.integers(10_000, 5_000_000, len(days))
            closes = _snap_all(np.maximum(100.0, start * np.cumprod(1.0 + moves)))
            opens = np.concatenate(([_snap(int(start))], closes[:-1]))
            highs = np.maximum(_snap_all(np.maximum(opens, closes) * (1.0 + wicks[:, 0])), np.maximum(opens, closes))
            lows = np.minimum(_snap_all(np.minimum(opens, closes) * (1.0 - wicks[:, 1])), np.minimum(opens, closes))
            bars = list(zip(days, opens.tolist(), highs.tolist(), lows.tolist(), closes.tolist(), volumes.tolist(),
                            strict=True))
            self._daily[code] = bars
        return bars[: bisect.bisect_left(bars, (until,))]

    def today_bar(self, code: str, now: datetime | None = None) -> tuple[date, int, int, int, int, int] | None:
        """Today's daily bar so far (None before the first minute of a session)."""
        st = self.state(code, now)
        if not st.bars:
            return None
        today = datetime.strptime(st.day, "%Y%m%d").date()
        return today, st.open, st.high, st.low, st.price if st.bars else st.open, st.cum_vol

    # -- current price (FHKST01010100) ------------------------------------------------

    def price_summary(self, code: str, now: datetime | None = None) -> dict[str, str]:
        """The ``output`` of inquire-price (82 fields, as KIS's column list names them)."""
        st = self.state(code, now)
        return price_output(st, self.is_kosdaq(code), self.daily_bars(code, datetime.strptime(
            st.day, "%Y%m%d").date()))

    # -- persistence (a restart continues the walk) -------------------------------------

    def save(self, path: str | Path) -> None:
        data = {code: {"day": st.day, "prev_close": st.prev_close, "price": st.price, "walked_to": st.walked_to,
                       "bars": {str(m): b for m, b in st.bars.items()}, "buys": st.buys, "sells": st.sells}
                for code, st in self._states.items()}
        Path(path).write_text(json.dumps(data), encoding="utf-8")

    def load(self, path: str | Path) -> int:
        """Walks saved by :meth:`save` for today; returns how many codes continue."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        today = self._today().strftime("%Y%m%d")
        loaded = 0
        for code, saved in data.items():
            if saved.get("day") != today:
                continue
            st = self._states[code] = _CodeState(self.seed, code)
            st.start_day(today, int(saved["prev_close"]))
            for minute, (o, h, lo, c, v) in sorted((int(m), b) for m, b in saved["bars"].items()):
                hour = f"{minute // 60:02d}{minute % 60:02d}00"
                st.record(minute, hour, o, 0)
                st.bars[minute] = [o, h, lo, c, v]
                st.high, st.low = max(st.high, h), min(st.low, lo)
                st.cum_vol += v
                st.cum_amount += v * c
            st.price, st.walked_to = int(saved["price"]), int(saved["walked_to"])
            st.buys, st.sells = int(saved.get("buys", 0)), int(saved.get("sells", 0))
            loaded += 1
        return loaded


def price_output(st: _CodeState, kosdaq: bool, history: list[tuple[date, int, int, int, int, int]]) -> dict[str, str]:
    price, base = st.price, st.prev_close
    diff = price - base
    lower, upper = st.limits()
    year = history[-250:] or [(date.today(), base, base, base, base, 0)]
    w52_high = max(max(b[2] for b in year), st.high or price)
    w52_low = min(min(b[3] for b in year), st.low or price)
    listed = 1_000_000_000 if not kosdaq else 100_000_000
    eps = max(1, base // 12)
    bps = max(1, base // 2)
    vol, amount = st.cum_vol, st.cum_amount
    fields = {
        "iscd_stat_cls_code": "55", "marg_rate": "20.00", "rprs_mrkt_kor_name": "KOSDAQ" if kosdaq else "KOSPI200",
        "new_hgpr_lwpr_cls_code": "", "bstp_kor_isnm": "전기·전자", "temp_stop_yn": "N",
        "oprc_rang_cont_yn": "N", "clpr_rang_cont_yn": "N", "crdt_able_yn": "Y", "grmn_rate_cls_code": "40",
        "elw_pblc_yn": "N", "stck_prpr": str(price), "prdy_vrss": str(diff), "prdy_vrss_sign": _sign(diff),
        "prdy_ctrt": f"{diff * 100 / base:.2f}", "acml_tr_pbmn": str(amount), "acml_vol": str(vol),
        "prdy_vrss_vol_rate": "100.00", "stck_oprc": str(st.open or price), "stck_hgpr": str(st.high or price),
        "stck_lwpr": str(st.low or price), "stck_mxpr": str(upper), "stck_llam": str(lower),
        "stck_sdpr": str(base), "wghn_avrg_stck_prc": str(amount // vol if vol else price),
        "hts_frgn_ehrt": "50.00", "frgn_ntby_qty": "0", "pgtr_ntby_qty": "0", "pvt_scnd_dmrs_prc": str(upper),
        "pvt_frst_dmrs_prc": str(price), "pvt_pont_val": str(base), "pvt_frst_dmsp_prc": str(price),
        "pvt_scnd_dmsp_prc": str(lower), "dmrs_val": str(upper), "dmsp_val": str(lower),
        "cpfn": str(listed * 5 // 100_000_000), "rstc_wdth_prc": str(upper - base), "stck_fcam": "100",
        "stck_sspr": str(base * 7 // 10), "aspr_unit": str(tick_size(price)), "hts_deal_qty_unit_val": "1",
        "lstn_stcn": str(listed), "hts_avls": str(price * listed // 100_000_000), "per": f"{price / eps:.2f}",
        "pbr": f"{price / bps:.2f}", "stac_month": "12", "vol_tnrt": f"{vol * 100 / listed:.2f}",
        "eps": f"{eps:.2f}", "bps": f"{bps:.2f}", "d250_hgpr": str(w52_high), "d250_hgpr_date": year[-1][0].strftime("%Y%m%d"),
        "d250_hgpr_vrss_prpr_rate": f"{(price - w52_high) * 100 / w52_high:.2f}", "d250_lwpr": str(w52_low),
        "d250_lwpr_date": year[0][0].strftime("%Y%m%d"),
        "d250_lwpr_vrss_prpr_rate": f"{(price - w52_low) * 100 / w52_low:.2f}",
        "stck_dryy_hgpr": str(w52_high), "dryy_hgpr_vrss_prpr_rate": f"{(price - w52_high) * 100 / w52_high:.2f}",
        "dryy_hgpr_date": year[-1][0].strftime("%Y%m%d"), "stck_dryy_lwpr": str(w52_low),
        "dryy_lwpr_vrss_prpr_rate": f"{(price - w52_low) * 100 / w52_low:.2f}",
        "dryy_lwpr_date": year[0][0].strftime("%Y%m%d"), "w52_hgpr": str(w52_high),
        "w52_hgpr_vrss_prpr_ctrt": f"{(price - w52_high) * 100 / w52_high:.2f}",
        "w52_hgpr_date": year[-1][0].strftime("%Y%m%d"), "w52_lwpr": str(w52_low),
        "w52_lwpr_vrss_prpr_ctrt": f"{(price - w52_low) * 100 / w52_low:.2f}",
        "w52_lwpr_date": year[0][0].strftime("%Y%m%d"), "whol_loan_rmnd_rate": "0.10",
        "ssts_yn": "Y", "stck_shrn_iscd": st.code, "fcam_cnnm": "100", "cpfn_cnnm": "7,780 억",
        "apprch_rate": "0.00", "frgn_hldn_qty": str(listed // 2), "vi_cls_code": "N", "ovtm_vi_cls_code": "N",
        "last_ssts_cntg_qty": "0", "invt_caful_yn": "N", "mrkt_warn_cls_code": "00", "short_over_yn": "N",
        "sltr_yn": "N", "mang_issu_cls_code": "N",
    }
    return fields
