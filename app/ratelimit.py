"""Per-caller rate limiting: a token bucket per user, refilled continuously.

In memory and per process: each replica limits on its own, which is what a per-key abuse
brake needs; a global quota would belong in the reverse proxy.
"""

from __future__ import annotations

import math
import threading
import time

from index.errors import RateLimitedError


class RateLimiter:
    """`per_minute` requests per caller, bursts up to the same number; 0 disables it."""

    def __init__(self, per_minute: int, clock: object = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # user -> (tokens, last time)
        self._lock = threading.Lock()

    def check(self, user: str) -> None:
        """Take one token for `user` or raise RateLimitedError with the seconds to wait."""
        if self.per_minute <= 0:
            return
        now = self._clock()  # type: ignore[operator]
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(user, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[user] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise RateLimitedError("too many requests; slow down", retry_after=max(wait, 1))
            self._buckets[user] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle callers rather than grow forever
                self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < 600}
