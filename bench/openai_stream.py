"""OpenAI-compatible streams against a running `hearth serve`: the median time to the first
content chunk and to the end, and how many streams showed a draft that a quote then replaced.

Run it once with the server's default (answers sent once checked) and once with
HEARTH_OPENAI_STREAM_DRAFTS=true, one after the other, and compare the two:

    hearth serve --data-dir DATA --port 8011 &
    python -m bench.openai_stream http://127.0.0.1:8011 --limit 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx

QUESTIONS = Path(__file__).resolve().parents[1] / "corpus" / "questions.jsonl"


def stream_once(client: httpx.Client, question: str) -> tuple[float, float, bool]:
    """(seconds to the first content, seconds to the end, whether a draft preceded a quote)."""
    body = {"messages": [{"role": "user", "content": question}], "stream": True}
    started, first, text, replaced = time.perf_counter(), None, "", False
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            piece = (chunk.get("choices") or [{}])[0].get("delta", {}).get("content") or ""
            if piece and first is None:
                first = time.perf_counter()
            text += piece
            replaced = replaced or bool(chunk.get("quoted") and "\n\n“" in text)
    ended = time.perf_counter()
    return (first or ended) - started, ended - started, replaced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    lines = QUESTIONS.read_text().splitlines()[: args.limit]
    questions = [json.loads(line)["question"] for line in lines]
    with httpx.Client(base_url=args.url, timeout=60) as client:
        runs = [stream_once(client, q) for q in questions]
    first = statistics.median(r[0] for r in runs) * 1000
    end = statistics.median(r[1] for r in runs) * 1000
    drafts = sum(r[2] for r in runs)
    print(f"questions {len(runs)}  first content median {first:.0f} ms  "
          f"end median {end:.0f} ms  drafts shown before their quote {drafts}")  # fmt: skip


if __name__ == "__main__":
    main()
