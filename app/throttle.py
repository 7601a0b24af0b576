"""At most once per interval: bookkeeping a long ingest would otherwise retry, or warn about,
on every request (a key's last use, the purge of expired conversations)."""

from __future__ import annotations

import math
import time


class Every:
    """`due()` is true at most once per `seconds` of the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = -math.inf

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True

    def again_in(self, seconds: float) -> None:
        """Be due again after `seconds` instead (a failed attempt, retried sooner)."""
        self._last = time.monotonic() - self.seconds + seconds
