"""Run a synchronous answer stream from async routes, stopping it when the client goes away."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import anyio

T = TypeVar("T")
_DONE = object()


async def iterate_cancellable(items: Iterator[T], cancel: threading.Event) -> AsyncIterator[T]:
    """Yield from a blocking iterator in a worker thread; on disconnect (task cancelled) set
    `cancel` so the LLM stops decoding within a token."""

    def step() -> object:
        return next(items, _DONE)

    try:
        while True:
            item = await anyio.to_thread.run_sync(step, abandon_on_cancel=True)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        cancel.set()
