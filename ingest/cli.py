"""`hearth ingest` and `hearth status`: click commands, usable alone or mounted by app/cli.py.

Progress bars and tables go to stderr through rich; `--json` prints one JSON object on stdout.
Exit codes: 0 all ingested, 1 some sources failed (the rest was ingested), 2 nothing could run.
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from index.errors import HearthError
from index.open_store import open_existing_store, open_store, store_location
from index.protocols import Embedder
from index.store import exposure_warning, readable_by_others
from index.types import PUBLIC_GROUP, StoredDocument, parse_groups
from index.vectors import file_digest
from ingest.isolation import IsolatedParser
from ingest.parsers.base import DEFAULT_WIKI_MAX_PAGE_MB
from ingest.pipeline import ISOLATED_SUFFIXES, IngestOptions, Ingestor, IngestReport
from ingest.pipeline import Progress as PipelineProgress
from ingest.sources import suffixes_under

EmbedderFactory = Callable[[str | None], Embedder]

data_dir_option = click.option(
    "--data-dir",
    envvar="HEARTH_DATA_DIR",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the store and vector files. [env: HEARTH_DATA_DIR]",
)


database_url_option = click.option(
    "--database-url",
    envvar="HEARTH_DATABASE_URL",
    default=None,
    metavar="URL",
    help="postgresql://… URL of a PostgreSQL store to use instead of the data folder (prefer "
    "the environment: a password on the command line is visible to other users). "
    "[env: HEARTH_DATABASE_URL]",
)


def default_embedder(path: str | None) -> Embedder:
    """The sentence-transformers embedder (bundled MiniLM unless a folder is given)."""
    from index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(path)


def _embedder_factory(ctx: click.Context) -> EmbedderFactory:
    """The embedder factory: callers embedding this CLI (or tests) may pass another in ctx.obj."""
    obj = ctx.find_root().obj or {}
    factory: EmbedderFactory = obj.get("embedder_factory", default_embedder)
    return factory


def _remote(local: Embedder, url: str, model: str | None, api_key: str | None) -> Embedder:
    """Embed on a remote server, once it is shown to run the local model (remote_embedder)."""
    from index.remote_embedder import RemoteEmbedder

    remote = RemoteEmbedder(url, local, model=model, api_key=api_key)
    remote.verify()
    return remote


def _parse_namespaces(value: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("use namespace numbers, e.g. 0,4") from None


def _parse_namespace_groups(value: str | None) -> dict[int, frozenset[str]]:
    mapping: dict[int, frozenset[str]] = {}
    for item in (value or "").split(";"):
        if not item.strip():
            continue
        number, sep, groups = item.partition("=")
        if number.strip().lstrip("-").isdigit() and int(number) in mapping:
            raise click.BadParameter(f"namespace {int(number)} is given groups twice")
        try:
            mapping[int(number)] = parse_groups(groups)
        except (ValueError, HearthError):
            raise click.BadParameter(f"{item!r}: use NS=group,group;NS=group") from None
        if not sep or not mapping[int(number)]:
            raise click.BadParameter(f"{item!r}: use NS=group,group;NS=group")
    return mapping


class _RichProgress(PipelineProgress):
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._files = progress.add_task("files", total=0)
        self._files_total = 0
        self._documents = progress.add_task("documents", total=None)
        self._chunks = progress.add_task("chunks embedded", total=None)
        self._dump: TaskID | None = None  # added with the first wiki dump
        self._new_source = False

    def sources_found(self, count: int) -> None:
        self._files_total += count
        self._progress.update(self._files, total=self._files_total)

    def source_started(self, name: str) -> None:
        # the name's end, as long as the counts and times beside it still fit (80 columns: 18)
        room = max(12, min(40, self._progress.console.width - 62))
        shown = name if len(name) <= room else "…" + name[-(room - 1) :]
        self._progress.update(self._files, advance=1, description=f"files [dim]{escape(shown)}[/]")
        self._new_source = True

    def document_done(self) -> None:
        self._progress.advance(self._documents)

    def chunks_embedded(self, count: int) -> None:
        self._progress.advance(self._chunks, count)

    def dump_read(self, done: int, total: int) -> None:
        unit, size = ("MB", 2**20) if total >= 100 * 2**20 else ("KB", 2**10)
        if self._dump is None:
            self._dump = self._progress.add_task("", total=None)
        elif self._new_source:  # the next dump of the run: its own count and time left
            self._progress.reset(self._dump)
        self._new_source = False
        self._progress.update(
            self._dump,
            description=f"dump {unit} read",
            completed=done // size,
            total=max(total // size, 1),
        )


def _summary(report: IngestReport, console: Console) -> None:
    table = Table(title="Ingest summary", show_header=False, title_justify="left")
    for label, value in [
        ("added", report.added),
        ("updated", report.updated),
        ("regrouped (groups only)", report.regrouped),
        ("unchanged", report.unchanged),
        ("removed", report.removed),
        ("redirects (aliases)", report.redirects),
        ("failed", len(report.failed)),
        ("chunks embedded", report.chunks - report.chunks_reused),
        ("chunks kept (unchanged)", report.chunks_reused),  # by updated documents
        ("seconds", f"{report.seconds:.1f}"),
        ("search index version", report.vector_generation),  # bumped by each run that wrote
    ]:
        if label != "chunks kept (unchanged)" or value:
            table.add_row(label, str(value))
    console.print(table)
    for source, reason in report.failed:
        reason = reason.removeprefix(f"{Path(source).name}: ")  # "failed a.pdf: a.pdf: …"
        console.print(f"[red]failed[/] {escape(source)}: {escape(reason)}")
    if report.skipped:
        kinds = ", ".join(f"{suffix} {count}" for suffix, count in sorted(report.skipped.items()))
        console.print(f"skipped {plural(report.skipped.total(), 'file')} of types Hearth does not "
                      f"read: {kinds}")  # fmt: skip
    if report.empty:
        pages = sum(entry in report.titles for entry in report.empty)  # wiki pages, by id
        noun = "file" if not pages else "page" if pages == len(report.empty) else "document"
        shown = _first_five(_titled(report.empty, report.titles))
        console.print(f"skipped {plural(len(report.empty), f'empty {noun}')}: {escape(shown)}")
    if report.left_out:
        shown = _first_five([f"{path} ({why})" for path, why in report.left_out])
        console.print(f"[yellow]not read ({len(report.left_out)}), only files inside the folder "
                      f"are: {escape(shown)}[/]")  # fmt: skip
    if report.rules_above:
        console.print(f"group rules also applied from above the folder: "
                      f"{escape(', '.join(report.rules_above))}")  # fmt: skip
    if report.unreadable_folders:
        shown = ", ".join(f"{folder} ({reason})" for folder, reason in report.unreadable_folders)
        console.print(f"[yellow]could not read {plural(len(report.unreadable_folders), 'folder')}:"
                      f" {escape(shown)}; what was stored from them is kept[/]")  # fmt: skip
    if report.made_public:
        shown = _first_five(report.made_public)
        console.print(f"[yellow]{plural(len(report.made_public), 'document')} only some groups "
                      f"could read before {'is' if len(report.made_public) == 1 else 'are'} now "
                      f"public: {escape(shown)}; if that was not meant, check --groups and the "
                      ".hearth-groups.yaml rules, then ingest again[/]")  # fmt: skip
    if report.rehomed:
        document_id, previous = (escape(part) for part in report.rehomed[0])
        verb = "comes" if len(report.rehomed) == 1 else "come"
        console.print(f"[yellow]{plural(len(report.rehomed), 'document')} now {verb} from another "
                      f"folder than before, whose file still exists (e.g. '{document_id}' was "
                      f"{previous}); to keep both, ingest the folder holding both[/]")  # fmt: skip
    if report.removed_documents:
        shown = _first_five(_titled(report.removed_documents, report.titles))
        console.print(f"removed {plural(len(report.removed_documents), 'document')}: "
                      f"{escape(shown)}")  # fmt: skip
    for path in map(escape, report.prune_skipped):
        console.print(f"[yellow]--prune removed nothing from {path}: some of its files failed, "
                      "and a file that failed is not taken for deleted[/]")  # fmt: skip
    if report.orphaned:
        lost = plural(report.orphaned, "stored document")
        verb = "has" if report.orphaned == 1 else "have"
        shown = _first_five(_titled(report.orphaned_documents, report.titles))
        console.print(f"[yellow]{lost} of these folders and wiki dumps {verb} no file or page "
                      f"any more (or a blank one): "
                      f"{escape(shown)}; answers still come from them, with the groups they "
                      "had, until a run with --prune removes them[/]")  # fmt: skip
    if report.outside_namespaces:
        outside = report.outside_namespaces
        verb = "is" if len(outside) == 1 else "are"
        shown = _first_five(_titled(outside, report.titles))
        console.print(f"{plural(len(outside), 'stored page')} of these dumps {verb} in "
                      f"namespaces this run did not read (--namespaces): {escape(shown)}; kept "
                      "as they were, neither updated nor pruned")  # fmt: skip


def no_index(data_dir: Path, database_url: str | None = None) -> str:
    """What a command that reads the index says when there is none yet; the command to run
    repeats a --data-dir other than the default (a database is named by its URL alone)."""
    if database_url:
        where = store_location(data_dir, database_url)
        return f"no index in {where} yet: run `hearth ingest PATH` first"
    given = "" if data_dir == Path("data") else f" --data-dir {shlex.quote(str(data_dir))}"
    return f"no index in {data_dir}/ yet: run `hearth ingest PATH{given}` first"


def _titled(document_ids: list[str], titles: dict[str, str]) -> list[str]:
    """Ids with their titles where the report has them: "Abacus (enwiki:655)"."""
    return [f"{titles[i]} ({i})" if i in titles else i for i in document_ids]


def _first_five(names: list[str]) -> str:
    """The first five names in order, and an ellipsis if there are more."""
    return ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "")


@contextmanager
def _acknowledged_interrupts(console: Console) -> Iterator[None]:
    """Ctrl-C is answered at once: the run then waits for the batch being embedded (an
    embedding cannot be cut short; the batch is not written), which on a busy machine took over
    ten silent seconds. A SIGINT set elsewhere (ignored in a background job) is left alone."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def interrupted(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C is not held back
        console.print("[yellow]stopping once the embedder finishes its batch…[/]")
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _fail(ctx: click.Context, console: Console, message: str, code: int, as_json: bool) -> NoReturn:
    """Stop with `code`: the message on stderr, and with --json also as JSON on stdout, so a
    script reading stdout gets an answer either way."""
    shown = escape(message)  # a path may hold [brackets], which rich would take for markup
    console.print(f"[red]error:[/] {shown}" if code != 130 else f"[yellow]{shown}[/]")
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": code}))
    ctx.exit(code)


def _finite(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    """click's FloatRange lets NaN through (every comparison with it is false)."""
    if not math.isfinite(value):
        raise click.BadParameter("must be a number of megabytes")
    return value


def progress_bars(console: Console, disable: bool = False) -> Progress:
    """The bars of a long run (files, documents, chunks…): count, elapsed, time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
    )


def plural(count: int, noun: str) -> str:
    """A count and its noun ("1 file", "3 files"), for summaries."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.command(
    epilog="""Examples:

\b
  hearth ingest corpus/
  hearth ingest handbook/ --groups hr --prune
  hearth ingest enwiki.xml.bz2 --namespaces 0,4 --namespace-groups "4=staff"
  hearth ingest docs/ --json > report.json

Groups: `--groups` applies to everything read in this run; a `.hearth-groups.yaml` file in a
folder maps globs to groups (e.g. "finance/**": [finance]) for the files below it, whichever
folder is ingested (the nearest file's rules; within a file the last matching glob wins, so
write broad rules first; one above the ingested folder is named, and one another user may
have written stops the run); Markdown front matter `groups:` wins over both. A run that makes
restricted documents public says so. Documents are identified by their path relative to the
folder given (wiki pages by their page id), so a second run only embeds what changed (in an
edited document, the chunks that changed); a file keeps the id of the outermost folder it was
ingested from (ingesting it again from an inner folder, or alone when it lies below that
folder's top, is refused, so it never gets a second copy outside its folder's groups); a file
at the same relative path in another folder is refused while the first one exists, unless
--replace takes it (a new export), and the summary says what it replaced. Files of other
types, and empty files and wiki pages, are skipped and counted; stored documents whose file
or page is gone (or blank) stay, still answered from, until a run with --prune. A file the
parser finds no text in keeps what was stored from it.

Exit codes: 0 done, 1 some files failed (the others are stored), 2 nothing could run,
130 interrupted. With --json, a run that stops after its options were read prints
{"error": ..., "exit_code": ...} on stdout (a usage error goes to stderr only)."""
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_dir_option
@database_url_option
@click.option(
    "--groups",
    envvar="HEARTH_GROUPS",
    default="public",
    show_default=True,
    help="Comma-separated groups that may read what this run ingests. [env: HEARTH_GROUPS]",
)
@click.option(
    "--base-url",
    envvar="HEARTH_BASE_URL",
    default=None,
    help="URL prefix for wiki page links (overrides the dump's own site). [env: HEARTH_BASE_URL]",
)
@click.option(
    "--prune/--no-prune",
    envvar="HEARTH_PRUNE",
    default=False,
    help="Remove stored documents whose source is gone from the given paths. [env: HEARTH_PRUNE]",
)
@click.option(
    "--replace",
    envvar="HEARTH_REPLACE",
    is_flag=True,
    help="Take a file whose path another folder's file, still there, is indexed under (a new "
    "export of the same documents); without it such a file is refused. [env: HEARTH_REPLACE]",
)
@click.option(
    "--reparse",
    envvar="HEARTH_REPARSE",
    is_flag=True,
    help="Parse every file again even if its bytes and options match the last run (after a "
    "parser upgrade); still re-embeds only what changed. [env: HEARTH_REPARSE]",
)
@click.option(
    "--namespaces",
    envvar="HEARTH_NAMESPACES",
    default="0",
    show_default=True,
    help="Wiki namespace numbers to ingest. [env: HEARTH_NAMESPACES]",
)
@click.option(
    "--namespace-groups",
    envvar="HEARTH_NAMESPACE_GROUPS",
    default=None,
    help='Groups per wiki namespace, e.g. "4=staff;100=hr,finance". [env: HEARTH_NAMESPACE_GROUPS]',
)
@click.option(
    "--embedder-path",
    envvar="HEARTH_EMBEDDER_PATH",
    default=None,
    help="Local sentence-transformers folder (default: bundled all-MiniLM-L6-v2). "
    "[env: HEARTH_EMBEDDER_PATH]",
)
@click.option(
    "--embed-url",
    envvar="HEARTH_EMBED_URL",
    default=None,
    metavar="URL",
    help="OpenAI-compatible server (…/v1) that embeds the documents instead of this process; it "
    "must run the same model as the local embedder (checked). [env: HEARTH_EMBED_URL]",
)
@click.option(
    "--embed-model",
    envvar="HEARTH_EMBED_MODEL",
    default=None,
    help="Model name sent to the embedding server. [env: HEARTH_EMBED_MODEL]",
)
@click.option(
    "--embed-api-key",
    envvar="HEARTH_EMBED_API_KEY",
    default=None,
    help="Bearer key for the embedding server. [env: HEARTH_EMBED_API_KEY]",
)
@click.option(
    "--chunk-tokens",
    envvar="HEARTH_CHUNK_TOKENS",
    default=200,
    show_default=True,
    type=click.IntRange(32, 8192),
    help="Preferred chunk size in embedder tokens (capped by its window). "
    "[env: HEARTH_CHUNK_TOKENS]",
)
@click.option(
    "--wiki-max-page-mb",
    envvar="HEARTH_WIKI_MAX_PAGE_MB",
    default=DEFAULT_WIKI_MAX_PAGE_MB,
    show_default=True,
    type=click.FloatRange(0.001, 100_000),
    callback=_finite,
    help="A wiki page with more wikitext (MB) is skipped and reported. "
    "[env: HEARTH_WIKI_MAX_PAGE_MB]",
)
@click.option(
    "--json",
    "as_json",
    envvar="HEARTH_JSON",
    is_flag=True,
    help="Print the report as JSON on stdout (no progress bars). [env: HEARTH_JSON]",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    data_dir: Path,
    database_url: str | None,
    groups: str,
    base_url: str | None,
    prune: bool,
    replace: bool,
    reparse: bool,
    namespaces: str,
    namespace_groups: str | None,
    embedder_path: str | None,
    embed_url: str | None,
    embed_model: str | None,
    embed_api_key: str | None,
    chunk_tokens: int,
    wiki_max_page_mb: float,
    as_json: bool,
) -> None:
    """Ingest folders, documents and MediaWiki dumps into the index.

    Reads Markdown, HTML, PDF, DOCX, text and MediaWiki XML exports (.xml, .xml.bz2, .xml.gz),
    chunks and embeds what changed, and writes it with its access groups.
    """
    console = Console(stderr=True)
    try:
        options = IngestOptions(
            groups=parse_groups(groups),
            base_url=base_url,
            namespaces=_parse_namespaces(namespaces),
            namespace_groups=_parse_namespace_groups(namespace_groups),
            prune=prune,
            replace=replace,
            reparse=reparse,
            target_tokens=chunk_tokens,
            wiki_max_page_mb=wiki_max_page_mb,
        )
    except HearthError as exc:
        raise click.BadParameter(exc.message) from None
    if not options.groups:
        raise click.BadParameter("--groups needs at least one group")
    unread = sorted(set(options.namespace_groups) - options.namespaces)
    if unread:  # their groups would silently apply to nothing
        listed = ",".join(map(str, sorted(options.namespaces)))
        message = (
            f"namespace {', '.join(map(str, unread))} is not ingested (--namespaces {listed}); "
            "add it to --namespaces"
        )
        if ctx.get_parameter_source("namespace_groups") is ParameterSource.COMMANDLINE:
            raise click.BadParameter(message, param_hint="'--namespace-groups'")
        console.print(f"[yellow]HEARTH_NAMESPACE_GROUPS: {escape(message)}[/]")  # a shared .env
    missing = [str(path) for path in paths if not path.exists() and not path.is_symlink()]
    if missing:  # before loading anything or creating a store
        _fail(ctx, console, f"no such file or folder: {', '.join(missing)}", 2, as_json)
    parser = IsolatedParser()
    try:
        # The parser process loads its libraries (seconds) on the other core meanwhile.
        parser.start(warm=suffixes_under(paths, ISOLATED_SUFFIXES))
        loading = console.status("Loading the embedder...") if not as_json else nullcontext()
        with loading:
            embedder = _embedder_factory(ctx)(embedder_path)
            if embed_url:
                embedder = _remote(embedder, embed_url, embed_model, embed_api_key)
        store = open_store(data_dir, database_url)
        with progress_bars(console, disable=as_json) as bars, _acknowledged_interrupts(console):
            report = Ingestor(store, embedder, _RichProgress(bars), parser).run(paths, options)
        store.close()
    except HearthError as exc:
        _fail(ctx, console, exc.message, 2, as_json)
    except KeyboardInterrupt:
        _fail(ctx, console, "interrupted: every document written so far is complete", 130, as_json)
    finally:
        parser.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _summary(report, console)
    ctx.exit(0 if report.ok else 1)


@click.command()
@data_dir_option
@database_url_option
@click.option(
    "--documents", "list_all", is_flag=True,
    help="Also list every document with the groups that may read it.",
)  # fmt: skip
@click.option(
    "--group", "readers", multiple=True, metavar="GROUP",
    help="List only the documents a member of GROUP may read, public ones included (repeat or "
    "comma-separate for a caller in several groups); implies --documents.",
)  # fmt: skip
@click.option("--json", "as_json", envvar="HEARTH_JSON", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
def status(
    ctx: click.Context, data_dir: Path, database_url: str | None, list_all: bool,
    readers: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Show what the index holds: documents and chunks by type and group, embedder, vectors;
    with --documents or --group, which documents and who may read each.

    \b
    Examples:
      hearth status
      hearth status --data-dir /srv/hearth --json | jq .by_group
      hearth status --group hr          # what a member of hr can read
      hearth status --documents --json | jq '.documents_listed[] | select(.groups == ["public"])'
    """
    errors = Console(stderr=True)
    try:
        store = open_existing_store(data_dir, database_url)  # creates none: it only reads
        if store is None:
            _fail(ctx, errors, no_index(data_dir, database_url), 2, as_json)
        manifest = store.manifest()
        stats = store.stats()
        # what a caller in these groups reads: everyone reads public (Principal.readable_groups)
        groups = parse_groups(",".join(readers)) | {PUBLIC_GROUP} if readers else None
        listed = store.list_documents(groups) if list_all or readers else None
        store.close()
    except HearthError as exc:
        _fail(ctx, errors, exc.message, 2, as_json)
    info: dict[str, Any] = {
        **stats,
        "embedder": manifest.get("embedder"),
        "dim": int(manifest["dim"]) if "dim" in manifest else None,
        "vector_generation": int(manifest.get("vector_generation", 0)),
        "vector_count": int(manifest.get("vector_count", 0)),
        "last_ingest": manifest.get("last_ingest"),
    }
    # An interrupted ingest may leave chunks the vector file does not hold yet (stats'
    # `vectors_behind`); the next open (`hearth serve`, `hearth ingest`) rebuilds it.
    # A restore without the vector file, or a damaged copy: served only after a rebuild.
    info["vector_file_ok"] = _vector_file_ok(data_dir, manifest) if not database_url else None
    info["readable_by_others"] = readable_by_others(data_dir) if not database_url else []
    if listed is not None:
        info["documents_readable_by"] = sorted(groups) if groups is not None else None
        info["documents_listed"] = [_listed(document) for document in listed]
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    console = Console()
    where = store_location(data_dir, database_url)
    table = Table(title=f"Hearth index in {escape(where)}", title_justify="left")
    table.add_column("")
    table.add_column("documents", justify="right")
    table.add_column("chunks", justify="right")
    for kind, counts in info["by_kind"].items():
        table.add_row(f"type {kind}", str(counts["documents"]), str(counts["chunks"]))
    for group, counts in info["by_group"].items():
        table.add_row(f"group {group}", str(counts["documents"]), str(counts["chunks"]))
    table.add_row("[b]total[/]", str(info["documents"]), str(info["chunks"]))
    console.print(table)
    if info["embedder"]:
        console.print(f"embedder: {info['embedder']} ({info['dim']}-d)")
    else:
        console.print("embedder: none yet (set by the first ingest)")
    console.print(
        f"vectors: generation {info['vector_generation']}, {info['vector_count']} vectors"
    )
    if info["readable_by_others"]:
        warning = exposure_warning(data_dir, info["readable_by_others"])
        console.print(f"[yellow]{escape(warning)}[/]")
    if info["vector_file_ok"] is False:
        console.print(f"[yellow]the vector file {escape(manifest['vector_file'])} is missing or "
                      "damaged: `hearth serve` or the next `hearth ingest` rebuilds it from the "
                      "stored embeddings[/]")  # fmt: skip
    if info["vectors_behind"] and database_url:  # pgvector indexes each row as it is written
        console.print(f"[yellow]the last completed ingest recorded {info['vector_count']} "
                      f"vectors for {info['chunks']} chunks: an ingest was interrupted or is "
                      "running; every stored chunk is searched[/]")  # fmt: skip
    elif info["vectors_behind"]:
        console.print(f"[yellow]the vectors are behind the {info['chunks']} stored chunks (an "
                      "interrupted ingest?): `hearth serve` or the next `hearth ingest` rebuilds "
                      "them[/]")  # fmt: skip
    console.print(f"wiki aliases: {info['aliases']}")
    console.print(f"last ingest: {info['last_ingest'] or 'none completed yet'}")
    console.print(f"data size: {info['data_bytes'] / 1e6:.1f} MB")
    if listed is not None:
        console.print(_document_table(info["documents_listed"], groups))


def _vector_file_ok(data_dir: Path, manifest: dict[str, str]) -> bool | None:
    """Whether the recorded vector file is there with the recorded SHA-256 (None before the
    first one): reading it costs ~0.3 s per 100,000 chunks."""
    if "vector_file" not in manifest:
        return None
    path = data_dir / manifest["vector_file"]
    return path.is_file() and file_digest(path) == manifest.get("vector_sha256")


def _listed(document: StoredDocument) -> dict[str, Any]:
    return {
        "id": document.id,
        "title": document.title,
        "kind": document.kind,
        "groups": sorted(document.groups),
        "chunks": document.n_chunks,
        "source": document.source,
        "url": document.url,
    }


def _document_table(documents: list[dict[str, Any]], readers: frozenset[str] | None) -> Table:
    who = f"readable by {', '.join(sorted(readers))}" if readers is not None else "all"
    table = Table(title=f"Documents ({who}): {len(documents)}", title_justify="left")
    for column in ("id", "title", "type", "groups", "chunks"):  # ids whole: they are looked up
        table.add_column(column, justify="right" if column == "chunks" else "left", overflow="fold")
    for document in documents:
        table.add_row(
            escape(document["id"]), escape(document["title"]), document["kind"],
            escape(", ".join(document["groups"])), str(document["chunks"]),
        )  # fmt: skip
    return table


def main() -> None:
    """Run the ingest commands alone (`python -m ingest.cli`)."""
    group = click.Group(commands={"ingest": ingest, "status": status})
    group(prog_name="hearth", obj={})
    sys.exit(0)


if __name__ == "__main__":
    main()
