"""Parse untrusted files in a child process with a memory and a time limit.

A DOCX zip bomb, a looping PDF or a parser bug that eats memory must cost one file, not the
whole ingest: the child gets an address-space limit (RLIMIT_DATA), each file a deadline, and a
child that dies or overruns is killed, the file is reported, and a fresh child takes the next
file. The child is long-lived (started with `spawn`, so no torch threads are forked) because
importing the parsers costs seconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import resource
import sys
from pathlib import Path
from typing import Any

from index.errors import HearthError, ParseError
from index.types import Document
from ingest.parsers.base import ParseOptions

log = logging.getLogger(__name__)

DEFAULT_MEMORY_MB = 2048
DEFAULT_TIMEOUT_S = 120.0


def _child(conn: multiprocessing.connection.Connection, memory_mb: int) -> None:
    """Child loop: parse each (path, relative, options); answer ("ok", doc) or ("error", msg)."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    _without_torch()
    from ingest.parsers.registry import parser_for

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        path, relative, options = request
        parser = parser_for(Path(path))
        try:
            if parser is None:
                raise ParseError(f"{Path(path).name}: no parser for this file type")
            conn.send(("ok", parser(Path(path), relative, options)))
        except HearthError as exc:
            conn.send(("error", exc.message))
        except MemoryError:
            conn.send(("error", f"{Path(path).name}: needs more than {memory_mb} MB to parse"))
        except Exception as exc:  # a parser bug: report the file, keep the child
            conn.send(
                ("error", f"{Path(path).name}: unexpected {type(exc).__name__} while parsing")
            )


def _without_torch() -> None:
    """Make `import torch` fail in the parser process.

    The parsers run no model (unstructured's fast strategies only), yet unstructured imports
    spaCy at module level and spaCy's thinc imports torch when it is installed, to offer torch
    layers nobody here uses: measured over corpus/ and ../shared/eval/docs, 48 files parse to
    identical documents without it, 1 s sooner and with 166 MB less peak memory (which counts
    against the child's memory limit). thinc treats the ImportError as "torch not installed".
    """
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]


class IsolatedParser:
    """Parses files one at a time in a child process; use as a context manager."""

    def __init__(
        self, memory_mb: int = DEFAULT_MEMORY_MB, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None

    def _start(self) -> multiprocessing.connection.Connection:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_child, args=(child, self.memory_mb), daemon=True, name="hearth-parser"
        )
        self._process.start()
        child.close()
        self._conn = parent
        return parent

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and self._process.pid is not None:
            self._process.kill()
            self._process.join(timeout=5)
        self._process, self._conn = None, None

    def parse(self, path: Path, relative: str, options: ParseOptions) -> Document:
        """The parsed document, or ParseError naming the file and what went wrong."""
        conn = self._conn or self._start()
        # The first file also pays for the child's imports (a few seconds).
        try:
            conn.send((str(path), relative, options))
            if not conn.poll(self.timeout_s):
                self._stop()
                raise ParseError(f"{path.name}: parsing took longer than {self.timeout_s:g} s")
            status, payload = conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self._stop()
            raise ParseError(
                f"{path.name}: the parser process died (out of memory above "
                f"{self.memory_mb} MB, or crashed)"
            ) from None
        if status == "error":
            raise ParseError(str(payload))
        document: Document = payload
        return document

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> IsolatedParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
