"""Parse untrusted files in a child process with a memory and a time limit.

A DOCX zip bomb, a looping PDF or a parser bug that eats memory must cost one file, not the
whole ingest: the child gets an address-space limit (RLIMIT_DATA), each file a deadline, and a
child that dies or overruns is killed, the file is reported, and a fresh child takes the next
file. The child is long-lived (started with `spawn`, so no torch threads are forked) because
importing the parsers costs seconds; it can be started early to load them while the embedder
loads, and it parses the files queued ahead while the caller embeds, on the second core.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import EmptyDocumentError, HearthError, ParseError
from index.types import Document
from ingest.parsers.base import ParseOptions

if TYPE_CHECKING:
    from ingest.parsers.registry import FileParser

log = logging.getLogger(__name__)

DEFAULT_MEMORY_MB = 2048
DEFAULT_TIMEOUT_S = 120.0
# The parent waits this much longer than the child's own deadline before it kills the child,
# so that an overrun is normally reported by the child, which then goes on with the next file.
PARENT_GRACE_S = 2.0


class _Overrun(BaseException):
    """Raised in the child by its per-file timer; a BaseException so that no parser's own
    `except Exception` swallows it."""


class _Deadline:
    """Whether the current file's timer fired: Python only prints an exception raised inside
    a callback it calls itself (a weakref callback of importlib's module locks, a __del__), so
    the `_Overrun` may never reach the parse it was meant to stop."""

    passed = False


def _on_timer(signum: int, frame: object) -> None:
    _Deadline.passed = True
    raise _Overrun


def _child(
    conn: multiprocessing.connection.Connection, memory_mb: int, warm: tuple[str, ...]
) -> None:
    """Child loop: load the parsers for the `warm` suffixes, then parse each (path, relative,
    options, timeout_s) within its timeout; answer ("ok", doc) or ("error", msg)."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    signal.signal(signal.SIGALRM, _on_timer)
    # Ctrl-C reaches the whole process group: the parent reports it and stops this child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Libraries' warnings about a broken file ("invalid pdf header", "EOF marker not found")
    # were printed between the progress bars; the file's failure is reported with its reason.
    logging.getLogger().setLevel(logging.ERROR)
    _without_torch()
    from ingest.parsers.registry import load_parsers, parser_for

    try:
        load_parsers(warm)
    except Exception:  # a broken library: the file that needs it reports the error
        log.debug("warming the parsers failed", exc_info=True)

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        path, relative, options, timeout_s = request
        try:
            reply = _parse_timed(parser_for, Path(path), relative, options, timeout_s, memory_mb)
        except _Overrun:  # the timer fired as the file finished, before it was disarmed
            reply = ("error", _took_too_long(Path(path).name, timeout_s))
        conn.send(reply)


def _took_too_long(name: str, timeout_s: float) -> str:
    return f"{name}: parsing took longer than {timeout_s:g} s"


def _parse_timed(
    parser_for: Callable[[Path], FileParser | None],
    path: Path,
    relative: str,
    options: ParseOptions,
    timeout_s: float,
    memory_mb: int,
) -> tuple[str, object]:
    """("ok", document) or ("error", message) for one file, parsed within `timeout_s`.

    The deadline runs from when this file really starts, however long the parent takes to
    collect earlier results: a looping file cannot hold the core meanwhile.
    """
    name = path.name
    parser = parser_for(path)
    _Deadline.passed = False
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        if parser is None:
            raise ParseError(f"{name}: no parser for this file type")
        document = parser(path, relative, options)
        if _Deadline.passed:  # the timer fired, but its exception was swallowed on the way
            return ("error", _took_too_long(name, timeout_s))
        return ("ok", document)
    except _Overrun:
        return ("error", _took_too_long(name, timeout_s))
    except EmptyDocumentError as exc:
        return ("empty", exc.message)
    except HearthError as exc:
        return ("error", exc.message)
    except MemoryError:
        return ("error", f"{name}: needs more than {memory_mb} MB to parse")
    except Exception as exc:  # a parser bug: report the file, keep the child
        return ("error", f"{name}: unexpected {type(exc).__name__} while parsing")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _without_torch() -> None:
    """Make `import torch` fail in the parser process.

    The parsers run no model (unstructured's fast strategies only), yet unstructured imports
    spaCy at module level and spaCy's thinc imports torch when it is installed, to offer torch
    layers nobody here uses: measured over corpus/ and ../shared/eval/docs, 48 files parse to
    identical documents without it, 1 s sooner and with 166 MB less peak memory (which counts
    against the child's memory limit). thinc treats the ImportError as "torch not installed".
    """
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]


_Request = tuple[str, str, ParseOptions, float]  # path, document id, options, timeout in s


class IsolatedParser:
    """Parses files in a child process, in the order they were submitted; a context manager.

    `submit` queues a file and returns at once, so the child parses the next files on the
    second core while the caller embeds and writes the previous ones; `result` hands back the
    oldest submitted file's document (or its ParseError). Each file gets `timeout_s` from when
    the child begins it (a timer in the child); a child that does not answer by then (stuck in
    C code, dead) is killed by the parent, counting from when the child must have begun it.
    Files queued behind a failed one go to a fresh child.
    """

    def __init__(
        self, memory_mb: int = DEFAULT_MEMORY_MB, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._queued: deque[_Request] = deque()
        self._since = 0.0  # when the child began (at the latest) the oldest queued file

    def start(self, warm: Iterable[str] = ()) -> None:
        """Start the child now, loading the parsers for the `warm` file suffixes (".pdf", ...)
        before the first file arrives: on another core, while the caller loads its embedder."""
        if self._conn is None:
            self._start(tuple(warm))

    def _start(self, warm: tuple[str, ...] = ()) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_child,
            args=(child, self.memory_mb, warm),
            daemon=True,
            name="hearth-parser",
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._since = time.monotonic()  # the first file also pays for the child's imports
        self._send(*self._queued)  # files a dead child left unparsed go to the new one

    def _send(self, *requests: _Request) -> None:
        """Send requests to the child. If it died, drop it: the queue keeps the files, and the
        next `result` blames the one it died on and restarts the rest."""
        try:
            for request in requests:
                assert self._conn is not None
                self._conn.send(request)
        except OSError:
            self._stop()

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and self._process.pid is not None:
            self._process.kill()
            self._process.join(timeout=5)
        self._process, self._conn = None, None

    def submit(self, path: Path, relative: str, options: ParseOptions) -> None:
        """Queue `path` for parsing; its document comes from `result` after those before it."""
        request = (str(path), relative, options, self.timeout_s)
        if not self._queued:  # the child is idle (or still loading parsers): the clock starts
            self._since = time.monotonic()
        self._queued.append(request)
        if self._conn is None:
            self._start()  # sends the whole queue, this file included
        else:
            self._send(request)

    def result(self) -> Document:
        """The oldest submitted file's document, or ParseError naming it and what went wrong."""
        if not self._queued:
            raise RuntimeError("IsolatedParser.result() without a submitted file")
        name = Path(self._queued[0][0]).name
        if self._conn is None:
            self._start()
        try:
            if self._conn is None:  # the fresh child died at once
                raise EOFError
            wait = max(0.0, self._since + self.timeout_s + PARENT_GRACE_S - time.monotonic())
            if not self._conn.poll(wait):
                self._fail()
                raise ParseError(_took_too_long(name, self.timeout_s))
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            self._fail()
            raise ParseError(
                f"{name}: the parser process died (out of memory above "
                f"{self.memory_mb} MB, or crashed)"
            ) from None
        self._queued.popleft()
        self._since = time.monotonic()
        if status == "empty":
            raise EmptyDocumentError(str(payload))
        if status == "error":
            raise ParseError(str(payload))
        document: Document = payload
        return document

    def _fail(self) -> None:
        """Drop the child and the file it failed on; the next `result` restarts the rest."""
        self._stop()
        self._queued.popleft()

    def parse(self, path: Path, relative: str, options: ParseOptions) -> Document:
        """One file, parsed now."""
        if self._queued:
            raise RuntimeError("IsolatedParser.parse() while submitted files await result()")
        self.submit(path, relative, options)
        return self.result()

    @property
    def pending(self) -> int:
        """Files submitted whose result was not taken yet."""
        return len(self._queued)

    def close(self) -> None:
        self._stop()
        self._queued.clear()

    def __enter__(self) -> IsolatedParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
