"""`hearth migrate`: copy an embedded store (SQLite) into PostgreSQL, without re-embedding.

The copying is in app/pg_copy.py, imported only when the command runs (psycopg and pgvector
stay out of every other command's start-up).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from index.errors import HearthError
from index.open_store import POSTGRES_SCHEMES


@click.command("migrate")
@click.option(
    "--from",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Data folder of the embedded (SQLite) store to copy.",
)
@click.option(
    "--to",
    "url",
    envvar="HEARTH_DATABASE_URL",
    required=True,
    help="postgresql:// URL of the target database. [env: HEARTH_DATABASE_URL]",
)
@click.option(
    "--index-memory",
    default="256MB",
    show_default=True,
    help="maintenance_work_mem for building the HNSW index (more is faster).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace a target that already holds documents, conversations or keys.",
)
def migrate_command(data_dir: Path, url: str, index_memory: str, replace: bool) -> None:
    """Copy an embedded store into PostgreSQL (no re-embedding), verify counts, print them.

    A target that already holds a Hearth store is refused unless --replace, which replaces
    all of it (keys revoked there come back); readers of the target wait while it runs.

    \b
    Example:
      hearth migrate --from data --to postgresql://hearth@db.internal/hearth
    """
    if not url.startswith(POSTGRES_SCHEMES):
        raise click.BadParameter("must be a postgresql:// URL", param_hint="--to")
    import psycopg

    from app.pg_copy import copy_store

    started = time.perf_counter()
    try:
        counts = copy_store(data_dir, url, index_memory=index_memory, replace=replace)
    except HearthError as exc:
        _fail(exc.message)
    except psycopg.Error as exc:
        _fail(f"PostgreSQL refused the copy: {exc}")
    click.echo(f"{'table':<14}{'SQLite':>10}{'PostgreSQL':>12}")
    for table, (source_rows, target_rows) in counts.items():
        click.echo(f"{table:<14}{source_rows:>10}{target_rows:>12}")
    click.echo(f"copied and verified in {time.perf_counter() - started:.1f} s")


def _fail(message: str) -> NoReturn:
    """Stop as the other commands do: "error: …" on stderr, exit status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
