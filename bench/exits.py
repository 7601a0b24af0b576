"""How a benchmark script ends on input it cannot use: one line and exit code 2, as `hearth eval`
does, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from index.errors import HearthError


def run_or_exit(run: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> None:
    """`run(args)`, turning a Hearth error or an unreadable file into one line on stderr."""
    try:
        run(args)
    except HearthError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
