"""KIS real-time frames: ``"<enc>|<tr_id>|<count>|<data>"`` into Tick, Quote, FillNotice.

``data`` holds ``count`` records joined by ``^`` (KIS_PROTOCOL.md §3.4). The record
width is ``len(fields) // count``; it must be at least the documented width, and
extra trailing fields (KIS appends fields without notice: 47 for H0STCNT0, 62 for
H0STASP0, 26 for H0STCNI0) are ignored. Anything else raises :class:`FrameError`.

Times: KIS sends HHMMSS in KST. Trades carry their business date (BSOP_DATE);
quotes do not, so the caller passes the current KST day's midnight
(:func:`kst_midnight_ms` of the clock's ``now_ms``). ``ts_ms`` is UTC epoch ms.

The trade path is a benchmark target: one ``split`` per frame, one ``int`` per
needed field, positional struct construction, a cached date → midnight table.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import date
from typing import Literal, NamedTuple

import msgspec
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from engine.brokers.kis.errors import FrameError
from engine.market.messages import Quote, Tick

TR_TRADE = "H0STCNT0"
TR_QUOTE = "H0STASP0"
TR_NOTICE = "H0STCNI0"
TR_NOTICE_PAPER = "H0STCNI9"
TRADE_TRS = frozenset({TR_TRADE, "H0UNCNT0", "H0NXCNT0"})  # same 46-field layout
QUOTE_TRS = frozenset({TR_QUOTE, "H0UNASP0", "H0NXASP0"})  # same first 59 fields
NOTICE_TRS = frozenset({TR_NOTICE, TR_NOTICE_PAPER})
# AUTOTRADER_KIS_VENUE -> (trade tr_id, quote tr_id, orders' EXCG_ID_DVSN_CD, REST FID_COND_MRKT_DIV_CODE)
VENUES: dict[str, tuple[str, str, str, str]] = {
    "KRX": (TR_TRADE, TR_QUOTE, "KRX", "J"),
    "NXT": ("H0NXCNT0", "H0NXASP0", "NXT", "NX"),
    "UN": ("H0UNCNT0", "H0UNASP0", "SOR", "UN"),  # 통합: KRX+NXT prints; orders routed by SOR
}

TRADE_WIDTH = 46
QUOTE_WIDTH = 59
NOTICE_WIDTH = 26
NOTICE_WIDTH_OLD = 23

KST_OFFSET_MS = 9 * 3600 * 1000
DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Frame(NamedTuple):
    encrypted: bool
    tr_id: str
    count: int
    data: str


def split_frame(raw: str) -> Frame:
    """Split the envelope; the data part is left as it is (maybe encrypted)."""
    parts = raw.split("|", 3)
    if len(parts) != 4:
        raise FrameError(f"not a data frame: {raw[:40]!r}")
    enc, tr_id, count_text, data = parts
    if enc != "0" and enc != "1":
        raise FrameError(f"bad encryption flag {enc[:8]!r}")
    if not count_text.isdigit():
        raise FrameError(f"bad record count {count_text[:8]!r}")
    count = int(count_text)
    if count < 1:
        raise FrameError("record count 0")
    return Frame(enc == "1", tr_id, count, data)


def kst_midnight_ms(now_ms: int) -> int:
    """UTC epoch ms of 00:00 KST on the KST day that contains ``now_ms``."""
    return (now_ms + KST_OFFSET_MS) // DAY_MS * DAY_MS - KST_OFFSET_MS


_MIDNIGHTS: dict[str, int] = {}


def date_midnight_ms(yyyymmdd: str) -> int:
    """UTC epoch ms of 00:00 KST on a ``YYYYMMDD`` date (cached)."""
    cached = _MIDNIGHTS.get(yyyymmdd)
    if cached is not None:
        return cached
    if len(yyyymmdd) != 8 or not yyyymmdd.isdigit():
        raise FrameError(f"bad date {yyyymmdd[:12]!r}")
    try:
        day = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise FrameError(f"bad date {yyyymmdd!r}") from None
    value = (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS - KST_OFFSET_MS
    if len(_MIDNIGHTS) > 256:
        _MIDNIGHTS.clear()
    _MIDNIGHTS[yyyymmdd] = value
    return value


def hms_ms(hhmmss: str) -> int:
    """Milliseconds since midnight of an ``HHMMSS`` string."""
    if len(hhmmss) != 6 or not hhmmss.isdigit():
        raise FrameError(f"bad time {hhmmss[:12]!r}")
    v = int(hhmmss)
    return (v // 10000 * 3600 + v // 100 % 100 * 60 + v % 100) * 1000


def _fields(data: str, count: int, documented: int, tr_id: str) -> tuple[list[str], int]:
    fields = data.split("^")
    n = len(fields)
    if n % count:
        raise FrameError(f"{tr_id}: {n} fields do not split into {count} records")
    width = n // count
    if width < documented:
        raise FrameError(f"{tr_id}: record of {width} fields, at least {documented} expected")
    return fields, width


def parse_ticks(data: str, count: int, seen_ns: int | None = None) -> list[Tick]:
    """H0STCNT0 records (46 fields documented, more accepted) into ticks."""
    fields, width = _fields(data, count, TRADE_WIDTH, TR_TRADE)
    if seen_ns is None:
        seen_ns = time.time_ns()
    midnights = _MIDNIGHTS
    out: list[Tick] = []
    append = out.append
    try:
        for b in range(0, len(fields), width):
            day = fields[b + 33]
            midnight = midnights.get(day)
            if midnight is None:
                midnight = date_midnight_ms(day)
            hms = fields[b + 1]
            if len(hms) != 6:
                raise FrameError(f"bad time {hms[:12]!r}")
            v = int(hms)
            if v < 0:
                raise FrameError(f"bad time {hms!r}")
            append(
                Tick(
                    fields[b],
                    midnight + (v // 10000 * 3600 + v // 100 % 100 * 60 + v % 100) * 1000,
                    int(fields[b + 2]),
                    int(fields[b + 12]),
                    int(fields[b + 13]),
                    int(fields[b + 4]),
                    int(fields[b + 10]),
                    int(fields[b + 11]),
                    seen_ns,
                )
            )
    except ValueError as exc:
        raise FrameError(f"{TR_TRADE}: bad number ({exc})") from None
    return out


def parse_quotes(data: str, count: int, midnight_ms: int, seen_ns: int | None = None) -> list[Quote]:
    """H0STASP0 records (59 documented, 62 on the wire) into 10-level books.

    ``midnight_ms`` is today's 00:00 KST (:func:`kst_midnight_ms`): quotes carry no date.
    """
    fields, width = _fields(data, count, QUOTE_WIDTH, TR_QUOTE)
    if seen_ns is None:
        seen_ns = time.time_ns()
    out: list[Quote] = []
    try:
        for b in range(0, len(fields), width):
            v = list(map(int, fields[b + 3 : b + 45]))
            out.append(
                Quote(
                    fields[b],
                    midnight_ms + hms_ms(fields[b + 1]),
                    tuple(v[0:10]),
                    tuple(v[10:20]),
                    tuple(v[20:30]),
                    tuple(v[30:40]),
                    v[40],
                    v[41],
                    seen_ns,
                )
            )
    except ValueError as exc:
        raise FrameError(f"{TR_QUOTE}: bad number ({exc})") from None
    return out


# -- encrypted frames -------------------------------------------------------------


def _cipher(key: str, iv: str) -> Cipher:
    try:
        return Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode()))
    except ValueError as exc:
        raise FrameError(f"bad AES key or iv: {exc}") from None


def decrypt(data: str, key: str, iv: str) -> str:
    """AES-256-CBC, base64, PKCS7 (key/iv from the subscription's acknowledgement)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FrameError("encrypted frame is not base64") from None
    try:
        decryptor = _cipher(key, iv).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"cannot decrypt frame: {exc}") from None


def encrypt(text: str, key: str, iv: str) -> str:
    """The inverse of :func:`decrypt` (the simulator's side)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = _cipher(key, iv).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


# -- fill notices (H0STCNI0 real / H0STCNI9 paper) -----------------------------------


class FillNotice(msgspec.Struct, frozen=True):
    """One order/fill notice. ``filled`` is CNTG_YN == 2 (a fill); else an acceptance."""

    customer_id: str
    account_no: str
    order_no: str
    orig_order_no: str
    side: Literal["buy", "sell"]
    revise_kind: str  # RCTF_CLS
    order_kind: str  # ODER_KIND: 00 limit, 01 market ...
    order_cond: str
    code: str
    quantity: int  # filled quantity when filled, else the order quantity
    price: int  # fill price when filled
    time: str  # HHMMSS KST
    rejected: bool
    filled: bool
    accept_kind: str  # ACPT_YN: 1 accepted, 2 confirmed, 3 cancelled (FOK/IOC)
    branch_no: str
    order_qty: int
    account_name: str
    exchange: str  # ORD_EXG_GB (26-field layout only; "" on the old 23-field one)
    order_price: int


_SIDES = {"01": "sell", "02": "buy"}


def _num(text: str) -> int:
    return int(text) if text.strip() else 0


def parse_fill_notices(data: str, count: int) -> list[FillNotice]:
    """Decrypted H0STCNI0/H0STCNI9 records: 26 fields now, the old 23 still accepted."""
    fields, width = _fields(data, count, NOTICE_WIDTH_OLD, TR_NOTICE)
    new = width >= NOTICE_WIDTH
    out: list[FillNotice] = []
    for b in range(0, len(fields), width):
        r = fields[b : b + width]
        side = _SIDES.get(r[4])
        if side is None:
            raise FrameError(f"{TR_NOTICE}: bad side {r[4][:8]!r}")
        try:
            out.append(
                FillNotice(
                    r[0], r[1], r[2], r[3], side, r[5], r[6], r[7], r[8],
                    _num(r[9]), _num(r[10]), r[11], r[12] == "1", r[13] == "2", r[14],
                    r[15], _num(r[16]), r[17], r[19] if new else "",
                    _num(r[25] if new else r[22]),
                )
            )
        except ValueError as exc:
            raise FrameError(f"{TR_NOTICE}: bad number ({exc})") from None
    return out
