"""The readable tables `hearth eval` prints: retrieval, abstention by evidence, full answers,
and which questions missed (the --json file holds every figure and row)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.evaluation import NDCG_K, EvalReport, hit_at_k
from ingest.cli import plural


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _share(value: float | None, part: int, whole: int) -> str:
    return f"{_fmt(value)}  ({part}/{whole})" if value is not None else "-"


def print_report(report: EvalReport, console: Console) -> None:
    """The readable tables: retrieval, abstention by evidence, and answers when measured."""
    r = report.retrieval
    table = _table(f"Retrieval ({plural(r['questions'], 'answerable question')}, document-level)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k in report.ks:
        table.add_row(f"hit@{k}", _fmt(r[f"hit@{k}"]))
    for k in report.ks:
        table.add_row(f"recall@{k}", _fmt(r[f"recall@{k}"]))
    table.add_row("MRR", _fmt(r["mrr"]))
    table.add_row(f"nDCG@{NDCG_K}", _fmt(r[f"ndcg@{NDCG_K}"]))
    latency = f"{_fmt(r['retrieval_ms_median'], 1)} / {_fmt(r['retrieval_ms_p95'], 1)}"
    table.add_row("search ms (median / p95)", latency)
    console.print(table)

    a = report.abstention
    if a["unanswerable"]:
        table = _table(
            f"Abstention by evidence alone ({a['unanswerable']} unanswerable, "
            f"{a['answerable']} answerable)"
        )
        table.caption = "Hearth abstains when a question's evidence is below the threshold."
        table.add_column("threshold", justify="right")
        table.add_column("unanswerable abstained", justify="right")
        table.add_column("answerable wrongly abstained", justify="right")
        for point in a["curve"]:
            current = point["threshold"] == a["threshold"]
            table.add_row(
                f"{point['threshold']:.2f}{' (current)' if current else ''}",
                _share(point["unanswerable_abstained"], point["unanswerable_abstained_count"],
                       a["unanswerable"]),
                _share(point["answerable_abstained"], point["answerable_abstained_count"],
                       a["answerable"]),
                style="bold" if current else None,
            )  # fmt: skip
        console.print(table)

    s = report.answers
    if s is None:
        _print_misses(report, console)
        return
    table = _table(f"Full answers ({plural(s['questions'], 'question')})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    true_abstentions = s["abstained_unanswerable"]
    rows = [
        ("abstention precision", _share(s["abstention_precision"], true_abstentions,
                                        s["abstained"])),
        ("abstention recall (unanswerable)", _share(s["abstention_recall"], true_abstentions,
                                                    s["unanswerable"])),
        ("abstention F1", _fmt(s["abstention_f1"])),
        ("false abstentions (answerable)", _share(s["false_abstention_rate"],
                                                  s["false_abstentions"], s["answerable"])),
        ("citation precision", _share(s["citation_precision"], s["citations_from_expected"],
                                      s["citations"])),
        ("  of the model's own answers", _share(s["model_citation_precision"],
                                                s["model_citations_from_expected"],
                                                s["model_citations"])),
        ("  of quotes", _share(s["quoted_citation_precision"],
                               s["quoted_citations_from_expected"], s["quoted_citations"])),
        ("answers with citations", str(s["answers_with_citations"])),
        ("answered without citations", str(s["answered_without_citations"])),
        ("quoted instead of the model's answer", str(s["answers_quoted"])),
        ("key-term match", _share(s["key_term_match_rate"], s["key_term_matches"],
                                  s["key_term_questions"])),
        ("  model's cited answers without it", _share(s["model_cited_without_key_term_rate"],
                                                       s["model_cited_without_key_term"],
                                                       s["model_cited_answers"])),
        ("TTFT ms (median / p95)", f"{_fmt(s['ttft_ms_median'], 0)} / "
                                   f"{_fmt(s['ttft_ms_p95'], 0)}  (n={s['ttft_count']})"),
        ("total ms (median / p95)", f"{_fmt(s['total_ms_median'], 0)} / "
                                    f"{_fmt(s['total_ms_p95'], 0)}"),
        ("errors", str(s["errors"])),
    ]  # fmt: skip
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    _print_misses(report, console)


def _table(title: str) -> Table:
    """A table whose title is not folded into the width of its two narrow columns."""
    return Table(title=title, title_justify="left", min_width=len(title))


MISSES_SHOWN = 10


def _print_misses(report: EvalReport, console: Console) -> None:
    """Which questions missed, by name (the --json file has every row): answerable ones whose
    expected documents are not in the top k, and with answers, those wrongly refused."""
    k, threshold = min(report.ks), report.settings.abstain_threshold
    answerable = [row for row in report.rows if row.question.answerable]
    unanswerable = [row for row in report.rows if not row.question.answerable]
    groups = [(f"answerable, expected document not in the top {k}", [
        row for row in answerable
        if not hit_at_k(row.ranking(k), row.question.expected_documents, k)
    ])]  # fmt: skip
    if report.answers is None:  # what the evidence alone would do at the threshold
        groups += [
            ("answerable, evidence below the threshold",
             [row for row in answerable if row.evidence < threshold]),
            ("unanswerable, evidence at or above the threshold",
             [row for row in unanswerable if row.evidence >= threshold]),
        ]  # fmt: skip
    else:
        groups += [
            ("answerable, but abstained",
             [row for row in answerable if row.answer is not None and row.answer.abstained]),
            ("unanswerable, but answered",
             [row for row in unanswerable if row.answer is not None and not row.answer.abstained]),
        ]  # fmt: skip
    for label, rows in groups:
        if not rows:
            continue
        console.print(f"[bold]{label}[/] ({len(rows)}):")
        for row in rows[:MISSES_SHOWN]:
            console.print(f"  {escape(row.question.id)}: {escape(row.question.question)}")
        if len(rows) > MISSES_SHOWN:
            console.print(f"  … and {len(rows) - MISSES_SHOWN} more (see --json)")
