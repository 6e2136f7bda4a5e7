"""Which market a code is listed on — KOSPI or KOSDAQ: a sale's transaction tax
(:mod:`engine.market.tax`) and an account's holdings need it.

The market-data source knows it (:meth:`engine.brokers.base.MarketDataSource.listing`):

- the simulated markets (the embedded ``sim`` and the KIS simulator) draw it from
  the code alone with :func:`simulated_market`, the same rule in both, so a code
  is KOSDAQ in one exactly when it is in the other;
- KIS answers it in 상품기본조회 (search-info, CTPF1604R) as ``mket_id_cd``
  (``STK`` KOSPI, ``KSQ`` KOSDAQ): :func:`from_kis`;
- a replay plays one file of one code, taken as :data:`DEFAULT_MARKET` (the
  files in ``shared/data`` are KOSPI listings, and the backtest's ``--market``
  defaults to it too).
"""

from __future__ import annotations

from engine.market.tax import Market

__all__ = ["DEFAULT_MARKET", "simulated_market", "from_kis"]

DEFAULT_MARKET: Market = "KOSPI"
KIS_MARKETS: dict[str, Market] = {"STK": "KOSPI", "KSQ": "KOSDAQ"}


def simulated_market(code: str) -> Market:
    """A simulated code's market, fixed per code (about a third of codes are KOSDAQ)."""
    return "KOSDAQ" if sum(map(ord, code)) % 3 == 0 else "KOSPI"


def from_kis(mket_id_cd: str) -> Market | None:
    """KIS's market id (search-info ``mket_id_cd``) as a market; None for anything else (KONEX, ETNs...)."""
    return KIS_MARKETS.get(mket_id_cd.strip().upper())
