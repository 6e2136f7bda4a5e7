"""``autotrader loadtest``: the load generator of the performance issue.

Starts the real server (or targets a running one on 127.0.0.1), feeds N codes
of the simulated market at R trades per second each, opens K WebSocket clients
of C codes each in worker processes, and reports ingest and delivery rates,
trade-to-client latency, drops, conflations, event-loop lag, CPU and memory.
``add_arguments(parser)`` and ``run(args)`` are the command's whole surface.
(Imported lazily, so ``python -m benchmarks.loadtest.clients`` workers load
only what they use.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_arguments", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from benchmarks.loadtest import cli

        return getattr(cli, name)
    raise AttributeError(name)
