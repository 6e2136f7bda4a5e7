"""Which market (KOSPI / KOSDAQ) a code is listed on, as KIS says it: a cache learnt in the background.

inquire-balance does not say a holding's market, and a sale's transaction tax
needs it (:mod:`engine.market.tax`). 상품기본조회 (search-info, CTPF1604R) does,
as ``mket_id_cd`` (``STK`` KOSPI, ``KSQ`` KOSDAQ: :func:`engine.market.listing.from_kis`).
:class:`KisListings` keeps each answer for the life of the process (a code does not
change market; the keyring holds the process's one cache, shared by every KIS
account and the KIS market-data source).

:meth:`KisListings.learn` never waits: it marks the codes not known yet as being
asked and starts one task that asks KIS for them one at a time through the
caller's :class:`~engine.brokers.kis.rest.KisRest`, so every call takes a slot of
that app key's throttle (the rate limit holds, and a balance read meanwhile takes
its own slot between two of them, never N). Until a code is known its market is
None (the API's ``null``). A code KIS lists with another market (KONEX, an ETN) or
has no data for is remembered as such and not asked again; a rate-limit, token or
network failure ends the run and the next :meth:`learn` tries the rest again.

Not persisted: a restarted process asks once more per code it holds (one throttled
call each, in the background), which costs less than a table kept in step with KIS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from engine.brokers.kis.errors import KisApiError, KisError, KisRateLimited, KisTokenError
from engine.brokers.kis.rest import KisRest
from engine.market.listing import from_kis
from engine.market.tax import Market

log = logging.getLogger(__name__)

SEARCH_INFO_PATH = "/uapi/domestic-stock/v1/quotations/search-info"
TR_SEARCH_INFO = "CTPF1604R"  # 상품기본조회: the same tr_id in both modes

__all__ = ["KisListings", "SEARCH_INFO_PATH", "TR_SEARCH_INFO"]


class KisListings:
    def __init__(self) -> None:
        self.known: dict[str, Market] = {}  # code -> KOSPI | KOSDAQ
        self.unlisted: set[str] = set()  # KIS gave no KOSPI/KOSDAQ market: not asked again
        self._asking: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.asked = 0  # search-info calls made

    def __repr__(self) -> str:
        return f"KisListings(known={len(self.known)}, unlisted={len(self.unlisted)}, asking={len(self._asking)})"

    def market(self, code: str) -> Market | None:
        """The code's market if KIS told it; None while unknown."""
        return self.known.get(code)

    def learn(self, rest: KisRest, codes: Iterable[str]) -> asyncio.Task[None] | None:
        """Ask KIS, in the background, for the markets of ``codes`` not known or asked yet; the task
        (None when there is nothing to ask) is the caller's to keep and cancel."""
        wanted = [c for c in dict.fromkeys(codes) if not self.asked_before(c) and c not in self._asking]
        if not wanted:
            return None
        self._asking.update(wanted)
        task = asyncio.get_running_loop().create_task(self._ask(rest, wanted), name="kis-listings")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def settled(self) -> None:
        """Barrier: every run started so far has ended (learnt, given up, or cancelled by its owner)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def ask(self, rest: KisRest, code: str) -> Market | None:
        """Ask KIS now for ``code``'s market (one call, through ``rest``'s throttle) and keep the
        answer; None when KIS gives no KOSPI/KOSDAQ market (remembered: not asked again). A
        rate-limit, token or network failure raises, as the call does."""
        try:
            resp = await rest.get(SEARCH_INFO_PATH, TR_SEARCH_INFO, {"PDNO": code, "PRDT_TYPE_CD": "300"})
        except (KisRateLimited, KisTokenError):
            raise
        except KisApiError as exc:
            log.warning("kis: search-info has no market for %s (%s): its market stays unknown", code, exc)
            self.unlisted.add(code)
            return None
        self.asked += 1
        output = resp.body.get("output")
        market = from_kis(str(output.get("mket_id_cd", ""))) if isinstance(output, dict) else None
        if market is None:
            log.warning("kis: search-info gave no KOSPI/KOSDAQ market for %s: it stays unknown", code)
            self.unlisted.add(code)
        else:
            self.known[code] = market
        return market

    def asked_before(self, code: str) -> bool:
        """Whether KIS already answered for ``code`` (known, or listed without a market)."""
        return code in self.known or code in self.unlisted

    async def _ask(self, rest: KisRest, codes: list[str]) -> None:
        try:
            for code in codes:
                try:
                    await self.ask(rest, code)
                except (KisRateLimited, KisTokenError) as exc:
                    log.warning("kis: markets of %d codes not learnt now (%s); asked again later", len(codes),
                                exc)
                    return
                except KisError as exc:
                    log.warning("kis: search-info failed (%s); markets asked again later", exc)
                    return
        finally:
            self._asking.difference_update(codes)
