"""unstructured, made offline-safe: the one place that imports and calls its partitioners.

unstructured is slow to import and, out of the box, not offline-safe: it pings a telemetry
server and downloads a spaCy model on first use. `_prepare_unstructured` fixes both, once, before
the first partition call; nothing happens at import time of this module.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path
from typing import Any

from index.errors import ConfigurationError, HearthError, ParseError
from index.offline import force_offline


@functools.cache
def _prepare_unstructured() -> None:
    """Make unstructured offline-safe; runs once, before the first partition call.

    Telemetry is switched off by environment (unstructured reads it on every call; onnxruntime,
    which unstructured_inference imports, once at start). unstructured
    hard-codes spaCy's en_core_web_sm and downloads it on first use; offline that makes DOCX/HTML
    raise and PDFs return 0 elements silently. A blank English pipeline with a sentencizer is all
    its heuristics need, installed through the private hook `unstructured.nlp.tokenize._get_nlp`.
    If that hook disappears in a new unstructured, fail loudly rather than go online.
    """
    force_offline()  # unstructured_inference imports onnxruntime, which reports otherwise
    os.environ.setdefault("SCARF_NO_ANALYTICS", "1")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    import spacy
    from unstructured.nlp import tokenize

    if not callable(getattr(tokenize, "_get_nlp", None)):
        raise ConfigurationError(
            "unstructured.nlp.tokenize._get_nlp is gone: this unstructured version needs a new "
            "offline spaCy fix (see ingest/parsers/unstructured_runtime.py)"
        )
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    tokenize._get_nlp = lambda: nlp  # type: ignore[assignment]


def load_partitioner(module: str) -> None:
    """Import `unstructured.partition.<module>` now (seconds for PDF), not at the first file."""
    _prepare_unstructured()
    importlib.import_module(f"unstructured.partition.{module}")


def _reason(exc: BaseException, path: Path) -> str:
    """A one-line, path-free description of `exc` for a user-facing error message."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    message = message.replace(str(path), path.name).replace(str(path.parent), "")
    message = re.sub(r"(?<![\w:/])(?:/[^/\s'\"]+){2,}", "<path>", message)[:160]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _partition(path: Path, kind: str, module: str, **kwargs: Any) -> list[Any]:
    """`unstructured.partition.<module>.partition_<module>(**kwargs)`; errors become ParseError.

    The import happens only after `_prepare_unstructured`: importing unstructured itself sends
    a telemetry ping unless DO_NOT_TRACK is already set.
    """
    _prepare_unstructured()
    try:
        partition_module = importlib.import_module(f"unstructured.partition.{module}")
        return list(getattr(partition_module, f"partition_{module}")(**kwargs))
    except HearthError:
        raise
    except Exception as exc:
        raise ParseError(
            f"{path.name}: cannot parse this {kind} file ({_reason(exc, path)})"
        ) from exc
