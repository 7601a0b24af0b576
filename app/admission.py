"""Admission of answer requests before retrieval: under overload the 503 must come at once.

The engine counts a request only when `stream()` queues its generation, which happens after
retrieval and prompt assembly (tens of milliseconds, more under load). Checking the engine's
queue at the door is therefore not enough: fifty requests arriving together all see an empty
queue, all retrieve, and forty-six are refused only afterwards. Each admitted request holds a
place here from the door until its generation is queued (or it ends without one), so the
door counts both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.engines import ChatModel


class Admission:
    """Places held by requests that passed the door but have not reached the engine's queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    @contextmanager
    def hold(self, model: ChatModel) -> Iterator[None]:
        """Refuse now (the engine's ModelBusyError, with its Retry-After) when the engine's
        queue plus the requests on their way to it would exceed its size; else hold a place
        until the block ends."""
        with self._lock:
            model.check_admission(pending=self._pending)
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1
