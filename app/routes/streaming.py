"""Run a synchronous answer stream from async routes, stopping it when the client goes away."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import anyio

from app.deps import Services
from app.rag import Event, Question
from index.types import Principal

T = TypeVar("T")
_DONE = object()


async def iterate_cancellable(items: Iterator[T], cancel: threading.Event) -> AsyncIterator[T]:
    """Yield from a blocking iterator in a worker thread.

    When the client goes away (the task is cancelled) `cancel` is set, so the LLM stops within
    a token, and the rest of the stream is drained in the background: the pipeline then still
    attributes and stores the partial answer, marked as stopped.
    """
    lock = threading.Lock()  # one next() at a time: a generator cannot run in two threads

    def step() -> object:
        with lock:
            return next(items, _DONE)

    finished = False
    try:
        while True:
            item = await anyio.to_thread.run_sync(step, abandon_on_cancel=True)
            if item is _DONE:
                finished = True
                return
            yield item  # type: ignore[misc]
    finally:
        cancel.set()
        if not finished:
            threading.Thread(target=_drain, args=(step,), daemon=True).start()


async def start_answer(
    services: Services, principal: Principal, question: Question, cancel: threading.Event
) -> Iterator[Event]:
    """The answer's events, once admitted: a full queue is refused (503) at the door before
    any work, then retrieval and prompt assembly, blocking work, run off the event loop (4xx
    and a late 503 are raised here)."""
    with services.admission.hold(services.model):
        return await anyio.to_thread.run_sync(services.rag.stream, principal, question, cancel)


def _drain(step: object) -> None:
    while step() is not _DONE:  # type: ignore[operator]
        pass
