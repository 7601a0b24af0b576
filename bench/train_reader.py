"""Train a reader for abstention: LoRA adapters on the bundled MiniLM, from SQuAD 2.0.

    nice -n 10 .venv/bin/python bench/train_reader.py \
        --squad ../shared/eval/squad2/dev-v2.0.cs224n-subset.json \
        --squad-dir /work/eval-data/squad-articles --half test \
        --out /tmp/reader-test-half.safetensors [--pairs /tmp/reader-pairs.json]

    # or from a separate training file (SQuAD 1.1 train), a seeded sample of its questions;
    # --squad is then only checked: no article or paragraph may be shared with it
    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python bench/train_reader.py --threads 1 \
        --squad ../shared/eval/squad2/dev-v2.0.cs224n-subset.json \
        --train-squad /work/eval-data/squad11/train-v1.1.json \
        --train-dir /work/eval-data/squad11-train --max-questions 6000 --seed 0 \
        --pairs /work/eval-data/squad11-pairs.json [--out FILE --save-every 200]

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

With `--answer-cuts` and `--question-swaps`, each positive also gives a negative that keeps
the question's words: its passage with the answer's sentences cut out, its question with a name
swapped for one the passage lacks (docs/EVALUATION.md, section 3, "Trained a third time").
`--init FILE` goes on training from a reader file.

`--half test` trains on the articles abstention is not calibrated on, so the fit half and
corpus/questions.jsonl stay unseen. `--train-squad` trains on every article of another file
instead (SQuAD 1.1 has no unanswerable questions: its negatives come from retrieval only), and
out-of-corpus negatives then come from the articles of the sampled questions. Without `--out`
only the pairs are collected (into `--pairs`).

Training on the test half takes ~25 min on 2 cores. Session 10 measured such a reader against
the evidence score and did not ship it: docs/EVALUATION.md, section 3, "Also tried (session
10)". At inference, merge each adapter into its layer (W += ALPHA / RANK * b @ a) and apply the
head to the mean-pooled last hidden state.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from app.datasets import DatasetError, EvalQuestion, ingest_dataset  # noqa: E402
from app.evaluation import principal_for, retrieval_settings  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.eval_abstention import half_of, squad_by_article, with_stored_pairs  # noqa: E402
from bench.reader import pooled_logits, reader_file_problem, reader_input  # noqa: E402
from index.search import hybrid_search  # noqa: E402
from index.sentences import sentences  # noqa: E402
from index.store import SQLiteStore  # noqa: E402
from index.terms import STOP_WORDS  # noqa: E402

RANK, ALPHA, BATCH, LEARNING_RATE = 16, 32, 16, 5e-4
FULL_LEARNING_RATE, HEAD_LEARNING_RATE = 5e-5, 1e-3  # with --full: the encoder's, the head's
# the Linear modules of each BERT layer that carry an adapter, by their attribute path
ADAPTED = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")  # fmt: skip
Pair = tuple[str, str, int]  # question, passage as the reader sees it, label
MIN_CUT_CHARS = 120  # an answer-cut negative keeps at least this much of its passage
_WORD = re.compile(r"\w+")
Seen = tuple[str, str]  # a retrieved passage: its document's title, its text


def states_answer(text: str, gold: list[str]) -> bool:
    """Whether a text holds one of the (lower-cased) gold answer strings."""
    text = text.lower()
    return any(answer in text for answer in gold)


def read_squad(path: Path) -> list[dict[str, Any]]:
    """The articles of a SQuAD-format JSON file; a one-line SystemExit if it is not one."""
    try:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        for article in articles:
            str(article["title"])
            for paragraph in article["paragraphs"]:
                str(paragraph["context"])
                for qa in paragraph["qas"]:
                    str(qa["id"]), str(qa["question"]), [a["text"] for a in qa["answers"]]
    except FileNotFoundError:
        raise SystemExit(f"no SQuAD file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SystemExit(f"{path}: not a readable JSON file ({error})") from None
    except (KeyError, TypeError) as error:
        raise SystemExit(f"{path}: not SQuAD JSON (data[].paragraphs[].qas[]: {error})") from None
    if not articles:
        raise SystemExit(f"{path}: no articles")
    return list(articles)


def unseen_questions(train: list[dict[str, Any]], held_out: Path) -> set[str]:
    """Refuse a training file that shares an article or a paragraph with the held-out file;
    returns the held-out questions' wordings (lower-cased), which training must skip."""
    held = read_squad(held_out)
    titles = {a["title"] for a in train} & {a["title"] for a in held}
    contexts = {p["context"].strip() for a in train for p in a["paragraphs"]}
    shared = sum(p["context"].strip() in contexts for a in held for p in a["paragraphs"])
    if titles or shared:
        raise SystemExit(f"the training file shares {len(titles)} article(s) and {shared} "
                         f"paragraph(s) with {held_out}: it must stay unseen")  # fmt: skip
    return {
        qa["question"].strip().lower() for a in held for p in a["paragraphs"] for qa in p["qas"]
    }


def collect_pairs(
    squad: Path, squad_dir: Path, half: str, max_questions: int | None = None, seed: int = 0,
    skip: frozenset[str] = frozenset(),
) -> list[Pair]:  # fmt: skip
    """Training pairs from retrieval over the SQuAD index (built if empty): the answerable
    questions of `half` (a seeded sample of `max_questions`), but none worded as in `skip`."""
    raw = read_squad(squad)  # a bad file is refused before the embedder's import
    from index.embedder import SentenceTransformerEmbedder

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
        # SQuAD 1.1 train percent-encodes some titles ("Jehovah%27s Witnesses")
        return [(unquote(p.document.title), p.chunk.text) for p in result.passages]

    pairs: list[Pair] = []
    chosen = [
        (q, own) for q, own in with_stored_pairs(asked)
        if half in ("all", half_of(own)) and q.question.strip().lower() not in skip
    ]  # fmt: skip
    if max_questions is not None and max_questions < len(chosen):
        picked = sorted(random.Random(seed).sample(range(len(chosen)), max_questions))
        chosen = [chosen[i] for i in picked]
    # out-of-corpus negatives only from articles that also give positives
    title_of = {d.groups[0]: d.title for d in dataset.documents}
    trained = {unquote(t) for t in half_titles & {title_of[own] for _, own in chosen}}
    print(f"{len(chosen)} questions from {len(trained)} articles", flush=True)
    started = time.time()
    for n, (question, own) in enumerate(chosen):
        gold = [a.lower() for a in answers.get(question.id, [question.key_term])]
        inside = search(question, every)
        positives = [p for p in inside if states_answer(p[1], gold)][:2]
        negatives = [p for p in inside if not states_answer(p[1], gold)][:1]
        negatives += [
            p for p in search(question, tuple(g for g in every if g != own))
            if p[0] in trained and not states_answer(p[1], gold)
        ][:2]  # fmt: skip
        pairs += [(question.question, reader_input(*p), 1) for p in positives]
        pairs += [(question.question, reader_input(*p), 0) for p in negatives]
        if n % 200 == 0:
            print(
                f"searched {n}/{len(chosen)} questions, {time.time() - started:.0f} s", flush=True
            )
    store.close()
    for article in raw:
        title = unquote(article["title"].replace("_", " "))
        if title not in trained:
            continue
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if qa.get("is_impossible") and qa["question"].strip().lower() not in skip:
                    passage = reader_input(title, paragraph["context"])
                    pairs.append((qa["question"], passage, 0))
    return pairs


def answer_cut(passage: str, title: str, gold: list[str], question: str = "") -> str | None:
    """The passage (as `reader_input` wrote it) with every sentence holding a gold answer cut
    out: a SQuAD 2.0-style negative that keeps the question's words and topic but no longer
    states the answer. None when too little is left, or the answer, or a word of it the question
    lacks, still shows ("he told Lauer" once "Matt Lauer" is cut)."""
    prefix = reader_input(title, "")
    if not passage.startswith(prefix):
        return None
    kept = [s for s in sentences(passage[len(prefix) :]) if not states_answer(s, gold)]
    rest = " ".join(kept)
    cut = reader_input(title, rest)
    asked = set(_WORD.findall(question.lower()))
    telling = {
        w for a in gold for w in _WORD.findall(a)
        if len(w) >= 4 and w not in STOP_WORDS and w not in asked
    }  # fmt: skip
    shown = telling & set(_WORD.findall(cut.lower()))
    return None if len(rest) < MIN_CUT_CHARS or shown or states_answer(cut, gold) else cut


def with_answer_cuts(pairs: list[Pair], squad: list[dict[str, Any]]) -> list[Pair]:
    """The pairs and, after each positive, its passage with the answer cut out (label 0)."""
    known: dict[str, list[tuple[str, list[str]]]] = {}
    for article in squad:
        title = unquote(article["title"].replace("_", " "))
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold = [a["text"].lower() for a in qa["answers"]]
                # the pairs hold the question as the dataset loader strips it
                known.setdefault(qa["question"].strip(), []).append((title, gold))
    out: list[Pair] = []
    for question, passage, label in pairs:
        out.append((question, passage, label))
        if not label:
            continue
        for title, gold in known.get(question, []):
            if gold and (cut := answer_cut(passage, title, gold, question)) is not None:
                out.append((question, cut, 0))
                break
    return out


_CONTENT_WORD = re.compile(r"\b[A-Za-z][A-Za-z-]{3,}\b")


def _names(question: str) -> list[re.Match[str]]:
    """A question's names: capitalised words that are not its first word nor stop words.
    (Plain words are never swapped: across parts of speech they make questions no one asks.)"""
    return [
        m for m in _CONTENT_WORD.finditer(question)
        if m.start() > 0 and m.group()[0].isupper() and m.group().lower() not in STOP_WORDS
    ]  # fmt: skip


def question_swap(question: str, passage: str, donors: list[str], rng: random.Random) -> str | None:
    """The question with one of its names the passage holds swapped for another question's
    name the passage lacks: the passage shares its topic but no longer answers it ("the Wi-Fi
    password in the Cacilhas office" against the Lisbon office's Wi-Fi). None when no name or
    donor fits."""
    text = passage.lower()
    held = [m for m in _names(question) if re.search(rf"\b{re.escape(m.group().lower())}\b", text)]
    if not held:
        return None
    word = rng.choice(held)
    for donor in rng.sample(donors, min(len(donors), 5)):
        options = [
            m.group() for m in _names(donor)
            if m.group().lower() not in text and m.group().lower() not in question.lower()
        ]  # fmt: skip
        if options:
            return question[: word.start()] + rng.choice(options) + question[word.end() :]
    return None


def with_question_swaps(pairs: list[Pair], seed: int = 0) -> list[Pair]:
    """The pairs and, after each positive, the question with a word swapped (label 0)."""
    rng = random.Random(seed)
    donors = sorted({q for q, _, label in pairs if label})
    out: list[Pair] = []
    for question, passage, label in pairs:
        out.append((question, passage, label))
        if label and (swapped := question_swap(question, passage, donors, rng)) is not None:
            out.append((swapped, passage, 0))
    return out


def with_adapters(model: Any) -> dict[str, Any]:
    """Freeze the model and give each ADAPTED linear layer of every BERT layer a LoRA adapter
    (a forward hook adding ALPHA / RANK * x a^T b^T); returns the adapters' parameters by name."""
    import torch

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
    return adapters


def save_reader(out: Path, tensors: dict[str, Any], head: Any, metadata: dict[str, str]) -> None:
    """Trained weights and the head as fp16 safetensors, written whole or not at all."""
    from safetensors.torch import save_file

    kept = {k: v.detach().half().contiguous() for k, v in tensors.items()}
    kept["head.weight"] = head.weight.detach().half().contiguous()
    kept["head.bias"] = head.bias.detach().half().contiguous()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    save_file(kept, str(partial), metadata={
        "rank": str(RANK), "alpha": str(ALPHA), "base": "all-MiniLM-L6-v2", **metadata
    })  # fmt: skip
    partial.replace(out)


def save_adapters(out: Path, adapters: dict[str, Any], head: Any, metadata: dict[str, str]) -> None:
    """LoRA adapters (`layer.{i}.{path}.a`/`.b`) and the head."""
    save_reader(out, adapters, head, {"kind": "lora", **metadata})


def save_model(out: Path, model: Any, head: Any, metadata: dict[str, str]) -> None:
    """A whole fine-tuned encoder (`model.{name}`, its floating-point weights) and the head."""
    weights = {f"model.{k}": v for k, v in model.state_dict().items() if v.is_floating_point()}
    save_reader(out, weights, head, {"kind": "full", **metadata})


def train(
    pairs: list[Pair], epochs: float, out: Path, trained_on: str, save_every: int = 0,
    learning_rate: float = LEARNING_RATE, full: bool = False, init: Path | None = None,
) -> None:  # fmt: skip
    """LoRA on every linear layer of the bundled MiniLM (or, `full`, every weight of it) plus
    a head over the mean-pooled tokens; binary cross-entropy. Saves the adapters (or the whole
    encoder) and head (fp16 safetensors), also every `save_every` steps if not 0 (the metadata
    says after how many). The head learns at HEAD_LEARNING_RATE when `full`. `init`, a reader
    file, is where training starts from (its adapters merged or its encoder, and its head);
    with `full` only: LoRA would save only the new adapters."""
    import torch

    from bench.reader import Reader

    torch.manual_seed(0)
    random.seed(0)
    start = Reader(init)  # the bundled MiniLM and a fresh head without `init`
    tokenizer, model, head = start.tokenizer, start.model, start.head
    adapters = {} if full else with_adapters(model)
    if full:
        groups = [{"params": list(model.parameters()), "lr": learning_rate},
                  {"params": list(head.parameters()), "lr": HEAD_LEARNING_RATE}]  # fmt: skip
    else:
        groups = [{"params": [*adapters.values(), *head.parameters()], "lr": learning_rate}]
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = int(math.ceil(len(pairs) / BATCH) * epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, s / 50) * max(0.0, 1 - s / steps)
    )
    lengths = [len(q) + len(p) for q, p, _ in pairs]

    def save(step: int) -> None:
        metadata = {
            "trained_on": trained_on, "pairs": str(len(pairs)), "epochs": str(epochs),
            "steps": f"{step}/{steps}", "learning_rate": str(learning_rate),
        }  # fmt: skip
        if full:
            save_model(out, model, head, metadata)
        else:
            save_adapters(out, adapters, head, metadata)

    step, started, running = 0, time.time(), 0.0
    model.train()
    while step < steps:  # batches of similar length, in random order
        order = sorted(range(len(pairs)), key=lambda i: lengths[i] + random.random() * 200)
        batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        random.shuffle(batches)
        for batch in batches[: steps - step]:
            logits = pooled_logits(tokenizer, model, head, [pairs[i][0] for i in batch],
                                   [pairs[i][1] for i in batch])  # fmt: skip
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
            if save_every and step % save_every == 0 and step < steps:
                save(step)
    save(step)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) after {time.time() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--squad", type=Path, default=None,
        help="SQuAD 2.0 JSON file; with --train-squad, the held-out set it is checked against",
    )  # fmt: skip
    parser.add_argument(
        "--squad-dir", type=Path, default=None,
        help="data folder of the SQuAD index by article (built here if empty)",
    )  # fmt: skip
    parser.add_argument(
        "--train-squad", type=Path, default=None,
        help="train on every article of this SQuAD-format file instead (e.g. SQuAD 1.1 train)",
    )  # fmt: skip
    parser.add_argument(
        "--train-dir", type=Path, default=None,
        help="data folder of the --train-squad index by article (built here if empty)",
    )  # fmt: skip
    parser.add_argument(
        "--max-questions", type=int, default=None,
        help="a random sample of this many answerable questions (default: all)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="of the --max-questions sample")
    parser.add_argument(
        "--half", choices=("test", "fit", "all"), default="test",
        help="the articles of --squad to train on (default: test, the half abstention is not "
        "fitted on; not used with --train-squad)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=float, default=2.0, help="passes over the pairs")
    parser.add_argument(
        "--out", type=Path, default=None,
        help="adapter file to write (without it, only the pairs are collected, into --pairs)",
    )  # fmt: skip
    parser.add_argument(
        "--save-every", type=int, default=0, metavar="STEPS",
        help="also write --out every STEPS steps, so a stopped run leaves an adapter",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--lr", type=float, default=None,
        help=f"peak learning rate (default: {LEARNING_RATE}, with --full {FULL_LEARNING_RATE}; "
        "50 warm-up steps, linear decay)",
    )  # fmt: skip
    parser.add_argument(
        "--full", action="store_true",
        help="fine-tune every weight of the encoder instead of LoRA adapters (a 45 MB file)",
    )  # fmt: skip
    parser.add_argument(
        "--pairs", type=Path, default=None,
        help="cache of the pairs (JSON): read if it exists, else written",
    )  # fmt: skip
    parser.add_argument(
        "--answer-cuts", action="store_true",
        help="after each positive, its passage with the answer's sentences cut out as a "
        "negative (SQuAD 2.0-style: the question's words stay, the answer goes)",
    )  # fmt: skip
    parser.add_argument(
        "--question-swaps", action="store_true",
        help="after each positive, its question with a name the passage holds swapped for "
        "another question's name the passage lacks, as a negative",
    )  # fmt: skip
    parser.add_argument(
        "--init", type=Path, default=None,
        help="a reader file to go on training from, with --full (default: the bundled MiniLM, "
        "a new head)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.train_squad is None and (args.squad is None or args.squad_dir is None):
        parser.error("give --squad and --squad-dir, or --train-squad and --train-dir")
    if args.train_squad is not None and args.train_dir is None:
        parser.error("--train-squad needs --train-dir")
    if args.out is None and args.pairs is None:
        parser.error("give --out, --pairs or both")
    if args.max_questions is not None and args.max_questions < 1:
        parser.error("--max-questions must be at least 1")
    if args.init is not None:
        if not args.full:  # LoRA on top of a reader would save only the new adapters
            parser.error("--init needs --full")
        if (problem := reader_file_problem(args.init)) is not None:
            parser.error(f"--init: {problem}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.train_squad is None:
        squad, folder, half, skip = args.squad, args.squad_dir, args.half, frozenset[str]()
        trained_on = f"SQuAD 2.0 dev subset, {args.half} half of the articles"
    else:
        held_out = (
            unseen_questions(read_squad(args.train_squad), args.squad) if args.squad else set()
        )
        squad, folder, half, skip = args.train_squad, args.train_dir, "all", frozenset(held_out)
        trained_on = f"{args.train_squad.name}, every article"
    if args.max_questions is not None:
        trained_on += f", {args.max_questions} questions sampled (seed {args.seed})"
    if args.pairs and args.pairs.is_file():
        try:
            pairs = [(q, p, int(y)) for q, p, y in json.loads(args.pairs.read_text())]
        except (OSError, ValueError, TypeError) as error:
            raise SystemExit(f"{args.pairs}: not a pairs file ({error})") from None
        print(f"read the pairs from {args.pairs}", flush=True)
    else:
        started = time.time()
        try:
            pairs = collect_pairs(squad, folder, half, args.max_questions, args.seed, skip)
        except DatasetError as error:
            raise SystemExit(str(error)) from None
        print(f"collected the pairs in {time.time() - started:.0f} s", flush=True)
        if args.pairs:
            args.pairs.parent.mkdir(parents=True, exist_ok=True)
            args.pairs.write_text(json.dumps(pairs))
    if args.answer_cuts:
        pairs = with_answer_cuts(pairs, read_squad(squad))
        trained_on += ", answer-cut negatives"
    if args.question_swaps:
        pairs = with_question_swaps(pairs, args.seed)
        trained_on += ", question-swap negatives"
    if args.init is not None:
        trained_on += f", from {args.init.name}"
    positives = sum(label for *_, label in pairs)
    print(f"{len(pairs)} pairs, {positives} positive", flush=True)
    if args.out is not None:
        rate = args.lr or (FULL_LEARNING_RATE if args.full else LEARNING_RATE)
        train(pairs, args.epochs, args.out, trained_on, args.save_every, rate, args.full,
              args.init)  # fmt: skip


if __name__ == "__main__":
    main()
