"""KIS's 국내휴장일조회 (CTCA0903R) as the authority for the KRX calendar in kis mode.

``GET /uapi/domestic-stock/v1/quotations/chk-holiday?BASS_DT=YYYYMMDD&CTX_AREA_NK=&CTX_AREA_FK=``
answers the days from ``BASS_DT`` on, each with ``opnd_yn`` (개장일여부: whether KRX
opens; KIS's page: use it to know whether orders can be placed), ``bzdy_yn``,
``tr_day_yn`` and ``sttl_day_yn``. KIS's API page (국내휴장일조회[국내주식-040]) asks
for about one call a day ("당사 원장서비스와 연관되어 있어 단시간 내 다수 호출시 서비스에
영향을 줄 수 있어 가급적 1일 1회 호출") and 모의투자 does not serve it, so
:class:`KisCalendar` asks once per KST day, real mode only, through the app key's
throttle, and lets the answer win over the library calendar and the
override table (:func:`engine.market.krx.apply_exchange_days`). When KIS cannot
answer (down, rate limit ``EGW00201``, no token yet) the library and the override
table stay in force and the inquiry is retried after ``retry_s``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from engine.brokers.kis.errors import KisError
from engine.brokers.kis.rest import KisRest
from engine.market import krx
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)

HOLIDAY_PATH = "/uapi/domestic-stock/v1/quotations/chk-holiday"
TR_HOLIDAY = "CTCA0903R"


def parse_days(body: dict) -> dict[dt.date, bool]:
    """``output`` rows -> {date: opnd_yn == "Y"}; rows without a readable date are skipped."""
    rows = body.get("output")
    days: dict[dt.date, bool] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        try:
            day = dt.datetime.strptime(str(row.get("bass_dt", "")), "%Y%m%d").date()
        except ValueError:
            continue
        flag = str(row.get("opnd_yn", "")).upper()
        if flag in ("Y", "N"):
            days[day] = flag == "Y"
    return days


class KisCalendar:
    """Keeps :mod:`engine.market.krx`'s calendar in step with KIS, one inquiry per KST day."""

    def __init__(self, rest: KisRest, clock: Clock, *, retry_s: float = 600.0) -> None:
        self._rest = rest
        self._clock = clock
        self.retry_s = retry_s
        self.asked_for: dt.date | None = None  # the KST day of the last inquiry that answered
        self.inquiries = 0
        self.failures = 0
        self.answered = asyncio.Event()  # set by each inquiry KIS answered (tests await it)

    def __repr__(self) -> str:
        return f"KisCalendar(asked_for={self.asked_for}, inquiries={self.inquiries})"

    async def refresh(self) -> bool:
        """Ask KIS for the days from today unless it answered today already; True when KIS's word holds."""
        today = krx.kst_date(self._clock.now_ms())
        if self.asked_for == today:
            return True
        self.inquiries += 1
        params = {"BASS_DT": today.strftime("%Y%m%d"), "CTX_AREA_NK": "", "CTX_AREA_FK": ""}
        try:
            resp = await self._rest.get(HOLIDAY_PATH, TR_HOLIDAY, params)
        except KisError as exc:
            self.failures += 1
            log.warning("KIS holiday inquiry failed (%s); the library calendar stays in force", exc)
            return False
        days = parse_days(resp.body)
        if not days:
            self.failures += 1
            log.warning("KIS holiday inquiry answered no days; the library calendar stays in force")
            return False
        changed = krx.apply_exchange_days(days, "KIS")
        self.asked_for = today
        self.answered.set()
        log.info("KIS holiday inquiry: %d days from %s, %d differ from the library", len(days), today,
                 len(changed))
        return True

    async def run(self) -> None:
        """Refresh now, then after each KST midnight; retry after ``retry_s`` when KIS did not answer."""
        while True:
            ok = await self.refresh()
            now = self._clock.now_ms()
            midnight = krx.kst_midnight_ms(krx.kst_date(now) + dt.timedelta(days=1))
            wait_s = (midnight - now) / 1000 + 60  # a minute into the new day
            await self._clock.sleep(wait_s if ok else min(self.retry_s, wait_s))
