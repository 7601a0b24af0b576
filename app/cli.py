"""The `hearth` command: serve, plus the ingest and status commands mounted from ingest/cli.py."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.cli import ingest, status


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Quick start: `hearth ingest corpus/` then `hearth serve`, and open http://127.0.0.1:8000",
)
@click.version_option(package_name="hearth-kb")
def cli() -> None:
    """Hearth: answers from your organisation's own documents, with sources, on your own CPU."""


@cli.command()
@click.option(
    "--host",
    envvar="HEARTH_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. [env: HEARTH_HOST]",
)
@click.option(
    "--port",
    envvar="HEARTH_PORT",
    default=8000,
    show_default=True,
    type=int,
    help="Port to listen on. [env: HEARTH_PORT]",
)
@click.option(
    "--data-dir",
    envvar="HEARTH_DATA_DIR",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the store. [env: HEARTH_DATA_DIR]",
)
def serve(host: str, port: int, data_dir: Path) -> None:
    """Serve the web page and the APIs (uvicorn, app factory `app.main:create_app`)."""
    import os

    import uvicorn

    os.environ["HEARTH_DATA_DIR"] = str(data_dir)
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, log_level="info")


cli.add_command(ingest)
cli.add_command(status)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hearth")
