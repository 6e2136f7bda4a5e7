"""Technical indicators with TA-Lib's exact conventions, batch and incremental.

Batch functions take numpy arrays and return float64 arrays of the same length,
NaN during the warm-up (TA-Lib's "lookback"):

=========  ====================  ==============================================
function   first value at index  seed / smoothing
=========  ====================  ==============================================
ema        period - 1            SMA of the first `period` values, then
                                 y = (1 - k) y' + k x with k = 2 / (period + 1)
rsi        period                mean gain / loss of the first `period` changes,
                                 then Wilder: a = a' (p - 1) / p + x / p
plus_di    period                DM and TR summed over changes 1 .. period - 1,
minus_di                         then one Wilder "sum" step per bar:
                                 S = S' (1 - 1/p) + x
adx        2 * period - 1        mean of the first `period` DX values (a DX
                                 that is undefined counts as 0), then Wilder;
                                 an undefined DX leaves the ADX unchanged
obv        0                     starts at the first volume
=========  ====================  ==============================================

As in TA-Lib, a denominator within 1e-8 of zero gives 0 (RSI, DI) or skips the
DX. TA-Lib's unstable periods are all 0 by default and so are ours. Recursions
run in ``scipy.signal.lfilter``; the incremental ``*State`` classes perform the
same floating-point operations in the same order, so live values equal the batch
values on every bar.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

__all__ = [
    "ema", "rsi", "adx", "plus_di", "minus_di", "obv",
    "EmaState", "RsiState", "DmiState", "ObvState",
    "ema_lookback", "rsi_lookback", "di_lookback", "adx_lookback",
]

_EPS = 1e-8  # TA_IS_ZERO


def _is_zero(v: float) -> bool:
    return -_EPS < v < _EPS


def ema_lookback(period: int) -> int:
    return period - 1


def rsi_lookback(period: int) -> int:
    return period


def di_lookback(period: int) -> int:
    return period


def adx_lookback(period: int) -> int:
    return 2 * period - 1


def _as_float(a: np.ndarray | list[float]) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _check_period(period: int, minimum: int) -> None:
    if not isinstance(period, (int, np.integer)) or period < minimum:
        raise ValueError(f"period must be an integer >= {minimum}, got {period!r}")


def _first_order(x: np.ndarray, b0: float, pole: float, y0: float) -> np.ndarray:
    """y[n] = pole * y[n-1] + b0 * x[n] with y[-1] = y0 (a compiled recursion)."""
    if x.size == 0:
        return x.copy()
    y, _ = lfilter([b0], [1.0, -pole], x, zi=[pole * y0])
    return y


# -- batch -------------------------------------------------------------------


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average seeded with the SMA of the first `period` values."""
    _check_period(period, 1)
    x = _as_float(close)
    out = np.full(x.size, np.nan)
    if x.size < period:
        return out
    k = 2.0 / (period + 1)
    seed = _seq_sum(x[:period]) / period
    out[period - 1] = seed
    out[period:] = _first_order(x[period:], k, 1.0 - k, seed)
    return out


def _seq_sum(x: np.ndarray) -> float:
    """Left-to-right sum, as TA-Lib's seed loops add (np.sum is pairwise)."""
    return float(np.cumsum(x)[-1]) if x.size else 0.0


def _gains_losses(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(x)
    return np.where(d > 0, d, 0.0), np.where(d < 0, -d, 0.0)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index (0..100)."""
    _check_period(period, 2)
    x = _as_float(close)
    out = np.full(x.size, np.nan)
    if x.size <= period:
        return out
    gain, loss = _gains_losses(x)
    g0 = _seq_sum(gain[:period]) / period
    l0 = _seq_sum(loss[:period]) / period
    pole = (period - 1) / period
    b0 = 1.0 / period
    avg_g = np.concatenate(([g0], _first_order(gain[period:], b0, pole, g0)))
    avg_l = np.concatenate(([l0], _first_order(loss[period:], b0, pole, l0)))
    total = avg_g + avg_l
    with np.errstate(divide="ignore", invalid="ignore"):
        val = 100.0 * (avg_g / total)
    out[period:] = np.where(np.abs(total) < _EPS, 0.0, val)
    return out


def _directional(high: np.ndarray, low: np.ndarray, close: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """+DM, -DM and true range for bars 1..n-1 (TA-Lib's rules)."""
    diff_p = np.diff(high)
    diff_m = -np.diff(low)
    pdm = np.where((diff_p > 0) & (diff_p > diff_m), diff_p, 0.0)
    mdm = np.where((diff_m > 0) & (diff_p < diff_m), diff_m, 0.0)
    h, lo, pc = high[1:], low[1:], close[:-1]
    tr = np.maximum(np.maximum(h - lo, np.abs(h - pc)), np.abs(lo - pc))
    return pdm, mdm, tr


def _wilder_sums(v: np.ndarray, period: int) -> np.ndarray:
    """Smoothed sums for bars period..n-1: seed over v[:period-1], then S(1-1/p)+x."""
    seed = _seq_sum(v[: period - 1])
    return _first_order(v[period - 1:], 1.0, 1.0 - 1.0 / period, seed)


def _dmi(high, low, close, period: int):
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    if not (h.size == lo.size == c.size):
        raise ValueError("high, low and close must have the same length")
    if h.size <= period:
        return h.size, None
    pdm, mdm, tr = _directional(h, lo, c)
    s_p = _wilder_sums(pdm, period)
    s_m = _wilder_sums(mdm, period)
    s_tr = _wilder_sums(tr, period)
    zero_tr = np.abs(s_tr) < _EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        pdi = np.where(zero_tr, 0.0, 100.0 * (s_p / s_tr))
        mdi = np.where(zero_tr, 0.0, 100.0 * (s_m / s_tr))
    return h.size, (pdi, mdi, zero_tr)


def plus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """+DI: 100 x smoothed +DM / smoothed true range."""
    _check_period(period, 2)
    n, res = _dmi(high, low, close, period)
    out = np.full(n, np.nan)
    if res is not None:
        out[period:] = res[0]
    return out


def minus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """-DI: 100 x smoothed -DM / smoothed true range."""
    _check_period(period, 2)
    n, res = _dmi(high, low, close, period)
    out = np.full(n, np.nan)
    if res is not None:
        out[period:] = res[1]
    return out


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Average directional index (Wilder), TA-Lib's first-sum and zero rules."""
    _check_period(period, 2)
    n, res = _dmi(high, low, close, period)
    out = np.full(n, np.nan)
    if res is None or n < 2 * period:
        return out
    pdi, mdi, zero_tr = res
    total = pdi + mdi
    valid = ~zero_tr & ~(np.abs(total) < _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = 100.0 * (np.abs(mdi - pdi) / total)
    # dx[j] belongs to bar period + j; the first ADX (bar 2p-1) averages j < p.
    first = _seq_sum(np.where(valid[:period], dx[:period], 0.0)) / period
    rest_dx, rest_ok = dx[period:], valid[period:]
    smoothed = _first_order(rest_dx[rest_ok], 1.0 / period, (period - 1) / period, first)
    # An undefined DX holds the previous ADX: forward-fill over the compressed run.
    idx = np.cumsum(rest_ok) - 1  # position in `smoothed` of the last valid DX
    seq = np.concatenate(([first], smoothed))
    out[2 * period - 1] = first
    out[2 * period:] = seq[idx + 1]
    return out


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting at the first bar's volume."""
    c, v = _as_float(close), _as_float(volume)
    if c.size != v.size:
        raise ValueError("close and volume must have the same length")
    if c.size == 0:
        return c.copy()
    d = np.diff(c)
    signed = np.concatenate(([v[0]], np.where(d > 0, v[1:], np.where(d < 0, -v[1:], 0.0))))
    return np.cumsum(signed)


# -- incremental ---------------------------------------------------------------


class EmaState:
    """EMA one value at a time; equal to :func:`ema` on every bar."""

    __slots__ = ("period", "_k", "_pole", "_n", "_sum", "value")

    def __init__(self, period: int) -> None:
        _check_period(period, 1)
        self.period = period
        self._k = 2.0 / (period + 1)
        self._pole = 1.0 - self._k
        self._n = 0
        self._sum = 0.0
        self.value = math.nan

    def update(self, x: float) -> float:
        self._n += 1
        if self._n < self.period:
            self._sum += x
        elif self._n == self.period:
            self._sum += x
            self.value = self._sum / self.period
        else:
            self.value = self._pole * self.value + self._k * x
        return self.value


class _Wilder:
    """Wilder average: seed = mean of the first p inputs, then a' (p-1)/p + x/p."""

    __slots__ = ("period", "_b0", "_pole", "_n", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self._b0 = 1.0 / period
        self._pole = (period - 1) / period
        self._n = 0
        self.value = 0.0

    def update(self, x: float) -> bool:
        """Add one input; True once the average is seeded."""
        self._n += 1
        if self._n < self.period:
            self.value += x
            return False
        if self._n == self.period:
            self.value = (self.value + x) / self.period
        else:
            self.value = self._pole * self.value + self._b0 * x
        return True


class RsiState:
    """RSI one close at a time; equal to :func:`rsi` on every bar."""

    __slots__ = ("period", "_prev", "_gain", "_loss", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period, 2)
        self.period = period
        self._prev = math.nan
        self._gain = _Wilder(period)
        self._loss = _Wilder(period)
        self.value = math.nan

    def update(self, close: float) -> float:
        prev, self._prev = self._prev, close
        if math.isnan(prev):
            return self.value
        d = close - prev
        self._gain.update(d if d > 0 else 0.0)
        if self._loss.update(-d if d < 0 else 0.0):
            total = self._gain.value + self._loss.value
            self.value = 0.0 if _is_zero(total) else 100.0 * (self._gain.value / total)
        return self.value


class DmiState:
    """+DI, -DI and ADX one bar at a time; equal to the batch functions.

    :meth:`update` returns the ADX; ``plus_di``, ``minus_di`` and ``adx`` hold the
    latest values (NaN in their warm-ups).
    """

    __slots__ = ("period", "_n", "_prev", "_sp", "_sm", "_str", "_pole",
                 "_dx_sum", "_ndx", "plus_di", "minus_di", "adx")

    def __init__(self, period: int = 14) -> None:
        _check_period(period, 2)
        self.period = period
        self._pole = 1.0 - 1.0 / period
        self._n = 0  # changes seen
        self._prev: tuple[float, float, float] | None = None
        self._sp = self._sm = self._str = 0.0
        self._dx_sum = 0.0
        self._ndx = 0
        self.plus_di = self.minus_di = self.adx = math.nan

    def update(self, high: float, low: float, close: float) -> float:
        prev, self._prev = self._prev, (high, low, close)
        if prev is None:
            return self.adx
        ph, pl, pc = prev
        diff_p, diff_m = high - ph, pl - low
        pdm = diff_p if (diff_p > 0 and diff_p > diff_m) else 0.0
        mdm = diff_m if (diff_m > 0 and diff_p < diff_m) else 0.0
        tr = max(max(high - low, abs(high - pc)), abs(low - pc))
        self._n += 1
        p = self.period
        if self._n < p:
            self._sp += pdm
            self._sm += mdm
            self._str += tr
            return self.adx
        self._sp = self._pole * self._sp + pdm
        self._sm = self._pole * self._sm + mdm
        self._str = self._pole * self._str + tr
        if _is_zero(self._str):
            self.plus_di = self.minus_di = 0.0
            dx = math.nan
        else:
            self.plus_di = 100.0 * (self._sp / self._str)
            self.minus_di = 100.0 * (self._sm / self._str)
            total = self.plus_di + self.minus_di
            dx = math.nan if _is_zero(total) else 100.0 * (abs(self.minus_di - self.plus_di) / total)
        self._ndx += 1
        if self._ndx < p:
            if not math.isnan(dx):
                self._dx_sum += dx
        elif self._ndx == p:
            if not math.isnan(dx):
                self._dx_sum += dx
            self.adx = self._dx_sum / p
        elif not math.isnan(dx):
            self.adx = ((p - 1) / p) * self.adx + (1.0 / p) * dx
        return self.adx


class ObvState:
    """On-balance volume one bar at a time; equal to :func:`obv`."""

    __slots__ = ("_prev", "value")

    def __init__(self) -> None:
        self._prev = math.nan
        self.value = math.nan

    def update(self, close: float, volume: float) -> float:
        prev, self._prev = self._prev, close
        if math.isnan(prev):
            self.value = float(volume)
        elif close > prev:
            self.value += volume
        elif close < prev:
            self.value -= volume
        return self.value
