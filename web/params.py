"""Numbers from paths and query strings, checked at the edge.

``str.isdigit`` accepts ``²`` and ``①`` (which ``int`` then refuses) and ``int``
accepts ``٠٠٥٩٣٠``, ``+1``, `` 1`` and ``1_0``: only ASCII digits pass here,
and only values a BIGINT column holds (SQLite raises past 2^63 - 1).
"""

from __future__ import annotations

MAX_ID = 2**63 - 1


def ascii_int(raw: str | None, lo: int = 0, hi: int = MAX_ID) -> int | None:
    """``raw`` as an int when it is 1-19 ASCII digits within [lo, hi]; ``None`` otherwise."""
    if raw is None or not 0 < len(raw) <= 19 or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


def parse_id(raw: str | None) -> int | None:
    """A row id (1 to 2^63 - 1) from ASCII digits, else ``None``."""
    return ascii_int(raw, 1, MAX_ID)
