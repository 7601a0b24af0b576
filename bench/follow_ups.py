"""Conversations, measured: how follow-ups ("And in Berlin?", "By when?") fare against first
questions and against the same question asked whole.

    python -m bench.follow_ups [--conversations corpus/conversations.jsonl] [--data-dir DIR]
                               [--json OUT]

`corpus/conversations.jsonl` holds 35 conversations (105 turns) over corpus/, written by a
helper who used Hearth as an employee would (session 18): each turn's question, the answer
expected in words, the titles of the documents that hold it, whether the readable corpus
answers it, and for most follow-ups the same question asked whole ("standalone"). Each
conversation runs in-process through `RagPipeline` with the configured model (the bundled one by
default) as a public reader, one turn after another in one stored conversation; each
standalone question runs alone. Counted per turn, objectively (no judge): abstained when it
should answer, answered when it should abstain, and whether a cited source is one of the
expected documents. DIR must hold an ingest of corpus/ (without it, corpus/ is ingested into a
temporary folder first). About 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.main import close_services, load_services
from app.rag import Answer, Question
from app.settings import Settings
from index.types import Principal

ROOT = Path(__file__).resolve().parents[1]
READER = Principal("bench-follow-ups", frozenset({"public"}))


def verdict(answer: Answer, turn: dict[str, Any]) -> dict[str, Any]:
    """What can be told without a judge: abstention right or wrong, citations from where."""
    cited = {c["title"] for c in answer.citations}
    expected = turn["documents"]
    return {
        "question": turn["question"],
        "answer": answer.text,
        "abstained": answer.abstained,
        "evidence": round(answer.evidence, 3),
        "wrongly_abstained": answer.abstained and turn["answerable"],
        "should_have_abstained": not answer.abstained and not turn["answerable"],
        "cited_expected": bool(cited) and any(e in t for t in cited for e in expected),
        "unanswerable": not turn["answerable"],
        "cited": sorted(cited),
        "total_ms": answer.timings.get("total_ms"),
    }


def run(conversations: list[dict[str, Any]], data_dir: Path) -> list[dict[str, Any]]:
    services = load_services(Settings(data_dir=data_dir))
    rows: list[dict[str, Any]] = []
    try:
        for conversation in conversations:
            conversation_id = None
            for position, turn in enumerate(conversation["turns"]):
                answer = services.rag.answer(READER, Question(turn["question"], conversation_id))
                conversation_id = answer.conversation_id
                row = {"conversation": conversation["id"], "turn": position,
                       "kind": turn.get("kind"), **verdict(answer, turn)}  # fmt: skip
                if position and turn.get("standalone"):
                    alone = services.rag.answer(READER, Question(turn["standalone"]))
                    row["standalone"] = verdict(alone, {**turn, "question": turn["standalone"]})
                rows.append(row)
                print(f"{conversation['id']}.{position} {'ABST' if answer.abstained else 'ans '}"
                      f" {turn['question'][:60]!r}", flush=True)  # fmt: skip
    finally:
        close_services(services)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def counts(selected: list[dict[str, Any]]) -> dict[str, Any]:
        answerable = [r for r in selected if not r.get("unanswerable")]
        return {
            "turns": len(selected),
            "wrongly_abstained": sum(r["wrongly_abstained"] for r in selected),
            "should_have_abstained": sum(r["should_have_abstained"] for r in selected),
            "cited_an_expected_document": sum(r["cited_expected"] for r in answerable),
            "median_total_ms": statistics.median(
                [r["total_ms"] for r in selected if r["total_ms"] is not None] or [0]
            ),
        }

    substantive = [r for r in rows if r["kind"] != "social"]
    firsts = [r for r in substantive if r["turn"] == 0]
    follow_ups = [r for r in substantive if r["turn"] > 0]
    paired = [r for r in follow_ups if "standalone" in r]
    return {
        "first_turns": counts(firsts),
        "follow_ups": counts(follow_ups),
        "paired_follow_ups": counts(paired),
        "their_standalone_questions": counts([r["standalone"] for r in paired]),
        # thanks, hello, "can you say that shorter?": a cited passage is the wrong reply
        "social_turns_cited": sum(bool(r["cited"]) for r in rows if r["kind"] == "social"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=Path, default=ROOT / "corpus/conversations.jsonl")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the models are on disk: never fetch
    conversations = [json.loads(line) for line in args.conversations.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        if args.data_dir is None:
            hearth = [sys.executable, "-c", "from app.cli import main; main()"]
            ingest = ["ingest", str(ROOT / "corpus"), "--data-dir", str(data_dir)]
            subprocess.run([*hearth, *ingest], check=True)
        rows = run(conversations, data_dir)
    figures = summary(rows)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": figures, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
