"""Train a reader for abstention: LoRA adapters on the bundled MiniLM, from SQuAD 2.0.

    nice -n 10 .venv/bin/python bench/train_reader.py \
        --squad ../shared/eval/squad2/dev-v2.0.cs224n-subset.json \
        --squad-dir /work/eval-data/squad-articles --half test \
        --out /tmp/reader-test-half.safetensors [--pairs /tmp/reader-pairs.json]

Pairs (question, passage, does the passage state the answer) come from the service's own
retrieval over the SQuAD index `bench/eval_abstention.py` builds (every paragraph readable by
its article's group only), for the answerable questions of the chosen half of the articles:

- asked by a reader of every article: passages holding a gold answer string are positives
  (at most 2), the best passage without one a negative;
- asked without their own article (what abstention must refuse): the two best passages,
  negatives. Only passages of the same half count: a passage of the other half would never
  be a positive, and the reader would learn which articles those are instead of reading;
- SQuAD's own unanswerable questions with the paragraph they were written against: the
  hardest negatives (a plausible answer that is not one).

`--half test` trains on the articles abstention is not calibrated on, so the fit half and
corpus/questions.jsonl stay unseen. Training takes ~25 min on 2 cores. Session 10 measured such
a reader against the evidence score and did not ship it: docs/EVALUATION.md, section 3, "Also
tried (session 10)". At inference, merge each adapter into its layer (W += ALPHA / RANK * b @ a)
and apply the head to the mean-pooled last hidden state.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from app.datasets import EvalQuestion, ingest_dataset  # noqa: E402
from app.evaluation import principal_for, retrieval_settings  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.eval_abstention import half_of, squad_by_article, with_stored_pairs  # noqa: E402
from index.search import hybrid_search  # noqa: E402
from index.store import SQLiteStore  # noqa: E402

RANK, ALPHA, BATCH, LEARNING_RATE = 16, 32, 16, 5e-4
MAX_TOKENS = 256  # question and passage together; SQuAD chunks of <= 200 tokens fit
# the Linear modules of each BERT layer that carry an adapter, by their attribute path
ADAPTED = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")  # fmt: skip
Pair = tuple[str, str, int]  # question, passage as the reader sees it, label
Seen = tuple[str, str]  # a retrieved passage: its document's title, its text


def reader_input(heading: str, text: str) -> str:
    """The passage as the reader sees it: its document's title, then its text."""
    return f"{heading}: {text}" if heading else text


def states_answer(seen: Seen, gold: list[str]) -> bool:
    """Whether a retrieved passage holds one of the (lower-cased) gold answer strings."""
    return any(answer in seen[1].lower() for answer in gold)


def collect_pairs(squad: Path, squad_dir: Path, half: str) -> list[Pair]:
    """Training pairs from retrieval over the SQuAD index (built if empty)."""
    from index.embedder import SentenceTransformerEmbedder

    raw = json.loads(squad.read_text(encoding="utf-8"))["data"]
    answers = {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in raw for paragraph in article["paragraphs"] for qa in paragraph["qas"]
    }  # fmt: skip
    dataset, asked = squad_by_article(squad)
    half_titles = {
        d.title for d in dataset.documents if half in ("all", half_of(d.groups[0]))
    }  # fmt: skip
    embedder = SentenceTransformerEmbedder(None)
    store = SQLiteStore(squad_dir)
    ingest_dataset(dataset, store, embedder)
    store.open_vectors()
    every = tuple(sorted({g for d in dataset.documents for g in d.groups}))
    settings = retrieval_settings(Settings(), None)

    def search(question: EvalQuestion, groups: tuple[str, ...]) -> list[Seen]:
        principal = principal_for(replace(question, groups=groups))
        result = hybrid_search(store, embedder, [(question.question, 1.0)],
                               principal.readable_groups, settings)  # fmt: skip
        return [(p.document.title, p.chunk.text) for p in result.passages]

    pairs: list[Pair] = []
    chosen = [(q, own) for q, own in with_stored_pairs(asked) if half in ("all", half_of(own))]
    for n, (question, own) in enumerate(chosen):
        gold = [a.lower() for a in answers.get(question.id, [question.key_term])]
        inside = search(question, every)
        positives = [p for p in inside if states_answer(p, gold)][:2]
        negatives = [p for p in inside if not states_answer(p, gold)][:1]
        negatives += [
            p for p in search(question, tuple(g for g in every if g != own))
            if p[0] in half_titles and not states_answer(p, gold)
        ][:2]  # fmt: skip
        pairs += [(question.question, reader_input(*p), 1) for p in positives]
        pairs += [(question.question, reader_input(*p), 0) for p in negatives]
        if n % 200 == 0:
            print(f"searched {n}/{len(chosen)} questions", flush=True)
    store.close()
    for article in raw:
        if article["title"].replace("_", " ") not in half_titles:
            continue
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if qa.get("is_impossible"):
                    passage = reader_input(article["title"].replace("_", " "), paragraph["context"])
                    pairs.append((qa["question"], passage, 0))
    return pairs


def train(pairs: list[Pair], epochs: float, out: Path, trained_on: str) -> None:
    """LoRA on every linear layer of the bundled MiniLM plus a head over the mean-pooled
    tokens; binary cross-entropy. Saves the adapters and head (fp16 safetensors)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    from index.embedder import bundled_model_path

    torch.manual_seed(0)
    random.seed(0)
    folder = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder))
    for weight in model.parameters():
        weight.requires_grad_(False)
    adapters: dict[str, torch.nn.Parameter] = {}
    for i, layer in enumerate(model.encoder.layer):
        for path in ADAPTED:
            linear = layer.get_submodule(path)
            a = torch.nn.Parameter(torch.randn(RANK, linear.in_features) / linear.in_features**0.5)
            b = torch.nn.Parameter(torch.zeros(linear.out_features, RANK))
            adapters[f"layer.{i}.{path}.a"], adapters[f"layer.{i}.{path}.b"] = a, b

            def hook(
                module: torch.nn.Module, args: tuple[torch.Tensor], output: torch.Tensor,
                a: torch.nn.Parameter = a, b: torch.nn.Parameter = b,
            ) -> torch.Tensor:  # fmt: skip
                return output + (args[0] @ a.T @ b.T) * (ALPHA / RANK)

            linear.register_forward_hook(hook)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    params = [*adapters.values(), *head.parameters()]
    optimiser = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.01)
    steps = int(math.ceil(len(pairs) / BATCH) * epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, s / 50) * max(0.0, 1 - s / steps)
    )
    lengths = [len(q) + len(p) for q, p, _ in pairs]
    step, started, running = 0, time.time(), 0.0
    model.train()
    while step < steps:  # batches of similar length, in random order
        order = sorted(range(len(pairs)), key=lambda i: lengths[i] + random.random() * 200)
        batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        random.shuffle(batches)
        for batch in batches[: steps - step]:
            encoded = tokenizer([pairs[i][0] for i in batch], [pairs[i][1] for i in batch],
                                truncation="only_second", max_length=MAX_TOKENS, padding=True,
                                return_tensors="pt")  # fmt: skip
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            logits = head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)
            labels = torch.tensor([float(pairs[i][2]) for i in batch])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if running else loss.item()
            if step % 50 == 0:
                print(f"step {step}/{steps} loss {running:.3f} {time.time() - started:.0f} s",
                      flush=True)  # fmt: skip
    tensors = {k: v.detach().half().contiguous() for k, v in adapters.items()}
    tensors["head.weight"] = head.weight.detach().half().contiguous()
    tensors["head.bias"] = head.bias.detach().half().contiguous()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={
        "rank": str(RANK), "alpha": str(ALPHA), "base": "all-MiniLM-L6-v2",
        "trained_on": trained_on, "pairs": str(len(pairs)), "epochs": str(epochs),
    })  # fmt: skip
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) after {time.time() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD 2.0 JSON file")
    parser.add_argument(
        "--squad-dir", type=Path, required=True,
        help="data folder of the SQuAD index by article (built here if empty)",
    )  # fmt: skip
    parser.add_argument(
        "--half", choices=("test", "fit", "all"), default="test",
        help="the articles to train on (default: test, the half abstention is not fitted on)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=float, default=2.0, help="passes over the pairs")
    parser.add_argument("--out", type=Path, required=True, help="adapter file to write")
    parser.add_argument(
        "--pairs", type=Path, default=None,
        help="cache of the pairs (JSON): read if it exists, else written",
    )  # fmt: skip
    args = parser.parse_args()
    if not args.squad.is_file():
        parser.error(f"no SQuAD file at {args.squad}")
    if args.pairs and args.pairs.is_file():
        pairs = [(q, p, int(y)) for q, p, y in json.loads(args.pairs.read_text())]
    else:
        pairs = collect_pairs(args.squad, args.squad_dir, args.half)
        if args.pairs:
            args.pairs.write_text(json.dumps(pairs))
    positives = sum(label for *_, label in pairs)
    print(f"{len(pairs)} pairs, {positives} positive", flush=True)
    train(pairs, args.epochs, args.out, f"SQuAD 2.0 dev subset, {args.half} half of the articles")


if __name__ == "__main__":
    main()
