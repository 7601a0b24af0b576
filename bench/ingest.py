"""Ingest throughput, memory and re-ingest cost, measured (issue 2, "Benchmark").

    python bench/ingest.py [--quick] [--bare-reps 3]

For `corpus/` and the enwiki sample dump (skipped with a message if ../shared is absent):

1. A full ingest into a fresh temporary data directory with the real embedder: documents/s and
   chunks/s, a split of the time into stages (parse, clean+hash, diff lookup, chunk, embed,
   write, publish, other; the embedding of a batch runs on a thread while the next batch is
   parsed and chunked, so the stages overlap and may add up to more than the run), then the
   bare embedder on exactly the chunk texts the pipeline embedded, in the same batches (median
   of `--bare-reps` repetitions). Target: pipeline chunks/s / bare chunks/s >= 0.85.
2. Peak RSS of an ingest of the dump, and of the dump concatenated 5 times (distinct page ids and
   titles, one <mediawiki> root): it must not grow with the dump. These runs use the hash
   embedder from tests/fakes.py (384-d, 256-token window) since the question is whether the
   parser and pipeline stream; one real-embedder peak is also reported for the 1x dump.
3. A second ingest of the same input (nothing changed) must take < 10 % of the first.

Every ingest runs in its own subprocess (a fresh interpreter, so its peak RSS is its own); the
stages are timed by wrapping functions from outside, the pipeline itself is not modified. The
embedder is warmed up (one small batch) before the timed ingest so that neither the pipeline nor
the bare replay pays torch's first-call cost. `--quick` skips the 5x dump and the real-embedder
runs on the dump. Prints PASS/FAIL against each target but never fails the run.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/ingest.py`, this file's folder comes first on sys.path and its name would
# shadow the `ingest` package: put the repository root there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "corpus"
DUMP = (
    ROOT.parent
    / "shared/eval/mediawiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
)
RESULT_MARK = "BENCH-RESULT "
RATIO_TARGET = 0.85
REINGEST_TARGET = 0.10
RSS_GROWTH_TOLERANCE = 1.10  # 5x dump peak within 10 % of the 1x peak counts as "not growing"
STAGES = ("parse", "clean+hash", "diff", "chunk", "embed", "write", "publish")


# -- measuring inside a worker -----------------------------------------------------------------


def memory_kb() -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak so far) of this process in kB, from /proc or getrusage."""
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    if "VmHWM" not in values:
        values["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        values.setdefault("VmRSS", values["VmHWM"])
    return values


@dataclass
class Timers:
    """Seconds per stage, plus what the embedder was asked to embed (batch by batch)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    record: IO[str] | None = None  # the embedded texts, one JSON batch per line (kept on disk,
    # not in memory, so that recording them does not inflate the peak RSS being measured)
    batch_sizes: list[int] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)
    stream_peak_kb: int | None = None  # VmHWM when the run reaches publishing
    isolated: list[float] = field(default_factory=list)  # each parse in the parser child

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] += time.perf_counter() - started


class TimedEmbedder:
    """Delegates to an embedder, timing `embed_documents` and recording its batches."""

    def __init__(self, inner: Any, timers: Timers) -> None:
        self.inner = inner
        self.timers = timers

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def embed_documents(self, texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        vectors = self.inner.embed_documents(texts)
        self.timers.add("embed", started)
        self.timers.batch_sizes.append(len(texts))
        for text in texts:
            self.timers.digest.update(text.encode() + b"\0")
        if self.timers.record is not None:
            self.timers.record.write(json.dumps(list(texts)) + "\n")
        return vectors

    def embed_query(self, text: str) -> Any:
        return self.inner.embed_query(text)


def timed_store(data_dir: Path, timers: Timers) -> Any:
    """A SQLiteStore whose writes, diff lookups and vector publishing are timed."""
    from index.store import SQLiteStore

    class TimedStore(SQLiteStore):
        _publishing = 0

        def write_document(self, document: Any, chunks: Any, embeddings: Any) -> None:
            started = time.perf_counter()
            super().write_document(document, chunks, embeddings)
            timers.add("write", started)

        def document_state_of(self, document_id: str) -> Any:
            started = time.perf_counter()
            state = super().document_state_of(document_id)
            timers.add("diff", started)
            return state

        def publish_vectors(self) -> int:
            if timers.stream_peak_kb is None:
                timers.stream_peak_kb = memory_kb()["VmHWM"]
            self._publishing += 1
            started = time.perf_counter()
            try:
                return super().publish_vectors()
            finally:
                self._publishing -= 1
                if not self._publishing:
                    timers.add("publish", started)

        def open_vectors(self) -> None:
            if timers.stream_peak_kb is None:
                timers.stream_peak_kb = memory_kb()["VmHWM"]
            self._publishing += 1
            started = time.perf_counter()
            try:
                super().open_vectors()
            finally:
                self._publishing -= 1
                if not self._publishing:
                    timers.add("publish", started)

    return TimedStore(data_dir)


@contextmanager
def instrumented(timers: Timers) -> Iterator[None]:
    """Time the pipeline's parse, clean+hash and chunk steps by patching its module names."""
    from ingest import dumps, pipeline, planning
    from ingest.isolation import IsolatedParser

    real_parse_dump = dumps.parse_dump
    real_parser_for = planning.parser_for
    real_chunk = pipeline.chunk_document
    real_clean = pipeline.clean_document
    real_hash = pipeline.content_hash

    def parse_dump(path: Any, *args: Any) -> Iterator[Any]:
        items = real_parse_dump(path, *args)
        while True:
            started = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                timers.add("parse", started)
                return
            timers.add("parse", started)
            yield item

    def parser_for(path: Any) -> Any:
        parser = real_parser_for(path)
        if parser is None:
            return None

        def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return parser(*args)
            finally:
                timers.add("parse", started)

        return timed

    def wrap(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args)
            finally:
                timers.add(stage, started)

        return timed

    # Files parsed in the child process (ingest/isolation.py): the parent's wait for each
    # result is what the ingest pays, whether the run starts the child or is given one.
    real_result, real_close = IsolatedParser.result, IsolatedParser.close

    def result(parser: IsolatedParser) -> Any:
        started = time.perf_counter()
        try:
            return real_result(parser)
        finally:
            timers.add("parse", started)
            timers.isolated.append(time.perf_counter() - started)

    def close(parser: IsolatedParser) -> None:
        started = time.perf_counter()
        real_close(parser)
        timers.add("parse", started)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(IsolatedParser, "result", result))
        stack.enter_context(mock.patch.object(IsolatedParser, "close", close))
        stack.enter_context(mock.patch.object(dumps, "parse_dump", parse_dump))
        stack.enter_context(mock.patch.object(planning, "parser_for", parser_for))
        stack.enter_context(
            mock.patch.object(pipeline, "chunk_document", wrap("chunk", real_chunk))
        )
        stack.enter_context(
            mock.patch.object(pipeline, "clean_document", wrap("clean+hash", real_clean))
        )
        stack.enter_context(
            mock.patch.object(pipeline, "content_hash", wrap("clean+hash", real_hash))
        )
        yield


def ingest_once(
    embedder: Any,
    data_dir: Path,
    source: Path,
    record: Path | None = None,
    parser: Any = None,
) -> dict[str, Any]:
    """One instrumented ingest of `source` into `data_dir` (a new store object each time);
    the embedded batches are written to `record` if given; `parser`: a parser child started
    beforehand (else the run starts its own)."""
    from ingest.pipeline import IngestOptions, Ingestor, Progress

    class Counting(Progress):
        documents = 0

        def document_done(self) -> None:
            self.documents += 1

    timers = Timers()
    store = timed_store(data_dir, timers)
    progress = Counting()
    with ExitStack() as stack:
        if record is not None:
            timers.record = stack.enter_context(record.open("w", encoding="utf-8"))
        stack.enter_context(instrumented(timers))
        started = time.perf_counter()
        report = Ingestor(store, TimedEmbedder(embedder, timers), progress, parser).run(
            [source], IngestOptions()
        )
        seconds = time.perf_counter() - started
    peak = memory_kb()["VmHWM"]
    store.close()
    stages = dict(timers.seconds)
    stages["other"] = max(0.0, seconds - sum(stages.values()))
    return {
        "seconds": seconds,
        "documents": progress.documents,
        "report": report.as_dict(),
        "stages": stages,
        "batch_sizes": timers.batch_sizes,
        "texts_sha256": timers.digest.hexdigest(),
        "stream_peak_kb": timers.stream_peak_kb,
        "peak_kb": peak,
        "isolated": timers.isolated,
    }


def warmed_parser(source: Path) -> Any:
    """A parser child that has parsed one file of each isolated kind under `source`: its
    libraries are loaded and their first calls made, as the embedder's are before the clock."""
    from ingest.isolation import IsolatedParser
    from ingest.parsers.base import ParseOptions
    from ingest.pipeline import ISOLATED_SUFFIXES

    parser = IsolatedParser()
    firsts: dict[str, Path] = {}
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        firsts.setdefault(path.suffix.lower(), path)
    for suffix, path in firsts.items():
        if suffix in ISOLATED_SUFFIXES:
            parser.parse(path, path.name, ParseOptions())
    return parser


def make_embedder(kind: str) -> Any:
    if kind == "real":
        from index.embedder import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder()
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes import HashEmbedder

    class HashEmbedderNoLog(HashEmbedder):
        """The fake keeps every text it embedded (for test assertions): not here, where it
        would make memory grow with the dump."""

        def embed_documents(self, texts: Sequence[str]) -> Any:
            vectors = super().embed_documents(texts)
            self.embedded.clear()
            return vectors

    return HashEmbedderNoLog(dim=384, max_tokens=256, model_id="hash-384")


def replay(embedder: Any, record: Path) -> float:
    """Seconds the bare embedder takes on the recorded batches (reading them is not timed)."""
    seconds = 0.0
    with record.open(encoding="utf-8") as lines:
        for line in lines:
            batch = json.loads(line)
            started = time.perf_counter()
            embedder.embed_documents(batch)
            seconds += time.perf_counter() - started
    return seconds


def worker(
    kind: str, source: Path, data_dir: Path, bare_reps: int, second: bool, warm_run: bool
) -> None:
    """Run in a subprocess: first ingest, (warm ingest), bare replay, second ingest; print JSON.

    The warm ingest repeats the first into another fresh data directory in the same process,
    with a parser child started and warmed (one file of each kind parsed) before the clock,
    as the embedder is: it measures the pipeline's throughput without one-time start-up.
    """
    embedder = make_embedder(kind)
    # torch's first calls are slow (allocations per sequence length): warm up outside the timing.
    for _ in range(2):
        embedder.embed_documents(["warm-up " * n for n in (8, 32, 64, 128, 220)] * 13)
    before = memory_kb()
    load = [os.getloadavg()[0]]
    record = data_dir.with_name(data_dir.name + "-batches.jsonl") if bare_reps else None
    first = ingest_once(embedder, data_dir, source, record)
    result: dict[str, Any] = {
        "kind": kind,
        "source": str(source),
        "before_kb": before,
        "first": first,
        "embedded_texts": sum(first["batch_sizes"]),
        "batch_sizes": first["batch_sizes"],
    }
    if warm_run:
        parser = warmed_parser(source)
        warm = ingest_once(
            embedder, data_dir.with_name(data_dir.name + "-warm"), source, parser=parser
        )
        parser.close()
        result["warm_same_batches"] = (warm["texts_sha256"], warm["batch_sizes"]) == (
            first["texts_sha256"],
            first["batch_sizes"],
        )
        result["warm"] = warm
    result["bare_seconds"] = [replay(embedder, record) for _ in range(bare_reps) if record]
    load.append(os.getloadavg()[0])
    result["load"] = load
    if second:
        result["second"] = ingest_once(embedder, data_dir, source)
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_worker(
    kind: str,
    source: Path,
    data_dir: Path,
    bare_reps: int = 0,
    second: bool = True,
    warm_run: bool = False,
) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(source)]
    command += [str(data_dir), "--bare-reps", str(bare_reps)]
    if not second:
        command.append("--no-second")
    if warm_run:
        command.append("--warm-run")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
    raise RuntimeError(f"worker {kind} on {source.name} failed (exit {done.returncode})")


# -- the 5x dump ---------------------------------------------------------------------------------

_TITLE = re.compile(r"<title>(.*?)</title>")
_ID = re.compile(r"<id>(\d+)</id>")
_REDIRECT = re.compile(r'<redirect title="(.*?)"')


def _splice(line: str, match: re.Match[str], replacement: str) -> str:
    return line[: match.start()] + replacement + line[match.end() :]


def build_repeated_dump(source: Path, target: Path, copies: int) -> int:
    """Write `copies` times the pages of `source` into one dump (bz2), streaming; returns pages.

    Copy k > 0 gets page id + k * 100,000,000, " (copy k)" appended to its title and to its
    redirect target, so every page is a distinct document and redirects stay within a copy.
    """
    pages = 0
    with bz2.open(target, "wt", encoding="utf-8") as out:
        for copy in range(copies):
            in_page = before_pages = False
            title_done = id_done = False
            with bz2.open(source, "rt", encoding="utf-8") as dump:
                for line in dump:
                    stripped = line.strip()
                    if stripped == "<page>":
                        in_page, before_pages = True, True
                        title_done = id_done = False
                        pages += 1
                    elif stripped == "</mediawiki>":
                        break
                    if not before_pages and not in_page:
                        if copy == 0:
                            out.write(line)  # the header (<mediawiki>, <siteinfo>) once
                        continue
                    if in_page and copy:
                        if not title_done and (m := _TITLE.search(line)):
                            line = _splice(line, m, f"<title>{m[1]} (copy {copy})</title>")
                            title_done = True
                        elif not id_done and (m := _ID.search(line)):
                            line = _splice(line, m, f"<id>{int(m[1]) + copy * 100_000_000}</id>")
                            id_done = True
                        elif m := _REDIRECT.search(line):
                            line = _splice(line, m, f'<redirect title="{m[1]} (copy {copy})"')
                    if in_page or stripped == "</page>":
                        out.write(line)
                    if stripped == "</page>":
                        in_page = False
        out.write("</mediawiki>\n")
    return pages


# -- the report ----------------------------------------------------------------------------------


def dump_for_pipeline(work: Path, summary: Summary) -> Path:
    """The dump as the pipeline is given it: under its own name if the pipeline recognises it,
    else through a symlink whose name ends in .xml.bz2 (and the miss is reported as a FAIL)."""
    from ingest.sources import is_wiki_dump

    recognised = is_wiki_dump(DUMP)
    summary.add(
        "enwiki: file recognised as a dump by name", str(recognised), "True", verdict(recognised)
    )
    if recognised:
        return DUMP
    link = work / (DUMP.name.removesuffix(".bz2").replace(".xml", "") + ".xml.bz2")
    link.symlink_to(DUMP)
    print(
        f"\nFAIL: the pipeline does not take {DUMP.name} for a MediaWiki dump (the name does not "
        "end in .xml, .xml.bz2 or .xml.gz) and silently ingests nothing from it; "
        f"measuring through a symlink named {link.name}"
    )
    return link


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f} MB"


@dataclass
class Summary:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, what: str, value: str, target: str = "", result: str = "") -> None:
        self.rows.append((what, value, target, result))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in [*self.rows, ("", "", "", "")]) for i in range(4)]
        print("\n== Summary ==")
        for row in self.rows:
            print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _throughput(name: str, label: str, run: dict[str, Any], bare: float, summary: Summary) -> float:
    """Print one ingest's rates, ratio to the bare embedder and stage split; return the ratio."""
    seconds, documents, chunks = run["seconds"], run["documents"], run["report"]["chunks"]
    pipeline_rate, bare_rate = chunks / seconds, chunks / bare
    ratio = pipeline_rate / bare_rate
    print(
        f"{label} ingest: {seconds:.2f} s, {documents / seconds:.2f} documents/s, "
        f"{pipeline_rate:.2f} chunks/s; ratio pipeline/bare {ratio:.3f} "
        f"(target >= {RATIO_TARGET}) {verdict(ratio >= RATIO_TARGET)}"
    )
    share = run["stages"]["embed"] / seconds
    print(
        f"  within this run: embed stage / whole ingest = {share:.3f} (the share of the run "
        "the embedder was busy; near 1 when the rest hides behind it)"
    )
    print(f"  stages (s, share of the {label} ingest; embedding overlaps the others):")
    for stage, value in run["stages"].items():
        print(f"    {stage:<11} {value:8.2f}  {100 * value / seconds:5.1f} %")
    print_isolated(run)
    summary.add(
        f"{name}: {label}: documents/s, chunks/s",
        f"{documents / seconds:.2f}, {pipeline_rate:.2f}",
    )
    summary.add(
        f"{name}: {label}: ratio pipeline/bare",
        f"{ratio:.3f}",
        f">= {RATIO_TARGET}",
        verdict(ratio >= RATIO_TARGET),
    )
    summary.add(f"{name}: {label}: embed stage / whole ingest (same run)", f"{share:.3f}")
    top = max(run["stages"], key=lambda s: run["stages"][s])
    shares = " ".join(
        f"{s}={100 * v / seconds:.0f}%" for s, v in run["stages"].items() if v / seconds >= 0.01
    )
    summary.add(f"{name}: {label}: stages (top: {top})", shares)
    return float(ratio)


def print_isolated(run: dict[str, Any]) -> None:
    """How much of `parse` went to the parser child (ingest/isolation.py)."""
    calls = run.get("isolated") or []
    if calls:
        print(
            f"  of parse: {len(calls)} files parsed in the isolated child (ahead of the "
            f"embedding); waiting for the first {calls[0]:.2f} s (spawns the child, which "
            f"imports the parsers), for the other {len(calls) - 1} {sum(calls[1:]):.2f} s"
        )


def report_throughput(name: str, result: dict[str, Any], summary: Summary) -> None:
    first = result["first"]
    documents, chunks = first["documents"], first["report"]["chunks"]
    bare = statistics.median(result["bare_seconds"])
    sizes = result["batch_sizes"] or [0]
    print(f"\n== {name}: full ingest into a fresh data dir, real embedder ==")
    if first["report"]["failed"]:
        print(f"FAILED sources: {first['report']['failed']}")
    print(
        f"documents {documents} (+{first['report']['redirects']} redirects), chunks {chunks}, "
        f"embedded texts {result['embedded_texts']} in {len(result['batch_sizes'])} batches "
        f"(size min {min(sizes)}, median {statistics.median(sizes):.0f}, max {max(sizes)})"
    )
    reps = ", ".join(f"{s:.2f}" for s in result["bare_seconds"])
    print(
        f"bare embedder, same texts in the same batches: median {bare:.2f} s of [{reps}], "
        f"{chunks / bare:.2f} chunks/s; inside the pipeline the embed stage took "
        f"{first['stages']['embed']:.2f} s"
    )
    summary.add(f"{name}: bare embedder chunks/s", f"{chunks / bare:.2f}")
    load = result["load"]
    cpus = os.cpu_count() or 1
    busy = max(load) > cpus + 0.5
    print(
        f"1-min load average {load[0]:.2f} before, {load[1]:.2f} after ({cpus} CPUs)"
        + ("; WARNING: the machine is busy, timings are unreliable" if busy else "")
    )
    _throughput(name, "cold", first, bare, summary)
    if "warm" in result:
        same = "same batches" if result["warm_same_batches"] else "DIFFERENT batches"
        print(
            "(warm: parser child started and warmed before the clock, as the embedder is; "
            f"fresh data dir; {same})"
        )
        _throughput(name, "warm", result["warm"], bare, summary)
    print(
        f"peak RSS of the cold ingest (real embedder): {mb(first['peak_kb'])} "
        f"(RSS before it, model loaded: {mb(result['before_kb']['VmRSS'])})"
    )


def report_second(
    name: str, result: dict[str, Any], summary: Summary, label: str, judged: bool = True
) -> None:
    """Second ingest vs first; `judged=False` for hash-embedder runs (the target is moot there:
    their first ingest embeds almost for free)."""
    first, second = result["first"], result["second"]
    ratio = second["seconds"] / first["seconds"]
    r = second["report"]
    outcome = (
        f"(target < {REINGEST_TARGET}) {verdict(ratio < REINGEST_TARGET)}"
        if judged
        else "(information only: the target applies to the real embedder)"
    )
    print(f"\n== {name}: second ingest, nothing changed ({label}) ==")
    print(
        f"first {first['seconds']:.2f} s, second {second['seconds']:.2f} s, ratio {ratio:.3f} "
        f"{outcome}; second run: unchanged {r['unchanged']}, added {r['added']}, "
        f"updated {r['updated']}, chunks embedded {r['chunks']}"
    )
    if "warm" in result:
        print(f"vs the warm first ingest: {second['seconds'] / result['warm']['seconds']:.3f}")
    print(
        "second-run stages (s): "
        + ", ".join(f"{s} {v:.2f}" for s, v in second["stages"].items() if v >= 0.005)
    )
    print_isolated(second)
    summary.add(
        f"{name}: 2nd/1st ingest ({label})",
        f"{second['seconds']:.2f}/{first['seconds']:.2f} s = {ratio:.3f}",
        f"< {REINGEST_TARGET}" if judged else "(info)",
        verdict(ratio < REINGEST_TARGET) if judged else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 5x dump and real dump runs")
    parser.add_argument("--bare-reps", type=int, default=3, help="bare embedder repetitions")
    parser.add_argument(
        "--worker", nargs=3, metavar=("KIND", "SOURCE", "DATA"), help=argparse.SUPPRESS
    )
    parser.add_argument("--no-second", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, source, data = args.worker
        worker(kind, Path(source), Path(data), args.bare_reps, not args.no_second, args.warm_run)
        return

    started = time.perf_counter()
    summary = Summary()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; every ingest in a subprocess")
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        work = Path(tmp)
        corpus = run_worker("real", CORPUS, work / "corpus-real", args.bare_reps, warm_run=True)
        report_throughput("corpus/", corpus, summary)
        report_second("corpus/", corpus, summary, "real embedder")

        if not DUMP.is_file():
            print(f"\n(skipping the enwiki dump: {DUMP} is absent)")
        else:
            dump = dump_for_pipeline(work, summary)
            if not args.quick:
                real = run_worker("real", dump, work / "dump-real", args.bare_reps)
                report_throughput("enwiki", real, summary)
                report_second("enwiki", real, summary, "real embedder")
            hash1 = run_worker("hash", dump, work / "dump-hash-1x")
            print("\n== enwiki: peak RSS while streaming (hash embedder, 384-d, 256 tokens) ==")
            rows = [("1x", hash1)]
            if not args.quick:
                five = work / "enwiki-5x.xml.bz2"
                pages = build_repeated_dump(DUMP, five, 5)
                print(f"5x dump: {pages} pages, {five.stat().st_size / 1e6:.1f} MB bz2")
                rows.append(("5x", run_worker("hash", five, work / "dump-hash-5x", second=False)))
            for label, result in rows:
                first = result["first"]
                print(
                    f"{label}: documents {first['documents']}, chunks {first['report']['chunks']}, "
                    f"{first['seconds']:.1f} s; RSS before ingest "
                    f"{mb(result['before_kb']['VmRSS'])}, peak while streaming "
                    f"{mb(first['stream_peak_kb'])}, peak incl. publishing "
                    f"vectors {mb(first['peak_kb'])}"
                )
            if len(rows) == 2:
                one, five_x = rows[0][1]["first"], rows[1][1]["first"]
                stream_ratio = five_x["stream_peak_kb"] / one["stream_peak_kb"]
                peak_ratio = five_x["peak_kb"] / one["peak_kb"]
                ok = stream_ratio <= RSS_GROWTH_TOLERANCE
                print(
                    f"5x/1x peak while streaming {stream_ratio:.3f}, incl. publishing "
                    f"{peak_ratio:.3f} (target: no growth, <= {RSS_GROWTH_TOLERANCE}) {verdict(ok)}"
                )
                summary.add(
                    "enwiki: peak RSS streaming 1x | 5x",
                    f"{mb(one['stream_peak_kb'])} | {mb(five_x['stream_peak_kb'])} "
                    f"= {stream_ratio:.3f}",
                    f"<= {RSS_GROWTH_TOLERANCE}",
                    verdict(ok),
                )
                summary.add(
                    "enwiki: peak RSS incl. publish 1x | 5x",
                    f"{mb(one['peak_kb'])} | {mb(five_x['peak_kb'])} = {peak_ratio:.3f}",
                )
            else:
                summary.add(
                    "enwiki: peak RSS streaming 1x (hash)", mb(hash1["first"]["stream_peak_kb"])
                )
            if not args.quick:
                summary.add("enwiki: peak RSS 1x, real embedder", mb(real["first"]["peak_kb"]))
            report_second("enwiki", hash1, summary, "hash embedder", judged=False)
    summary.print()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
