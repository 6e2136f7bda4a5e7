"""The KIS simulator's market: seeded random walks on the KRX tick grid, as KIS records.

Live records (H0STCNT0 trades, H0STASP0 books) come from one walk per code shared
by every session, so two subscribers see the same prices. Chart history (minute
bars of a day, daily bars) is a separate walk seeded by (seed, code, day), so the
same request always returns the same rows.
"""

from __future__ import annotations

import random
import zlib
from datetime import date, datetime, timedelta

from engine.market.krx import tick_size

MINUTES_PER_DAY = 1440
_DAILY_ORIGIN = date(2015, 1, 2)


def _tick_down(price: int) -> int:
    return max(1, price - tick_size(price - 1))


def _tick_up(price: int) -> int:
    return price + tick_size(price)


def _snap(price: int) -> int:
    return max(1, price - price % tick_size(price))


class _CodeState:
    __slots__ = (
        "code", "rng", "prev_close", "price", "open", "high", "low", "cum_vol", "cum_amount",
        "buys", "sells", "open_hour", "high_hour", "low_hour", "last_side",
    )

    def __init__(self, seed: int, code: str) -> None:
        self.code = code
        self.rng = random.Random(zlib.crc32(f"{seed}:{code}".encode()))
        self.prev_close = _snap(self.rng.randrange(5_000, 300_000))
        self.price = self.prev_close
        self.open = self.high = self.low = 0
        self.cum_vol = self.cum_amount = self.buys = self.sells = 0
        self.open_hour = self.high_hour = self.low_hour = "090000"
        self.last_side = 1

    @property
    def ask(self) -> int:
        return self.price if self.last_side == 1 else _tick_up(self.price)

    @property
    def bid(self) -> int:
        return _tick_down(self.price) if self.last_side == 1 else self.price


def _sign(diff: int) -> str:
    return "2" if diff > 0 else ("5" if diff < 0 else "3")


class SimMarket:
    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self._states: dict[str, _CodeState] = {}
        self._days: dict[tuple[str, str], list[tuple[int, int, int, int, int]]] = {}
        self._daily: dict[str, list[tuple[date, int, int, int, int, int]]] = {}

    def state(self, code: str) -> _CodeState:
        st = self._states.get(code)
        if st is None:
            st = self._states[code] = _CodeState(self.seed, code)
        return st

    # -- live records -----------------------------------------------------------

    def is_kosdaq(self, code: str) -> bool:
        """The code's market, fixed per code (about a third of codes are KOSDAQ)."""
        return sum(map(ord, code)) % 3 == 0

    def trade_record(self, code: str, now: datetime, width: int = 47) -> str:
        """One H0STCNT0 record (``width`` ≥ 46 fields; the extras are "0")."""
        st = self.state(code)
        rng = st.rng
        step = rng.choice((-1, 0, 0, 1))
        price = st.price
        if step > 0:
            price = _tick_up(price)
        elif step < 0:
            price = _tick_down(price)
        upper, lower = st.prev_close * 13 // 10, st.prev_close * 7 // 10
        st.price = price = min(max(price, lower), upper)
        st.last_side = 1 if rng.random() < 0.5 else 5
        hour = now.strftime("%H%M%S")
        if not st.open:
            st.open = st.high = st.low = price
            st.open_hour = st.high_hour = st.low_hour = hour
        if price > st.high:
            st.high, st.high_hour = price, hour
        if price < st.low:
            st.low, st.low_hour = price, hour
        vol = rng.choice((1, 1, 2, 5, 10, 20, 50, 100, 300))
        st.cum_vol += vol
        st.cum_amount += vol * price
        if st.last_side == 1:
            st.buys += 1
        else:
            st.sells += 1
        diff = price - st.prev_close
        f = [
            code, hour, str(price), _sign(diff), str(diff),
            f"{diff * 100 / st.prev_close:.2f}", str(st.cum_amount // st.cum_vol),
            str(st.open), str(st.high), str(st.low), str(st.ask), str(st.bid),
            str(vol), str(st.cum_vol), str(st.cum_amount), str(st.sells), str(st.buys),
            str(st.buys - st.sells), f"{100 * (st.buys + 1) / (st.sells + 1):.2f}",
            str(st.cum_vol // 2), str(st.cum_vol - st.cum_vol // 2), str(st.last_side),
            "50.00", "100.00", st.open_hour, _sign(price - st.open), str(price - st.open),
            st.high_hour, _sign(price - st.high), str(price - st.high), st.low_hour,
            _sign(price - st.low), str(price - st.low), now.strftime("%Y%m%d"), "20", "N",
            str(rng.randrange(1, 5000)), str(rng.randrange(1, 5000)),
            str(rng.randrange(50_000, 500_000)), str(rng.randrange(50_000, 500_000)),
            "0.05", str(st.cum_vol), "100.00", "0", "", str(st.prev_close),
        ]
        f.extend("0" for _ in range(width - len(f)))
        return "^".join(f)

    def quote_record(self, code: str, now: datetime, width: int = 62) -> str:
        """One H0STASP0 record (``width`` ≥ 59; 62 adds the KRX mid-price fields)."""
        st = self.state(code)
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

    def price_summary(self, code: str) -> dict[str, str]:
        """Fields of FHKST01010100 ``output``."""
        st = self.state(code)
        diff = st.price - st.prev_close
        return {
            "stck_prpr": str(st.price), "prdy_vrss": str(diff), "prdy_vrss_sign": _sign(diff),
            "prdy_ctrt": f"{diff * 100 / st.prev_close:.2f}", "acml_vol": str(st.cum_vol),
            "acml_tr_pbmn": str(st.cum_amount), "stck_oprc": str(st.open or st.price),
            "stck_hgpr": str(st.high or st.price), "stck_lwpr": str(st.low or st.price),
            "stck_mxpr": str(_snap(st.prev_close * 13 // 10)),
            "stck_llam": str(_snap(st.prev_close * 7 // 10)), "stck_sdpr": str(st.prev_close),
            "aspr_unit": str(tick_size(st.price)), "temp_stop_yn": "N",
        }

    # -- chart history -------------------------------------------------------------

    def minute_bars(self, code: str, day: str) -> list[tuple[int, int, int, int, int]]:
        """(open, high, low, close, volume) for each minute 00:00..23:59 KST of ``day``."""
        key = (code, day)
        bars = self._days.get(key)
        if bars is None:
            rng = random.Random(zlib.crc32(f"{self.seed}:{code}:{day}".encode()))
            price = _snap(rng.randrange(5_000, 300_000))
            bars = []
            for _ in range(MINUTES_PER_DAY):
                o = price
                hi = lo = price
                for _ in range(4):
                    step = rng.choice((-1, 0, 1))
                    price = _tick_up(price) if step > 0 else (_tick_down(price) if step < 0 else price)
                    hi, lo = max(hi, price), min(lo, price)
                bars.append((o, hi, lo, price, rng.randrange(10, 5_000)))
            if len(self._days) > 512:
                self._days.clear()
            self._days[key] = bars
        return bars

    def daily_bars(self, code: str, until: date) -> list[tuple[date, int, int, int, int, int]]:
        """(day, open, high, low, close, volume) for weekdays from 2015 to ``until``, oldest first."""
        bars = self._daily.get(code)
        if bars is None or bars[-1][0] < until:
            rng = random.Random(zlib.crc32(f"{self.seed}:{code}:daily".encode()))
            price = _snap(rng.randrange(5_000, 300_000))
            bars = []
            day = _DAILY_ORIGIN
            end = max(until, date.today())
            while day <= end:
                if day.weekday() < 5:
                    o = price
                    c = _snap(max(100, int(o * (1 + rng.gauss(0, 0.02)))))
                    hi = _snap(int(max(o, c) * (1 + abs(rng.gauss(0, 0.01))))) or max(o, c)
                    lo = _snap(int(min(o, c) * (1 - abs(rng.gauss(0, 0.01)))))
                    bars.append((day, o, max(hi, o, c), min(lo, o, c), c, rng.randrange(10_000, 5_000_000)))
                    price = c
                day += timedelta(days=1)
            self._daily[code] = bars
        return bars
