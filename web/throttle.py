"""Login throttling: too many failures for one email or one client address
within the lock-out window → 429 until the window passes.

Only the event loop touches it (no lock needed); time comes from the app's
clock. Memory is bounded: entries older than the window are pruned, and the
table keeps at most ``max_keys`` keys (oldest dropped first).
"""

from __future__ import annotations

from collections import OrderedDict, deque

from engine.runtime import Clock


class LoginThrottle:
    def __init__(self, clock: Clock, max_failures: int, window_s: float, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, *keys: str) -> float:
        """Seconds until these keys may try again; 0 when not locked."""
        now = self.clock.monotonic()
        wait = 0.0
        for key in keys:
            times = self._prune(key, now)
            if times is not None and len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window_s - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = self.clock.monotonic()
        for key in keys:
            times = self._failures.pop(key, None) or deque(maxlen=self.max_failures)
            times.append(now)
            self._failures[key] = times
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
