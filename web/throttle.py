"""Login throttling that an attacker can neither race nor turn against the victim.

Every attempt is counted **when it starts** (so guesses still inside bcrypt
count), under three keys:

- the pair (email, address): ``max_failures`` counted attempts in the window
  lock that pair (429 with ``Retry-After``). One typo-prone user behind a NAT
  locks out only themselves, never the office;
- the address: ``max_per_address`` counted attempts in the window lock the
  address for every email (password spraying from one place);
- the email, across addresses: past ``max_failures`` counted attempts the
  email is *slowed*, not locked: an address that has not logged into this
  email before may try once per delay, the delay doubling with every further
  failure (1 s, 2 s, 4 s, ... at most ``max_delay_s``). An address that has
  logged into the email before is never slowed, so an attacker who guesses at
  a victim's email from elsewhere cannot keep the victim (who knows the
  password) out.

A success clears only the (email, address) pair that succeeded and withdraws
that one attempt from the email and address counts; the address's other
failures stay. Only the event loop touches it (no lock needed); time comes
from the app's clock. Memory is bounded: entries older than the window are
pruned, and every table keeps at most ``max_keys`` keys (oldest dropped first).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from engine.runtime import Clock


@dataclass(frozen=True, slots=True)
class Attempt:
    """A started attempt: hand it back to :meth:`LoginThrottle.succeeded` or drop it."""

    email: str
    address: str
    at: float


class Window:
    """Timestamps per key within a sliding window (bounded, oldest keys dropped)."""

    def __init__(self, window_s: float, max_keys: int) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def count(self, key: str, now: float) -> int:
        times = self._prune(key, now)
        return 0 if times is None else len(times)

    def oldest(self, key: str) -> float:
        return self._times[key][0]

    def newest(self, key: str) -> float:
        return self._times[key][-1]

    def add(self, key: str, now: float, cap: int) -> None:
        times = self._times.pop(key, None) or deque(maxlen=max(1, cap))
        times.append(now)
        self._times[key] = times
        while len(self._times) > self.max_keys:
            self._times.popitem(last=False)

    def withdraw(self, key: str, at: float) -> None:
        times = self._times.get(key)
        if times is not None:
            try:
                times.remove(at)
            except ValueError:
                pass
            if not times:
                del self._times[key]

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self._times.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times


class LoginThrottle:
    def __init__(self, clock: Clock, max_failures: int, window_s: float, *, max_per_address: int | None = None,
                 max_delay_s: float = 30.0, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.max_per_address = max_per_address if max_per_address is not None else max_failures * 4
        self.window_s = window_s
        self.max_delay_s = max_delay_s
        self.max_keys = max_keys
        self._pairs = Window(window_s, max_keys)
        self._addresses = Window(window_s, max_keys)
        self._emails = Window(window_s, max_keys)
        self._known: OrderedDict[str, None] = OrderedDict()  # pairs that logged in before

    def begin(self, email: str, address: str) -> Attempt:
        """Count an attempt now, or raise :class:`Throttled` with the seconds to wait."""
        now = self.clock.monotonic()
        pair = _pair(email, address)
        wait = 0.0
        if self._pairs.count(pair, now) >= self.max_failures:
            wait = max(wait, self._pairs.oldest(pair) + self.window_s - now)
        if self._addresses.count(address, now) >= self.max_per_address:
            wait = max(wait, self._addresses.oldest(address) + self.window_s - now)
        if pair not in self._known:
            failures = self._emails.count(email, now)
            if failures >= self.max_failures:
                delay = min(self.max_delay_s, 2.0 ** (failures - self.max_failures))
                wait = max(wait, self._emails.newest(email) + delay - now)
        if wait > 0:
            raise Throttled(wait)
        self._pairs.add(pair, now, self.max_failures)
        self._addresses.add(address, now, self.max_per_address)
        self._emails.add(email, now, self.max_failures + 64)
        return Attempt(email, address, now)

    def succeeded(self, attempt: Attempt) -> None:
        pair = _pair(attempt.email, attempt.address)
        self._pairs.clear(pair)
        self._addresses.withdraw(attempt.address, attempt.at)
        self._emails.withdraw(attempt.email, attempt.at)
        self._known.pop(pair, None)
        self._known[pair] = None
        while len(self._known) > self.max_keys:
            self._known.popitem(last=False)


class Throttled(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class AddressLimit:
    """At most ``limit`` events per address in the window (registration): :class:`Throttled` past it."""

    def __init__(self, clock: Clock, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.limit = limit
        self.window_s = window_s
        self._window = Window(window_s, max_keys)

    def take(self, address: str) -> None:
        now = self.clock.monotonic()
        if self._window.count(address, now) >= self.limit:
            raise Throttled(self._window.oldest(address) + self.window_s - now)
        self._window.add(address, now, self.limit)


def _pair(email: str, address: str) -> str:
    return f"{address}\x00{email}"
