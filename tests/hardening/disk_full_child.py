"""Run `hearth ingest` (hash embedder) in this child process, optionally with a file-size limit.

    python disk_full_child.py FSIZE_LIMIT_BYTES hearth-ingest-args...

A limit above 0 sets RLIMIT_FSIZE and ignores SIGXFSZ, so a write past the limit fails with
EFBIG (the portable stand-in for a full disk when no small tmpfs can be mounted). Exceptions are
not caught here: a traceback on stderr is what the disk-full test looks for.
"""

from __future__ import annotations

import resource
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]  # tests/ (fakes), the repo

import click  # noqa: E402
from fakes import HashEmbedder  # noqa: E402

from ingest.cli import ingest  # noqa: E402


def main() -> None:
    limit, *args = sys.argv[1:]
    if int(limit) > 0:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    group = click.Group(commands={"ingest": ingest})
    group(args, prog_name="hearth", obj={"embedder_factory": lambda _path: HashEmbedder()})


if __name__ == "__main__":
    main()
