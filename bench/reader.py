"""The reader `bench/train_reader.py` trains, at inference: does a passage state the answer?

Loads the bundled MiniLM, merges each LoRA adapter into its layer (W += ALPHA / RANK * b @ a),
or replaces its weights with a fully fine-tuned encoder's (`--full`), and applies the head to
the mean-pooled last hidden state. Benchmarks only: it is not shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_TOKENS = 256  # question and passage together; SQuAD chunks of <= 200 tokens fit


def reader_input(heading: str, text: str) -> str:
    """The passage as the reader sees it: its document's title, then its text."""
    return f"{heading}: {text}" if heading else text


def reader_file_problem(path: Path) -> str | None:
    """Why `path` is no reader file (one train_reader.py wrote), or None."""
    if not path.is_file():
        return f"no reader file at {path}"
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as weights:
            names = set(weights.keys())
    except (OSError, SafetensorError) as error:
        return f"{path} is not a safetensors file ({error})"
    if not {"head.weight", "head.bias"} <= names:
        return f"{path} holds no reader head (not written by train_reader.py)"
    return None


class Reader:
    """A trained reader file, ready to score (question, passage) pairs; without a file, the
    bundled MiniLM and an untrained head (where training starts)."""

    def __init__(self, adapter: Path | None) -> None:
        from index.embedder import bundled_model_path

        folder = bundled_model_path()  # sets the offline switches: before transformers loads
        import torch
        from safetensors import safe_open
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(folder))
        self.model: Any = AutoModel.from_pretrained(str(folder)).eval()
        self.head = torch.nn.Linear(self.model.config.hidden_size, 1)
        self.metadata: dict[str, str] = {}
        if adapter is None:
            return
        with safe_open(str(adapter), framework="pt") as weights:
            meta = weights.metadata() or {}
            tensors = {key: weights.get_tensor(key).float() for key in weights.keys()}  # noqa: SIM118
        self.metadata = dict(meta)
        scale = float(meta.get("alpha", 32)) / float(meta.get("rank", 16))
        whole = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        if whole:  # a fully fine-tuned encoder (train_reader --full): its weights replace all
            missing = self.model.load_state_dict(whole, strict=False).missing_keys
            if any(name.endswith(("weight", "bias")) for name in missing):
                raise ValueError(f"{adapter}: not a whole encoder (missing {missing[:3]})")
        with torch.no_grad():
            for key in [k for k in tensors if k.startswith("layer.") and k.endswith(".a")]:
                path = key[: -len(".a")]  # layer.{i}.attention.self.query
                _, index, module = path.split(".", 2)
                linear = self.model.encoder.layer[int(index)].get_submodule(module)
                linear.weight += scale * tensors[path + ".b"] @ tensors[key]
            self.head.weight.copy_(tensors["head.weight"])
            self.head.bias.copy_(tensors["head.bias"])

    def probabilities(self, question: str, passages: Sequence[str]) -> list[float]:
        """The probability that each passage states the answer to the question."""
        if not passages:
            return []
        torch = self._torch
        with torch.no_grad():
            logits = pooled_logits(
                self.tokenizer, self.model, self.head, [question] * len(passages), passages
            )
        return [float(p) for p in torch.sigmoid(logits).tolist()]


def pooled_logits(
    tokenizer: Any, model: Any, head: Any, questions: Sequence[str], passages: Sequence[str]
) -> Any:
    """The head over the mean-pooled last hidden state of each (question, passage) pair: one
    logit each, as training computes them."""
    encoded = tokenizer(list(questions), list(passages), truncation="only_second",
                        max_length=MAX_TOKENS, padding=True, return_tensors="pt")  # fmt: skip
    hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    return head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)
