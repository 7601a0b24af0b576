"""Run a synchronous answer stream from async routes, stopping it when the client goes away."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import anyio
from starlette.requests import Request

from app.deps import Services
from app.rag import Answer, Event, Question
from index.errors import HearthError
from index.types import Principal

T = TypeVar("T")
_DONE = object()
# A stream quiet this long gets a keep-alive: an OpenAI client waits for a whole checked answer
# (50-90 s on a busy CPU), and proxies commonly drop a connection idle for 60 s.
KEEP_ALIVE_S = 15.0
# Server-sent events pass a buffering proxy (nginx) as they come, and no cache keeps them
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


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


async def whole_answer(events: Iterator[Event], cancel: threading.Event) -> Answer:
    """The finished answer of a stream that is not sent as it comes."""
    answer: Answer | None = None
    async for event in iterate_cancellable(events, cancel):
        if event.kind == "done":
            answer = event.data
    if answer is None:
        raise HearthError("the answer was interrupted")
    return answer


@contextlib.asynccontextmanager
async def cancelled_when_gone(request: Request, cancel: threading.Event) -> AsyncIterator[None]:
    """Set `cancel` if the client hangs up while a whole (not streamed) answer is being made.

    Starlette stops a streamed response when its client goes, but runs a plain endpoint to the
    end for nobody: an OpenAI client that timed out after 0.5 s, then retried twice, left three
    whole answers generating. Only for requests whose body has been read (FastAPI reads it
    before the endpoint runs): what `receive` yields after that is the disconnect.
    """

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.set()

    watcher = asyncio.ensure_future(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # a receive that failed
            await watcher


def _drain(step: object) -> None:
    while step() is not _DONE:  # type: ignore[operator]
        pass


async def with_keep_alives(items: AsyncIterator[T], every: float) -> AsyncIterator[T | None]:
    """`items`, with a None whenever `every` seconds pass without one (the caller sends an SSE
    comment then). Closing this closes `items` too, so a client that went away still stops
    the generation."""
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(items.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await items.aclose()  # type: ignore[attr-defined]
