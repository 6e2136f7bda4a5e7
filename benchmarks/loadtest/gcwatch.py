"""``autotrader serve`` with the cyclic garbage collector's pauses recorded.

    python -m benchmarks.loadtest.gcwatch FILE serve --port 0 ...

Runs the ordinary command line (``web.cli.main``) with a ``gc.callbacks`` hook
that times every collection, and at exit writes to FILE, per generation, the
number of collections, their total time and the largest pause; and once, at the
15th full collection, how many objects the collector tracks, by type (that
census itself pauses the server once). ``autotrader loadtest --gc-watch`` starts the server this way, to
tell collector pauses from the rest of the event-loop lag. Nothing in the
server changes; the hook costs two clock reads per collection.
"""

from __future__ import annotations

import atexit
import gc
import json
import runpy
import sys
import time
from collections import Counter

_stats: dict[int, dict[str, float]] = {g: {"count": 0, "total_ms": 0.0, "max_ms": 0.0} for g in range(3)}
_started: list[float] = [0.0]
_census: dict[str, object] = {}
CENSUS_AT = 15  # the gen-2 collection after which the tracked objects are counted by type


def _hook(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    s = _stats[info["generation"]]
    s["count"] += 1
    s["total_ms"] += ms
    s["max_ms"] = max(s["max_ms"], ms)
    if info["generation"] == 2 and s["count"] == CENSUS_AT:  # once, under load: what the collector walks
        tracked = gc.get_objects(2)
        _census["tracked_gen2"] = len(tracked)
        _census["top_types"] = Counter(type(o).__qualname__ for o in tracked).most_common(12)
        del tracked


def main() -> int:
    path, argv = sys.argv[1], sys.argv[2:]

    def dump() -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({**{str(g): s for g, s in _stats.items()}, "census": _census}, f)

    atexit.register(dump)
    gc.callbacks.append(_hook)
    sys.argv = ["autotrader", *argv]  # the ordinary command line, as `python -m web.cli` runs it
    try:
        runpy.run_module("web.cli", run_name="__main__")
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
