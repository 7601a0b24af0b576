"""Model licences Hearth accepts without being told: one list for the service's setting and
the engine's check (two lists disagreed about the Unlicense)."""

from __future__ import annotations

DEFAULT_OPEN_LICENSES: frozenset[str] = frozenset(
    {
        # OSI-approved licences (SPDX ids, lower case) ...
        "apache-2.0",
        "mit",
        "bsd-2-clause",
        "bsd-3-clause",
        "isc",
        "mpl-2.0",
        "unlicense",
        # ... and the open Creative Commons ones (no NC / ND clauses).
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
    }
)
"""Licences accepted without configuration. Deliberately absent: vendor "community" licences
(llama2/llama3.x, gemma, qwen), OpenRAIL variants and anything non-commercial (cc-by-nc-*): they
restrict use, so an operator must opt in (HEARTH_ALLOWED_LICENSES or HEARTH_ALLOW_ANY_LICENSE)."""
