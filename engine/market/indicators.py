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
run in compiled code (a blocked matrix product plus ``scipy.signal.lfilter``,
see :func:`_first_order`): below 131,072 bars ``lfilter`` performs the same
floating-point operations in the same order as the incremental ``*State``
classes, so live values equal the batch values exactly on every bar; longer
series run a blocked matrix product that differs by rounding only (~1e-15).
"""

from __future__ import annotations

import functools
import math

import numpy as np

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


_BLOCK = 16  # samples per row of the blocked recursion
_CHUNK_ROWS = 2048  # rows per chunk: 256 KB of scratch, in cache
# Below this many samples the plain recursion runs: bit-identical to the *State
# classes, so a backtest and a live swing take the same decisions bar for bar.
_BLOCKED_MIN = 1 << 17


@functools.lru_cache(maxsize=64)
def _kernel(b0: float, pole: float) -> tuple[np.ndarray, np.ndarray]:
    """K[j, i] = b0 * pole**(i - j) for j <= i (0 above), and pole**(i + 1), i < _BLOCK."""
    i = np.arange(_BLOCK)
    lag = i[None, :] - i[:, None]
    k = np.where(lag >= 0, b0 * pole ** np.maximum(lag, 0).astype(np.float64), 0.0)
    k.setflags(write=False)
    decay = pole ** (i + 1.0)
    decay.setflags(write=False)
    return k, decay


def _lfilter(b: list[float], a: list[float], x: np.ndarray, zi: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.lfilter``, imported when a batch first runs: scipy.signal costs 1.4 s at
    import, which every server start and CLI call would otherwise pay (live swings and
    strategies use the incremental states, which need no scipy)."""
    from scipy.signal import lfilter

    return lfilter(b, a, x, zi=zi)


def _first_order(x: np.ndarray, b0: float, pole: float, y0: float,
                 out: np.ndarray | None = None) -> np.ndarray:
    """y[n] = pole * y[n-1] + b0 * x[n] with y[-1] = y0, in compiled code, into `out`.

    `out` may be `x` itself. Inputs shorter than ``_BLOCKED_MIN`` (131,072: more
    than 60 years of hourly KRX bars) run ``lfilter``, whose operations are
    exactly those of the incremental states. Longer finite inputs run blocked: rows of ``_BLOCK``
    samples go through one matrix product with the filter's impulse response
    (each row as if it started from 0), a short ``lfilter`` over the row ends
    carries the state from row to row, and ``carry * pole**(i+1)`` adds it
    back, chunk by chunk in a cache-sized scratch array. Only non-negative
    powers of the pole appear, so nothing overflows; values differ from the
    plain recursion by rounding only (about 1e-15 relative). Non-finite inputs
    (where a NaN must only spread forward) always use ``lfilter``.
    """
    n = x.size
    y = np.empty(n) if out is None else out
    rows = n // _BLOCK
    if n < _BLOCKED_MIN or not math.isfinite(float(np.dot(x, x))):
        if n:
            y[:], _ = _lfilter([b0], [1.0, -pole], x, zi=[pole * y0])
        return y
    k, decay = _kernel(float(b0), float(pole))
    step = float(decay[-1])  # pole ** _BLOCK
    scratch = np.empty((min(rows, _CHUNK_ROWS), _BLOCK))
    term = np.empty_like(scratch)
    carry = np.empty(scratch.shape[0])
    last = y0
    for first in range(0, rows, _CHUNK_ROWS):
        r = min(_CHUNK_ROWS, rows - first)
        lo, hi = first * _BLOCK, (first + r) * _BLOCK
        block = np.matmul(x[lo:hi].reshape(r, _BLOCK), k, out=scratch[:r])
        ends, _ = _lfilter([1.0], [1.0, -step], block[:, -1], zi=[step * last])
        carry[0] = last
        carry[1:r] = ends[:-1]
        block += np.multiply(carry[:r, None], decay, out=term[:r])
        y[lo:hi] = block.reshape(-1)
        last = float(ends[-1])
    full = rows * _BLOCK
    if full < n:
        y[full:], _ = _lfilter([b0], [1.0, -pole], x[full:], zi=[pole * last])
    return y


def _nan_head(n: int, first: int) -> np.ndarray:
    """An uninitialised float64 array of length n whose first `first` values are NaN."""
    out = np.empty(n)
    out[:first] = np.nan
    return out


def _ratio100(num: np.ndarray, den: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = 100 * (num / den), 0 where |den| < 1e-8 (TA-Lib's order of operations)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(num, den, out=out)
    out *= 100.0
    zero = _near_zero(den)
    if zero.any():
        out[zero] = 0.0
    return out


def _near_zero(v: np.ndarray) -> np.ndarray:
    """|v| < 1e-8 without a float temporary (fresh big arrays cost page faults)."""
    zero = v < _EPS
    zero &= v > -_EPS
    return zero


# -- batch -------------------------------------------------------------------


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average seeded with the SMA of the first `period` values."""
    _check_period(period, 1)
    x = _as_float(close)
    if x.size < period:
        return np.full(x.size, np.nan)
    out = _nan_head(x.size, period - 1)
    k = 2.0 / (period + 1)
    seed = _seq_sum(x[:period]) / period
    out[period - 1] = seed
    _first_order(x[period:], k, 1.0 - k, seed, out[period:])
    return out


def _seq_sum(x: np.ndarray) -> float:
    """Left-to-right sum, as TA-Lib's seed loops add (np.sum is pairwise)."""
    return float(np.cumsum(x)[-1]) if x.size else 0.0


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index (0..100)."""
    _check_period(period, 2)
    x = _as_float(close)
    if x.size <= period:
        return np.full(x.size, np.nan)
    # Two n-sized arrays in all (fresh big arrays cost page faults), filtered in
    # place: out[b] holds bar b's gain, then its average gain, then its RSI; d[b-1]
    # holds bar b's loss, then its average loss, then the total.
    out = np.empty(x.size)
    d = np.diff(x)
    np.maximum(d, 0.0, out=out[1:])
    np.negative(d, out=d)
    np.maximum(d, 0.0, out=d)
    pole, b0 = (period - 1) / period, 1.0 / period
    g0 = _seq_sum(out[1: period + 1]) / period
    l0 = _seq_sum(d[:period]) / period
    out[period], d[period - 1] = g0, l0
    avg_g, avg_l = out[period:], d[period - 1:]
    _first_order(avg_g[1:], b0, pole, g0, avg_g[1:])
    _first_order(avg_l[1:], b0, pole, l0, avg_l[1:])
    total = np.add(avg_g, avg_l, out=avg_l)
    _ratio100(avg_g, total, avg_g)
    out[:period] = np.nan
    return out


def _smoothed_dm(high, low, close, period: int):
    """Wilder sums of +DM, -DM and true range for bars period..n-1, plus a spare buffer.

    Four n-sized arrays in all (fresh big arrays cost page faults); every step
    after the differences runs in place.
    """
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    if not (h.size == lo.size == c.size):
        raise ValueError("high, low and close must have the same length")
    if h.size <= period:
        return h.size, None
    up = np.diff(h)
    down = np.subtract(lo[:-1], lo[1:])
    spare = np.maximum(down, 0.0)
    plus = up > spare
    np.maximum(up, 0.0, out=spare)
    minus = down > spare
    up *= plus  # +DM: up where up > max(down, 0), else 0
    down *= minus  # -DM
    hi, low1, pc = h[1:], lo[1:], c[:-1]
    tr = np.subtract(hi, low1)
    np.abs(np.subtract(hi, pc, out=spare), out=spare)
    np.maximum(tr, spare, out=tr)
    np.abs(np.subtract(low1, pc, out=spare), out=spare)
    np.maximum(tr, spare, out=tr)
    sums = tuple(_wilder_sums(v, period) for v in (up, down, tr))
    return h.size, (*sums, spare)


def _wilder_sums(v: np.ndarray, period: int) -> np.ndarray:
    """Smoothed sums for bars period..n-1, in place: seed over v[:period-1], then S(1-1/p)+x."""
    seed = _seq_sum(v[: period - 1])
    rest = v[period - 1:]
    return _first_order(rest, 1.0, 1.0 - 1.0 / period, seed, rest)


def _di(high, low, close, period: int, which: int) -> np.ndarray:
    _check_period(period, 2)
    n, res = _smoothed_dm(high, low, close, period)
    if res is None:
        return np.full(n, np.nan)
    out = _nan_head(n, period)
    _ratio100(res[which], res[2], out[period:])
    return out


def plus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """+DI: 100 x smoothed +DM / smoothed true range."""
    return _di(high, low, close, period, 0)


def minus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """-DI: 100 x smoothed -DM / smoothed true range."""
    return _di(high, low, close, period, 1)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Average directional index (Wilder), TA-Lib's first-sum and zero rules."""
    _check_period(period, 2)
    n, res = _smoothed_dm(high, low, close, period)
    if res is None or n < 2 * period:
        return np.full(n, np.nan)
    s_p, s_m, s_tr, spare = res
    valid = ~_near_zero(s_tr)
    pdi = _ratio100(s_p, s_tr, s_p)  # in place: the sums are not needed any more
    mdi = _ratio100(s_m, s_tr, s_m)
    total = np.add(pdi, mdi, out=spare[: pdi.size])
    valid &= ~_near_zero(total)
    dx = np.subtract(mdi, pdi, out=mdi)
    np.abs(dx, out=dx)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(dx, total, out=dx)
    dx *= 100.0
    # dx[j] belongs to bar period + j; the first ADX (bar 2p-1) averages j < p.
    first = _seq_sum(np.where(valid[:period], dx[:period], 0.0)) / period
    out = _nan_head(n, 2 * period - 1)
    out[2 * period - 1] = first
    pole, b0 = (period - 1) / period, 1.0 / period
    rest_dx, rest_ok = dx[period:], valid[period:]
    if rest_ok.all():
        _first_order(rest_dx, b0, pole, first, out[2 * period:])
        return out
    smoothed = _first_order(rest_dx[rest_ok], b0, pole, first)
    # An undefined DX holds the previous ADX: forward-fill over the compressed run.
    idx = np.cumsum(rest_ok) - 1  # position in `smoothed` of the last valid DX
    seq = np.concatenate(([first], smoothed))
    out[2 * period:] = seq[idx + 1]
    return out


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting at the first bar's volume."""
    c, v = _as_float(close), _as_float(volume)
    if c.size != v.size:
        raise ValueError("close and volume must have the same length")
    if c.size == 0:
        return c.copy()
    out = np.empty(c.size)
    out[0] = v[0]
    np.sign(np.diff(c), out=out[1:])
    out[1:] *= v[1:]
    return np.cumsum(out, out=out)


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
