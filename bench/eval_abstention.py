r"""Abstention calibrated on data: threshold sweeps, a PNG of the curve, and a logistic check.

    nice -n 10 .venv/bin/python bench/eval_abstention.py \
        --squad ../shared/eval/squad2/dev-v2.0.cs224n-subset.json \
        --squad-dir /work/eval-data/squad-articles --corpus-dir /work/eval-data/corpus \
        [--plot docs/abstention.png] [--json OUT]

Two question sets, each searched through the service's own `hybrid_search` with the service's
settings, recording the evidence signals the threshold is compared with:

- corpus/questions.jsonl over corpus/ (ingested into --corpus-dir if empty): answerable vs the
  unanswerable questions the file marks.
- SQuAD 2.0 subset, truly out of corpus: every paragraph is indexed with its article as its only
  group, so one index serves both sides. Each answerable question is asked twice: by a reader of
  every article (in corpus: must not abstain) and by a reader of every article but its own (its
  article is absent from what it can search, the IDF statistics included: must abstain).
  Articles alternate into a fit half and a test half (sorted by title: even positions fit).

For each set: out-of-corpus abstained rate and answerable wrongly abstained rate per threshold.
The threshold is chosen on the fit half (the largest share abstained with at most 5 % wrongly
abstained) and reported on the test half and on corpus/questions.jsonl. A logistic regression
over retrieval signals (cosine, coverage and a few more) is fitted on the same fit half and
reported the same way, to see whether the two-signal score leaves anything on the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from app.datasets import (  # noqa: E402
    Dataset,
    EvalQuestion,
    check_benchmark_dir,
    ingest_dataset,
    load_questions,
    load_squad,
    with_stored_ids,
)
from app.eval_cli import unwritable  # noqa: E402
from app.evaluation import CachedQueryEmbedder, principal_for, retrieval_settings  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.exits import run_or_exit  # noqa: E402
from bench.reader import Reader, reader_file_problem, reader_input  # noqa: E402
from index.errors import HearthError  # noqa: E402
from index.protocols import Embedder  # noqa: E402
from index.search import EvidenceSignals, evidence_signals, fts_query, hybrid_search  # noqa: E402
from index.store import SQLiteStore  # noqa: E402
from index.terms import query_terms  # noqa: E402
from ingest.pipeline import IngestOptions, Ingestor  # noqa: E402

MAX_WRONG = 0.05
GRID = [round(i * 0.01, 2) for i in range(101)]


@dataclass
class Sample:
    """One question asked: whether it should be answered, and the signals retrieval produced."""

    answerable: bool
    split: str  # "fit", "test" or "corpus"
    features: dict[str, float]
    question: str = ""
    passages: list[str] = field(default_factory=list)  # as a reader sees them, best first


def article_group(index: int) -> str:
    return f"article-{index:02d}"


def half_of(group: str) -> str:
    """The half an article's group belongs to: articles sorted by title alternate fit, test."""
    return "fit" if int(group.rsplit("-", 1)[1]) % 2 == 0 else "test"


def squad_by_article(path: Path) -> tuple[Dataset, list[tuple[EvalQuestion, str]]]:
    """The SQuAD dataset with each paragraph readable by its article's group only, and every
    answerable question with its article's group."""
    dataset = load_squad(path)
    titles = sorted({doc.id.rsplit("#", 1)[0] for doc in dataset.documents})
    group_of = {title: article_group(i) for i, title in enumerate(titles)}
    documents = [
        replace(doc, groups=(group_of[doc.id.rsplit("#", 1)[0]],)) for doc in dataset.documents
    ]
    grouped = Dataset(f"{dataset.name}-by-article", documents, dataset.questions)
    asked = [
        (q, group_of[q.expected_documents[0].rsplit("#", 1)[0]])
        for q in dataset.questions
        if q.answerable
    ]
    return grouped, asked


def ask(
    store: SQLiteStore, embedder: Embedder, settings: Settings, question: EvalQuestion,
    answerable: bool, split: str, reader: Reader | None,
) -> Sample:  # fmt: skip
    """One question asked: its retrieval's signals and passages, and with a reader its
    support."""
    features, seen = signals(store, embedder, settings, question)
    sample = Sample(answerable, split, features, question.question, seen)
    if reader is not None:
        add_support(sample, reader)
    return sample


READ = (0.40, 0.70)  # the evidence band every reader rule below looks at support in


def add_support(sample: Sample, reader: Reader) -> None:
    """The reader's support: the highest probability it gives one of the sample's passages;
    read only where a rule uses it (evidence in READ), NaN elsewhere, a quarter of the work."""
    if not READ[0] <= sample.features["evidence"] < READ[1]:
        sample.features["support"] = math.nan
        return
    probabilities = reader.probabilities(sample.question, sample.passages)
    sample.features["support"] = max(probabilities, default=0.0)


def signals(
    store: SQLiteStore, embedder: Embedder, settings: Settings, question: EvalQuestion
) -> tuple[dict[str, float], list[str]]:
    """The service's retrieval for a first question, signals about how well it matched, and
    its passages as a reader sees them."""
    groups = principal_for(question).readable_groups
    text = question.question
    result = hybrid_search(
        store, embedder, [(text, 1.0)], groups, retrieval_settings(settings, None)
    )
    vector = embedder.embed_query(text)
    # the retrieval's sentences were scored against this same question: not embedded again
    s = evidence_signals(store, result.passages, text, vector, groups, list(result.sentences))
    ids = [p.chunk.id for p in result.passages if p.chunk.id is not None]
    cosines = sorted((store.embeddings(ids) @ vector).tolist(), reverse=True) if ids else [0.0]
    lexical = store.lexical_search(fts_query(text), groups, 1)
    dense = store.dense_search(vector, groups, 1)
    agree = float(bool(lexical and dense and lexical[0].document.id == dense[0].document.id))
    terms = query_terms(text)
    features = {
        "evidence": s.score,
        "cosine": s.cosine,
        "coverage": s.coverage,
        "cosine_gap": cosines[0] - float(np.mean(cosines)),
        "top_agree": agree,
        "terms": float(len(terms)),
    }
    return features, [reader_input(p.document.title, p.chunk.text) for p in result.passages]


def sweep(samples: Sequence[Sample], feature: str = "evidence") -> list[dict[str, float]]:
    """Per threshold: share of unanswerable abstained, share of answerable wrongly abstained."""
    good = np.array([s.features[feature] for s in samples if s.answerable])
    bad = np.array([s.features[feature] for s in samples if not s.answerable])
    return [
        {
            "threshold": t,
            "out_of_corpus_abstained": float(np.mean(bad < t)) if bad.size else math.nan,
            "answerable_abstained": float(np.mean(good < t)) if good.size else math.nan,
        }
        for t in GRID
    ]


def choose(curve: Sequence[dict[str, float]]) -> dict[str, float]:
    """The point abstaining on the most out-of-corpus questions with <= MAX_WRONG wrong."""
    allowed = [p for p in curve if p["answerable_abstained"] <= MAX_WRONG]
    return max(allowed, key=lambda p: (p["out_of_corpus_abstained"], -p["threshold"]))


def at(curve: Sequence[dict[str, float]], threshold: float) -> dict[str, float]:
    return min(curve, key=lambda p: abs(p["threshold"] - threshold))


def logistic(fit: Sequence[Sample], names: Sequence[str]) -> Any:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[s.features[n] for n in names] for s in fit])
    y = np.array([s.answerable for s in fit])
    return LogisticRegression(C=10.0, max_iter=1000).fit(x, y)


GREY = (0.45, 0.70)  # the evidence band where abstention's mistakes are (within READ)


def grey_auc(samples: Sequence[Sample], feature: str) -> float:
    """How well a feature separates answerable from out-of-corpus questions in the grey zone."""
    from sklearn.metrics import roc_auc_score

    grey = [s for s in samples if GREY[0] <= s.features["evidence"] < GREY[1]]
    labels = [s.answerable for s in grey]
    if len(set(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, [s.features[feature] for s in grey]))


def show_rates(title: str, points: dict[str, dict[str, float]]) -> None:
    """A rule's title, then its two rates on each question set."""
    print(title)
    for name, point in points.items():
        print(f"  {name:7} abstained out-of-corpus {point['out_of_corpus_abstained']:.3f}  "
              f"answerable wrongly {point['answerable_abstained']:.3f}")  # fmt: skip


def rates(samples: Sequence[Sample], abstains: Sequence[bool]) -> dict[str, float]:
    bad = [a for s, a in zip(samples, abstains, strict=True) if not s.answerable]
    good = [a for s, a in zip(samples, abstains, strict=True) if s.answerable]
    return {
        "out_of_corpus_abstained": float(np.mean(bad)) if bad else math.nan,
        "answerable_abstained": float(np.mean(good)) if good else math.nan,
    }


def reader_rules(by_split: dict[str, list[Sample]], threshold: float) -> dict[str, Any]:
    """The reader's support beside the evidence: grey-zone AUCs, then two rules, each chosen on
    the fit half (most abstained with <= MAX_WRONG wrong) and reported on every split:
    in an evidence band, abstain when support < t (else the evidence threshold decides); and a
    logistic regression over evidence and logit(support) fitted on the fit half's band."""
    report: dict[str, Any] = {"grey_zone": list(GREY), "auc": {}, "band": {}, "logistic": {}}
    for name, group in by_split.items():
        report["auc"][name] = {f: grey_auc(group, f) for f in ("support", "evidence")}
        print(f"  {name:7} grey-zone AUC: support {report['auc'][name]['support']:.3f}, "
              f"evidence {report['auc'][name]['evidence']:.3f}")  # fmt: skip

    def band_rule(group: Sequence[Sample], lo: float, hi: float, t: float) -> list[bool]:
        return [
            s.features["support"] < t if lo <= s.features["evidence"] < hi
            else s.features["evidence"] < threshold
            for s in group
        ]  # fmt: skip

    best: tuple[float, float, float, float] | None = None  # abstained, lo, hi, t
    for lo in (READ[0], 0.45, 0.50):
        for hi in (0.55, 0.60, 0.65, READ[1]):
            for t in GRID:
                r = rates(by_split["fit"], band_rule(by_split["fit"], lo, hi, t))
                if r["answerable_abstained"] <= MAX_WRONG and (
                    best is None or r["out_of_corpus_abstained"] > best[0]
                ):
                    best = (r["out_of_corpus_abstained"], lo, hi, t)
    if best is not None:
        _, lo, hi, t = best
        report["band"] = {"band": [lo, hi], "support_below": t, **{
            name: rates(group, band_rule(group, lo, hi, t)) for name, group in by_split.items()
        }}  # fmt: skip
        show_rates(f"reader band {lo}-{hi}, abstain when support < {t}:",
                   {name: report["band"][name] for name in by_split})  # fmt: skip

    from sklearn.linear_model import LogisticRegression

    def row(s: Sample) -> list[float]:
        p = min(max(s.features["support"], 1e-4), 1 - 1e-4)
        return [s.features["evidence"], math.log(p / (1 - p))]

    lo, hi = READ
    for c in (10.0, 0.1):
        band = [s for s in by_split["fit"] if lo <= s.features["evidence"] < hi]
        model = LogisticRegression(C=c, max_iter=1000).fit(
            np.array([row(s) for s in band]), np.array([s.answerable for s in band])
        )

        def rule(group: Sequence[Sample], cut: float, model: Any = model) -> list[bool]:
            return [
                float(model.predict_proba(np.array([row(s)]))[0, 1]) < cut
                if lo <= s.features["evidence"] < hi else s.features["evidence"] < threshold
                for s in group
            ]  # fmt: skip

        fit = by_split["fit"]
        points = [{**rates(fit, rule(fit, cut)), "threshold": cut} for cut in GRID]
        cut = choose(points)["threshold"]
        key = f"C={c}"
        report["logistic"][key] = {
            "band": [lo, hi], "cut": cut,
            "coefficients": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]),
            **{name: rates(group, rule(group, cut)) for name, group in by_split.items()},
        }  # fmt: skip
        show_rates(f"reader logistic (evidence, logit support) in {lo}-{hi}, {key}, cut {cut}:",
                   {name: report["logistic"][key][name] for name in by_split})  # fmt: skip
    return report


def positive(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not at least 1")
    return number


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="One of:\n"
        "  --squad FILE --squad-dir DIR --corpus-dir DIR   search both sets and measure\n"
        "  --samples FILE                                  re-analyse an earlier --json\n"
        "  --squad FILE --questions-out FOLDER             write questions files, stop\n"
        "with --plot, --json and --limit as wanted.",
    )
    parser.add_argument("--squad", type=Path, metavar="FILE",
                        help="a SQuAD 2.0 JSON file (default: none)")  # fmt: skip
    parser.add_argument(
        "--squad-dir",
        type=Path,
        metavar="DIR",
        help="with --squad: the SQuAD paragraphs' own index folder, made or reused (one holding "
        "other documents is refused; default: none)",
    )
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        metavar="DIR",
        help="with --squad: an index of corpus/, ingested when it is empty (default: none)",
    )
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="draw the curves to this PNG file (default: none)")  # fmt: skip
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="write the report and every sample to OUT, for --samples (default: none)",
    )
    parser.add_argument(
        "--limit",
        type=positive,
        default=None,
        metavar="N",
        help="ask about N SQuAD questions, evenly spread over the articles (default: all)",
    )
    parser.add_argument(
        "--reader",
        type=Path,
        default=None,
        metavar="ADAPTER",
        help="also score every question's passages with a reader bench/train_reader.py wrote "
        "(with --samples: the passages that run saved), and report rules combining its "
        "support with the evidence (default: none)",
    )
    parser.add_argument(
        "--questions-out",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="with --squad: write the SQuAD questions as questions files for `hearth eval` into "
        "FOLDER, and stop (default: none)",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        metavar="FILE",
        help="re-analyse the samples of an earlier --json without searching (default: none)",
    )
    args = parser.parse_args(argv)
    if args.questions_out and not args.squad:
        parser.error("--questions-out needs --squad")
    if not (args.samples or args.questions_out) and not (
        args.squad and args.squad_dir and args.corpus_dir
    ):
        parser.error("give --squad, --squad-dir and --corpus-dir (or --samples)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """The run, with one line and exit code 2 (as `hearth eval`) for input it cannot use."""
    run_or_exit(run, parse_args(argv))


def load_samples(path: Path) -> list[Sample]:
    """The samples an earlier --json wrote, the evidence recomputed from its two signals."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["samples"]
        samples = [
            Sample(x["answerable"], x["split"], x["features"], str(x.get("question", "")),
                   [str(p) for p in x.get("passages", [])])
            for x in saved
        ]  # fmt: skip
        for sample in samples:  # the score as the code defines it now, from its two signals
            f = sample.features
            f["evidence"] = EvidenceSignals(f["cosine"], f["coverage"]).score
    except (ValueError, KeyError, TypeError):
        raise HearthError(
            f"{path}: not an eval_abstention samples file (one written by its --json)"
        ) from None
    if not samples:
        raise HearthError(f"{path}: holds no samples")
    return samples


def run(args: argparse.Namespace) -> None:
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and (reason := unwritable(path)) is not None:
            raise HearthError(f"{option}: {reason}")
    if args.reader is not None and not args.reader.is_file():
        raise HearthError(f"--reader: no adapter file at {args.reader}")
    if args.reader is not None and (problem := reader_file_problem(args.reader)) is not None:
        raise HearthError(f"--reader: {problem}")  # before a long search, not after
    settings = Settings()
    if args.questions_out:
        write_questions(args.squad, args.questions_out, args.limit)
        return
    # --samples: the signals of an earlier run, re-analysed without searching again
    samples = load_samples(args.samples) if args.samples else collect(args, settings)
    if args.samples and args.reader:  # the saved passages, read again by this reader
        reader = Reader(args.reader)
        if not all(s.passages or s.features["evidence"] == 0 for s in samples):
            raise HearthError(f"{args.samples}: written without passages: search again")
        for n, sample in enumerate(samples):
            add_support(sample, reader)
            if n % 500 == 0:
                print(f"read {n}/{len(samples)} samples' passages", flush=True)

    report: dict[str, Any] = {"counts": {}, "curves": {}, "chosen": {}, "logistic": {}}
    by_split = {name: [s for s in samples if s.split == name] for name in ("fit", "test", "corpus")}
    for name, group in by_split.items():
        report["counts"][name] = {
            "answerable": sum(s.answerable for s in group),
            "out_of_corpus": sum(not s.answerable for s in group),
        }
        report["curves"][name] = sweep(group)
    chosen = choose(report["curves"]["fit"])
    report["chosen"] = {
        "threshold": chosen["threshold"],
        **{name: at(report["curves"][name], chosen["threshold"]) for name in by_split},
        "current": {
            name: at(report["curves"][name], settings.abstain_threshold) for name in by_split
        },
    }
    print(json.dumps(report["counts"]))
    show_rates(
        f"evidence threshold chosen on fit: {chosen['threshold']}",
        {name: at(report["curves"][name], chosen["threshold"]) for name in by_split},
    )

    for names in (["cosine", "coverage"],
                  ["cosine", "coverage", "cosine_gap", "top_agree", "terms"]):  # fmt: skip
        model = logistic(by_split["fit"], names)
        for s in samples:
            row = np.array([[s.features[n] for n in names]])
            s.features["p_" + "+".join(names)] = float(model.predict_proba(row)[0, 1])
        key = "p_" + "+".join(names)
        curves = {name: sweep(group, key) for name, group in by_split.items()}
        pick = choose(curves["fit"])
        report["logistic"][key] = {
            "coefficients": dict(zip(names, model.coef_[0].tolist(), strict=True)),
            "intercept": float(model.intercept_[0]),
            "threshold": pick["threshold"],
            **{name: at(curves[name], pick["threshold"]) for name in by_split},
        }
        show_rates(f"logistic {key}: threshold {pick['threshold']}",
                   {name: at(curves[name], pick["threshold"]) for name in by_split})  # fmt: skip

    if all("support" in s.features for s in samples):
        report["reader"] = reader_rules(by_split, chosen["threshold"])

    if args.plot:
        plot(report, args.plot, settings.abstain_threshold)
    if args.json:
        report["samples"] = [s.__dict__ for s in samples]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")


def collect(args: argparse.Namespace, settings: Settings) -> list[Sample]:
    """Search every question of both sets and record its signals."""
    from index.embedder import SentenceTransformerEmbedder

    # the SQuAD index must hold nothing else: checked before the long corpus half
    dataset, asked = squad_by_article(args.squad)
    store = SQLiteStore(args.squad_dir)
    check_benchmark_dir(store, dataset)
    embedder = cast(Embedder, CachedQueryEmbedder(SentenceTransformerEmbedder(None)))
    reader = Reader(args.reader) if args.reader else None
    samples: list[Sample] = []
    # corpus/questions.jsonl over corpus/
    corpus = SQLiteStore(args.corpus_dir)
    if not corpus.stats().get("documents"):
        Ingestor(corpus, embedder).run([ROOT / "corpus"], IngestOptions())
    corpus.open_vectors()
    for q in load_questions(ROOT / "corpus" / "questions.jsonl"):
        samples.append(ask(corpus, embedder, settings, q, q.answerable, "corpus", reader))
    corpus.close()

    # SQuAD, each article once in corpus and once left out
    ingest_dataset(dataset, store, embedder)
    store.open_vectors()
    every = tuple(sorted({g for d in dataset.documents for g in d.groups}))
    if args.limit:  # evenly spread over the articles
        asked = asked[:: max(1, len(asked) // args.limit)]
    for question, own in with_stored_pairs(asked):
        split = half_of(own)
        inside = replace(question, groups=every)
        outside = replace(question, groups=tuple(g for g in every if g != own))
        samples.append(ask(store, embedder, settings, inside, True, split, reader))
        samples.append(ask(store, embedder, settings, outside, False, split, reader))
    store.close()

    return samples


def write_questions(squad: Path, folder: Path, limit: int | None = None) -> None:
    """squad-in-corpus.jsonl (answerable, asked by a reader of every article) and
    squad-left-out.jsonl (the same questions, unanswerable, asked without their own article),
    for `hearth eval FILE --data-dir` over the index this script builds."""
    dataset, asked = squad_by_article(squad)
    if limit:  # evenly spread over the articles
        asked = asked[:: max(1, len(asked) // limit)]
    every = sorted({g for d in dataset.documents for g in d.groups})
    folder.mkdir(parents=True, exist_ok=True)
    with (
        (folder / "squad-in-corpus.jsonl").open("w") as inside,
        (folder / "squad-left-out.jsonl").open("w") as outside,
    ):
        for q, own in with_stored_pairs(asked):
            row = {"id": q.id, "question": q.question, "key_term": q.key_term}
            inside.write(json.dumps({**row, "expected_documents": list(q.expected_documents),
                                     "answerable": True, "groups": every}) + "\n")  # fmt: skip
            others = [g for g in every if g != own]
            outside.write(json.dumps({**row, "expected_documents": [], "answerable": False,
                                      "groups": others}) + "\n")  # fmt: skip
    print(
        f"wrote {len(asked)} questions to {folder}/squad-in-corpus.jsonl and squad-left-out.jsonl"
    )


def with_stored_pairs(asked: list[tuple[EvalQuestion, str]]) -> list[tuple[EvalQuestion, str]]:
    stored = with_stored_ids([q for q, _ in asked])
    return [(q, group) for q, (_, group) in zip(stored, asked, strict=True)]


def plot(report: dict[str, Any], path: Path, current: float) -> None:
    """Both rates against the evidence threshold, one colour per question set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    labels = {"fit": "SQuAD fit half", "test": "SQuAD test half", "corpus": "corpus/questions"}
    colours = {"fit": "tab:blue", "test": "tab:green", "corpus": "tab:red"}
    for name, curve in report["curves"].items():
        ts = [p["threshold"] for p in curve]
        ax.plot(ts, [p["out_of_corpus_abstained"] for p in curve], color=colours[name],
                label=f"{labels[name]}: out of corpus abstained")  # fmt: skip
        ax.plot(ts, [p["answerable_abstained"] for p in curve], color=colours[name],
                linestyle="--", label=f"{labels[name]}: answerable wrongly abstained")  # fmt: skip
    ax.axvline(current, color="black", linewidth=1, label=f"default {current:.2f}")
    ax.axhline(0.95, color="grey", linewidth=0.5, linestyle=":")
    ax.axhline(0.05, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xlabel("abstain when evidence < threshold")
    ax.set_ylabel("share of questions")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("Abstention by evidence (hybrid retrieval, MiniLM + FTS5)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


if __name__ == "__main__":
    main()
