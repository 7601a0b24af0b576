"""`hearth eval`: measure retrieval, abstention and answers on a questions file or a benchmark.

Mounted by app/cli.py (`cli.add_command(eval_command)`); runs alone as `python -m app.eval_cli`.
Tables go to stdout, progress bars to stderr, `--json OUT` writes every figure and one row per
question. Tests (or programs embedding the command) may pass `embedder_factory(path)` and
`services_factory(settings)` in the root context's `obj`.
Exit codes: 0 measured, 2 nothing could run (no index, unreadable input, bad options), 130
interrupted (what was done before Ctrl-C is still reported and written).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from app.datasets import (
    Dataset,
    EvalQuestion,
    check_benchmark_dir,
    ingest_dataset,
    load_beir,
    load_questions,
    load_squad,
    with_stored_ids,
)
from app.deps import Services
from app.eval_tables import print_report
from app.evaluation import (
    EvalReport,
    Retriever,
    evaluate,
    pipeline_retriever,
    principal_for,
    search_retriever,
)
from app.settings import Settings
from index.errors import HearthError
from index.open_store import open_existing_store, open_store, store_location
from index.protocols import Embedder, Store
from index.store import SQLiteStore
from ingest.cli import (
    data_dir_option,
    database_url_option,
    default_embedder,
    no_index,
    plural,
    progress_bars,
)
from ingest.pipeline import Progress as PipelineProgress

EmbedderFactory = Callable[[str | None], Embedder]
ServicesFactory = Callable[[Settings], Services]


def default_services(settings: Settings) -> Services:
    """The real store, embedder and language model (`load_services`)."""
    from app.main import load_services

    return load_services(settings)


def _factories(ctx: click.Context) -> tuple[EmbedderFactory, ServicesFactory]:
    obj = ctx.find_root().obj or {}
    return (
        obj.get("embedder_factory", default_embedder),
        obj.get("services_factory", default_services),
    )


def _parse_ks(value: str) -> list[int]:
    if not value.strip():
        raise click.BadParameter("a value is needed: cut-offs like 5,10", param_hint="'--k'")
    parts = [part.strip() for part in value.split(",")]
    if "" in parts:
        raise click.BadParameter(f"empty cut-off in {value!r}: use cut-offs like 5,10",
                                 param_hint="'--k'")  # fmt: skip
    try:
        ks = sorted({int(part) for part in parts})
    except ValueError:
        raise click.BadParameter("use cut-offs like 5,10", param_hint="'--k'") from None
    if ks[0] < 1 or ks[-1] > 100:
        raise click.BadParameter("cut-offs must be between 1 and 100", param_hint="'--k'")
    return ks


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at `path` (None: it can), found before a long run rather
    than after it. Missing folders are not made: a test file goes to the closest one that
    exists (the folders are made when the file is written)."""
    folder = path.parent
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        folder = folder.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hearth-eval-"):
            pass
    except OSError as exc:
        return f"cannot write to {path.parent}/ ({exc.strerror or type(exc).__name__})"
    return None


def _check_writable(path: Path) -> None:
    """Fail before a long run, not after it, when the --json file cannot be written there."""
    reason = unwritable(path)
    if reason is not None:
        raise click.BadParameter(reason, param_hint="'--json'")


def _check_expected_documents(
    questions: list[EvalQuestion], store: Store, console: Console
) -> None:
    """Warn about expected document ids the index does not hold (a typo, or another folder's
    ids), which would otherwise count as plain misses; stop when it holds none of them."""
    expected = {d for q in questions for d in q.expected_documents}
    if not expected:
        return
    state = store.document_state()
    _warn_unreadable(questions, state, console)
    missing = sorted(expected - set(state))
    if not missing:
        return
    examples = ", ".join(repr(d) for d in missing[:5]) + (", ..." if len(missing) > 5 else "")
    if len(missing) == len(expected):
        what = (
            f"the expected document {examples} is not" if len(expected) == 1
            else f"none of the {len(expected)} expected documents is"
        )  # fmt: skip
        raise HearthError(
            f"{what} in this index{'' if len(expected) == 1 else f' ({examples})'}: did you "
            "ingest them into another --data-dir? Ids are paths under the ingested folder "
            "(hr/salary-bands-2026.docx) or site:page id for wiki pages (emberwiki:2)"
        )
    console.print(
        f"[yellow]warning:[/] {plural(len(missing), 'expected document')} of {len(expected)} "
        f"not in the index, counted as misses: {examples}"
    )


def _warn_unreadable(
    questions: list[EvalQuestion], state: dict[str, tuple[str, frozenset[str]]], console: Console
) -> None:
    """Warn about expected documents the question's asker (its groups and public) cannot read:
    search never shows them to that asker, so they count as plain misses."""
    unreadable = [
        (q, doc, state[doc][1])
        for q in questions
        for doc in q.expected_documents
        if doc in state and state[doc][1]
        and not state[doc][1] & principal_for(q).readable_groups
    ]  # fmt: skip
    if not unreadable:
        return
    examples = "; ".join(
        f"{escape(q.id or q.question)}: {escape(repr(doc))} (groups {', '.join(sorted(groups))};"
        f" asker {', '.join(sorted(principal_for(q).readable_groups))})"
        for q, doc, groups in unreadable[:5]
    ) + ("; ..." if len(unreadable) > 5 else "")
    console.print(
        f"[yellow]warning:[/] {plural(len(unreadable), 'expected document')} not readable by "
        f"the question's groups, counted as misses (add the groups to the question): {examples}"
    )


class _IngestBars(PipelineProgress):
    def __init__(self, bars: Progress, documents: int) -> None:
        self._bars = bars
        self._documents = bars.add_task("documents indexed", total=documents)
        self._chunks = bars.add_task("chunks embedded", total=None)

    def document_done(self) -> None:
        self._bars.advance(self._documents)

    def chunks_embedded(self, count: int) -> None:
        self._bars.advance(self._chunks, count)


def write_private(path: Path, text: str) -> None:
    """Write `text`, creating the file readable by its owner only: with --answer it holds
    answers from restricted documents, as private as the store (0600) they came from."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


@contextmanager
def _closing(services: Services) -> Iterator[Services]:
    from app.main import close_services

    try:
        yield services
    finally:
        close_services(services)


def _load_input(
    questions_file: Path | None, beir: Path | None, split: str, squad: Path | None
) -> tuple[Dataset | None, list[EvalQuestion], dict[str, Any]]:
    if sum(x is not None for x in (questions_file, beir, squad)) != 1:
        raise click.UsageError("give one of: a QUESTIONS file, --beir DIR or --squad FILE")
    if beir is not None:
        dataset = load_beir(beir, split)
        return dataset, [], {"beir": str(beir), "split": split, "dataset": dataset.name}
    if squad is not None:
        dataset = load_squad(squad)
        return dataset, [], {"squad": str(squad), "dataset": dataset.name}
    assert questions_file is not None
    return None, load_questions(questions_file), {"questions": str(questions_file)}


@click.command(
    "eval",
    epilog="""Examples:

\b
  hearth eval corpus/questions.jsonl --data-dir data
  hearth eval corpus/questions.jsonl --answer --json eval.json
  hearth eval --beir ../shared/eval/beir-scifact --data-dir /tmp/scifact
  hearth eval --squad dev-v2.0.json --data-dir /tmp/squad --k 1,5

QUESTIONS is JSON Lines, one question per line, for example:

\b
  {"question": "What's the salary range for band E3 in Berlin?", "groups": ["hr"],
   "expected_documents": ["hr/salary-bands-2026.docx"], "key_term": "55,000"}

Only "question" is required. "expected_documents" are stored document ids (paths under the
ingested folder, or site:page id for wiki pages; none means unanswerable unless "answerable"
says otherwise, and "answerable": false with expected documents is an error), "key_term" is
looked for in the answer (--answer), "groups" are the asker's, "id" names the question in the
tables (default: its line number). "note" and "category" are ignored; any other field is an
error, so that a misspelt "expected_documents" cannot make a question unanswerable.
With --beir or --squad the dataset's documents are indexed into --data-dir first (reused when
already there; the folder must hold no other documents) and its questions are asked.

Retrieval figures are document-level over answerable questions: hit@k, a right document in
the top k; recall@k, the share of right documents there; MRR, 1 / rank of the first right one;
nDCG@10, rank-weighted. MRR, nDCG@10 and hit/recall at k <= 10 come from one search of
10 x HEARTH_PER_DOCUMENT passages, whatever --k; a k above 10 is read from a search
max(k) x HEARTH_PER_DOCUMENT passages deep (past HEARTH_CANDIDATES its fused pool widens).
"Abstention by evidence" is what the threshold alone would do, before any model call.
--answer runs the real models on every question (about a second each): it adds abstention
precision and recall, citation precision, key terms and time to first token.
Settings (top_k, threshold, ...) come from HEARTH_* variables as for `hearth serve`.
Ctrl-C stops the run and reports (and writes) the questions done so far; exit code 130.""",
)
@click.argument(
    "questions_file",
    metavar="[QUESTIONS]",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@data_dir_option
@database_url_option
@click.option(
    "--k",
    "ks",
    default="5,10",
    show_default=True,
    help="Comma-separated cut-offs for hit@k and recall@k, each 1 to 100. MRR, nDCG@10 and "
    "the figures at k <= 10 do not depend on them.",
)
@click.option(
    "--answer",
    is_flag=True,
    help="Also answer each question with the real models: abstention, citations, key terms, speed.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write every figure and one row per question to this JSON file.",
)
@click.option(
    "--beir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) to index and ask.",
)
@click.option("--split", default="test", show_default=True, help="BEIR qrels split (with --beir).")
@click.option(
    "--squad",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A SQuAD 2.0 JSON file: paragraphs become documents, all its questions are asked.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Ask only the first N questions (a benchmark's documents are all indexed still).",
)
@click.pass_context
def eval_command(
    ctx: click.Context,
    questions_file: Path | None,
    data_dir: Path,
    database_url: str | None,
    ks: str,
    answer: bool,
    json_out: Path | None,
    beir: Path | None,
    split: str,
    squad: Path | None,
    limit: int | None,
) -> None:
    """Measure retrieval (hit@k, recall@k, MRR, nDCG@10), abstention and, with --answer,
    full answers (abstention F1, citation precision, key terms, TTFT) on a questions file."""
    cutoffs = _parse_ks(ks)
    if json_out is not None:
        _check_writable(json_out)
    if beir is None and ctx.get_parameter_source("split") is not ParameterSource.DEFAULT:
        raise click.UsageError("--split chooses the qrels of a --beir folder; there is none")
    console = Console()
    errors = Console(stderr=True)
    embedder_factory, services_factory = _factories(ctx)
    try:
        dataset, questions, source = _load_input(questions_file, beir, split, squad)
    except HearthError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        ctx.exit(2)
    if dataset is not None and database_url:
        errors.print("[red]error:[/] --beir and --squad index into an embedded --data-dir; "
                     "unset HEARTH_DATABASE_URL for them")  # fmt: skip
        ctx.exit(2)
    settings = Settings(data_dir=data_dir, database_url=database_url)
    source["data_dir"] = str(data_dir)
    if database_url:  # the store evaluated, without its password ("data" was recorded)
        source["data_dir"] = None
        source["database"] = store_location(data_dir, database_url)
    store: Store | None = None
    embedder: Embedder | None = None
    try:
        if dataset is not None:
            store = embedded = SQLiteStore(data_dir)
            check_benchmark_dir(embedded, dataset)  # before the embedder loads and the bars
            with errors.status("Loading the embedder..."):
                embedder = embedder_factory(settings.embedder_path)
            with progress_bars(errors) as bars:
                ingested = ingest_dataset(
                    dataset, embedded, embedder, _IngestBars(bars, len(dataset.documents))
                )
            if ingested is None:
                errors.print(f"{dataset.name}: already indexed in {data_dir}/, reused")
            else:
                errors.print(f"{dataset.name}: {ingested.added} added, {ingested.updated} "
                             f"updated, {ingested.unchanged} unchanged, {ingested.chunks} chunks "
                             f"in {ingested.seconds:.0f} s")  # fmt: skip
                if not ingested.ok:
                    for name, reason in ingested.failed[:10]:
                        errors.print(f"[red]failed[/] {name}: {reason}")
            questions = with_stored_ids(dataset.questions)
        else:  # creates none: on an empty database it only reads, and there is nothing
            store = open_existing_store(data_dir, database_url)
            if store is None:
                errors.print(f"[red]error:[/] {escape(no_index(data_dir, database_url))}")
                ctx.exit(2)
        questions = questions[:limit] if limit else questions
        if answer:
            if store is not None:
                store.close()
                store = None
            with errors.status("Loading the models..."):
                services = services_factory(settings)
            with _closing(services):
                _check_expected_documents(questions, services.store, errors)
                report = _run(questions, pipeline_retriever(services.rag), settings, cutoffs,
                              services, errors)  # fmt: skip
        else:
            if embedder is None:
                with errors.status("Loading the embedder..."):
                    embedder = embedder_factory(settings.embedder_path)
            if store is None:
                store = open_store(data_dir, database_url)
            if "embedder" in store.manifest():
                store.check_embedder(embedder.model_id, embedder.dim)
            store.open_vectors()
            _check_expected_documents(questions, store, errors)
            report = _run(questions, search_retriever(store, embedder, settings), settings,
                          cutoffs, None, errors)  # fmt: skip
    except HearthError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        ctx.exit(2)
    except KeyboardInterrupt:  # while loading the models or indexing a benchmark
        errors.print("[yellow]interrupted: nothing was measured[/]")
        ctx.exit(130)
    finally:
        if store is not None:
            store.close()
    if report.interrupted and not report.rows:  # an earlier --json file is left as it was
        errors.print("[yellow]interrupted before any question was done: nothing measured[/]")
        ctx.exit(130)
    report.source = source
    if report.interrupted:  # first on stdout too: a redirected table must not look whole
        note = (f"interrupted: the figures are over the {len(report.rows)} of {report.asked} "
                "questions done before it")  # fmt: skip
        console.print(f"[yellow]{note}[/]")
    print_report(report, console)
    if report.interrupted and not console.is_terminal:  # else just seen on the terminal
        errors.print(f"[yellow]{note}[/]")
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"
            write_private(json_out, text)
        except OSError as exc:
            errors.print(f"[red]error:[/] cannot write {json_out} ({exc.strerror or exc})")
            ctx.exit(2)
        errors.print(f"wrote {json_out}")
    if report.interrupted:
        ctx.exit(130)


def _run(
    questions: list[EvalQuestion],
    retriever: Retriever,
    settings: Settings,
    ks: list[int],
    services: Services | None,
    console: Console,
) -> EvalReport:
    with progress_bars(console) as bars:
        searched = bars.add_task("questions searched", total=len(questions))
        answered = bars.add_task("questions answered", total=len(questions)) if services else None
        return evaluate(
            questions, retriever, settings, ks,
            rag=services.rag if services else None,
            on_retrieved=lambda _: bars.advance(searched),
            on_answered=lambda _: bars.advance(answered) if answered is not None else None,
        )  # fmt: skip


def main() -> None:
    """Run `hearth eval` alone (`python -m app.eval_cli ...`)."""
    eval_command(prog_name="hearth eval", obj={})
    sys.exit(0)


if __name__ == "__main__":
    main()
