"""The benchmark reader: the adapter file training writes scores as training computed, and the
rules `bench/eval_abstention.py --reader` reports are chosen on the fit half alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.eval_abstention import Sample, main, reader_rules


def _sample(answerable: bool, split: str, evidence: float, support: float) -> Sample:
    return Sample(answerable, split, {"evidence": evidence, "support": support})


def test_reader_rules_use_support_in_the_grey_zone_chosen_on_fit() -> None:
    by_split: dict[str, list[Sample]] = {"fit": [], "test": [], "corpus": []}
    for split in by_split:
        for i in range(20):  # all in the grey zone, where the evidence cannot tell them apart
            evidence = 0.50 + (i % 10) / 100
            by_split[split].append(_sample(True, split, evidence, 0.8))
            by_split[split].append(_sample(False, split, evidence, 0.1))
    report = reader_rules(by_split, threshold=0.52)
    assert report["auc"]["fit"]["support"] == 1.0
    assert report["auc"]["fit"]["evidence"] == 0.5
    assert 0.1 < report["band"]["support_below"] <= 0.8
    for split in by_split:  # what fit chose carries over to the other splits
        assert report["band"][split] == {
            "out_of_corpus_abstained": 1.0,
            "answerable_abstained": 0.0,
        }
        assert report["logistic"]["C=10.0"][split]["out_of_corpus_abstained"] == 1.0


def test_reader_rules_cannot_be_tuned_on_the_held_out_sets() -> None:
    """Support that separates only corpus/ gives corpus/ nothing: the rule is fitted on fit."""
    by_split: dict[str, list[Sample]] = {"fit": [], "test": [], "corpus": []}
    for split in by_split:
        for i in range(20):
            good, bad = (0.9, 0.1) if split == "corpus" else (0.5, 0.5)
            by_split[split].append(_sample(True, split, 0.55 + i / 1000, good))
            by_split[split].append(_sample(False, split, 0.55 + i / 1000, bad))
    report = reader_rules(by_split, threshold=0.52)
    assert report["band"]["corpus"]["out_of_corpus_abstained"] == 0.0


def test_missing_reader_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.safetensors"
    with pytest.raises(SystemExit) as exited:
        main(["--samples", str(tmp_path / "s.json"), "--reader", str(missing)])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: --reader: no adapter file at {missing}"
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a reader")
    with pytest.raises(SystemExit) as exited:
        main(["--samples", str(tmp_path / "s.json"), "--reader", str(garbage)])
    assert exited.value.code == 2
    assert "--reader: " in (err := capsys.readouterr().err) and "not a safetensors file" in err


def test_reader_merges_adapters_as_training_applies_them(tmp_path: Path) -> None:
    """The merged weights (W += ALPHA / RANK * b a) give the probabilities the training hooks
    give, so a reader scores as it was trained."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModel, AutoTokenizer

    from bench.reader import Reader, pooled_logits
    from bench.train_reader import save_adapters, with_adapters
    from index.embedder import bundled_model_path

    torch.manual_seed(1)
    folder = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    adapters = with_adapters(model)
    with torch.no_grad():
        for name, weight in adapters.items():
            if name.endswith(".b"):
                weight.copy_(torch.randn_like(weight) * 0.02)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    with torch.no_grad():  # logits of a few units, where probabilities still differ
        head.weight.mul_(20.0)
    question = "When did the ferry leave?"
    passages = ["Ferry: It left at noon on Monday.", "Trains: The office opens at eight."]
    with torch.no_grad():
        expected = torch.sigmoid(pooled_logits(tokenizer, model, head, [question] * 2, passages))
        plain = AutoModel.from_pretrained(str(folder)).eval()  # no adapters: must differ
        unadapted = torch.sigmoid(pooled_logits(tokenizer, plain, head, [question] * 2, passages))
    out = tmp_path / "reader.safetensors"
    save_adapters(out, adapters, head, {"trained_on": "a test"})
    reader = Reader(out)
    got = reader.probabilities(question, passages)
    assert reader.metadata["trained_on"] == "a test"
    assert got == pytest.approx(expected.tolist(), abs=0.01)
    assert max(abs(a - b) for a, b in zip(got, unadapted.tolist(), strict=True)) > 0.02
    assert reader.probabilities(question, []) == []


def test_saved_passages_are_read_again_by_a_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--samples FILE --reader ADAPTER` scores a checkpoint without searching again."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModel

    from bench.train_reader import save_adapters, with_adapters
    from index.embedder import bundled_model_path

    model = AutoModel.from_pretrained(str(bundled_model_path()))
    adapter = tmp_path / "reader.safetensors"
    save_adapters(adapter, with_adapters(model), torch.nn.Linear(384, 1), {})
    rows = [
        {"answerable": answerable, "split": split, "question": "When did the ferry leave?",
         "passages": ["Ferry: It left at noon."] if answerable else ["Trains: Opens at 8."],
         "features": {"cosine": 0.5 + i / 100, "coverage": 0.6, "cosine_gap": 0.1,
                      "top_agree": 1.0, "terms": 3.0}}
        for split in ("fit", "test", "corpus") for answerable in (True, False) for i in range(3)
    ]  # fmt: skip
    sure = {**rows[0], "features": {**rows[0]["features"], "cosine": 0.95, "coverage": 1.0}}
    samples = tmp_path / "samples.json"
    samples.write_text(json.dumps({"samples": [*rows, sure]}))
    out = tmp_path / "out.json"
    main(["--samples", str(samples), "--reader", str(adapter), "--json", str(out)])
    report = json.loads(out.read_text())
    *supports, unread = [s["features"]["support"] for s in report["samples"]]
    assert len(supports) == 18 and all(0 < p < 1 for p in supports)
    assert unread != unread  # NaN: far above the band any rule reads support in
    assert len(set(supports)) == 2  # one per passage: read, not made up
    assert set(report["reader"]["auc"]) == {"fit", "test", "corpus"}
    assert "grey-zone AUC: support" in capsys.readouterr().out
    for row in rows:
        del row["passages"]
    samples.write_text(json.dumps({"samples": rows}))
    with pytest.raises(SystemExit) as exited:
        main(["--samples", str(samples), "--reader", str(adapter)])
    assert exited.value.code == 2
    assert "written without passages: search again" in capsys.readouterr().err


def test_a_fully_fine_tuned_reader_scores_as_it_was_saved(tmp_path: Path) -> None:
    """`train_reader --full` saves the whole encoder; the reader loads it in place of the
    bundled weights (any weight left out would be the bundled one: refused)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel, AutoTokenizer

    from bench.reader import Reader, pooled_logits
    from bench.train_reader import save_model
    from index.embedder import bundled_model_path

    torch.manual_seed(2)
    folder = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        for layer in model.encoder.layer:  # as if trained: every layer moved
            layer.output.dense.weight.add_(torch.randn_like(layer.output.dense.weight) * 0.05)
        head = torch.nn.Linear(model.config.hidden_size, 1)
        head.weight.mul_(20.0)
    question, passages = "Who won?", ["Cup: The reds won the cup.", "Weather: It rained."]
    with torch.no_grad():
        expected = torch.sigmoid(pooled_logits(tokenizer, model, head, [question] * 2, passages))
        plain = AutoModel.from_pretrained(str(folder)).eval()
        bundled = torch.sigmoid(pooled_logits(tokenizer, plain, head, [question] * 2, passages))
    assert max(abs(a - b) for a, b in zip(expected.tolist(), bundled.tolist(), strict=True)) > 0.02
    out = tmp_path / "full.safetensors"
    save_model(out, model, head, {"trained_on": "a test"})
    reader = Reader(out)
    assert reader.metadata["kind"] == "full"
    assert reader.probabilities(question, passages) == pytest.approx(expected.tolist(), abs=0.01)
    partial = {k: v for k, v in load_file(str(out)).items() if "layer.5." not in k}
    save_file(partial, str(out), metadata=reader.metadata)
    with pytest.raises(ValueError, match="not a whole encoder"):
        Reader(out)


def test_an_answer_cut_keeps_the_topic_and_drops_the_answer() -> None:
    """SQuAD 2.0-style negatives: the positive passage without the sentences holding the
    answer; none when the answer still shows elsewhere or too little is left."""
    from bench.train_reader import answer_cut, with_answer_cuts

    text = (
        "The ferry to Cacilhas leaves from Cais do Sodre every twenty minutes. "
        "Tickets cost 1.40 euros. Passengers may bring bicycles on board at no charge, and "
        "the crossing of the Tagus takes about ten minutes in calm weather."
    )
    passage = f"Lisbon ferries: {text}"
    cut = answer_cut(passage, "Lisbon ferries", ["1.40 euros"])
    assert cut is not None and cut.startswith("Lisbon ferries: The ferry to Cacilhas")
    assert "1.40" not in cut and "bicycles" in cut
    assert answer_cut(passage, "Lisbon ferries", ["lisbon"]) is None  # the title states it
    assert answer_cut(passage, "Lisbon ferries", ["bicycles"]) is None  # too little left
    assert answer_cut(passage, "Other title", ["1.40 euros"]) is None
    # a word of the answer the question lacks still shows: no negative ("he told Lauer")
    told = "Kanye West: He later told Matt Lauer he regretted it. " + "He said so again. " * 8
    assert answer_cut(told, "Kanye West", ["matt lauer"], "To which reporter?") is not None
    told = told.replace("He said so again.", "Lauer said so.", 1)
    assert answer_cut(told, "Kanye West", ["matt lauer"], "To which reporter?") is None
    assert answer_cut(told, "Kanye West", ["matt lauer"], "Did Lauer ask?") is not None
    squad = [{"title": "Lisbon_ferries", "paragraphs": [{"context": text, "qas": [
        # SQuAD files hold some questions with spaces around; the loader strips them
        {"question": "What does a ticket cost? ", "answers": [{"text": "1.40 euros"}]}]}]}]  # fmt: skip
    pairs = [
        ("What does a ticket cost?", passage, 1),
        ("What does a ticket cost?", "x", 0),
    ]
    assert with_answer_cuts(pairs, squad) == [pairs[0], ("What does a ticket cost?", cut, 0),
                                              pairs[1]]  # fmt: skip


def test_training_from_a_missing_reader_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from bench import train_reader

    missing = tmp_path / "none.safetensors"
    monkeypatch.setattr("sys.argv", ["train_reader.py", "--squad", "s.json", "--squad-dir", "d",
                                     "--out", "o", "--init", str(missing), "--full"])  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        train_reader.main()
    assert exited.value.code == 2
    assert f"--init: no reader file at {missing}" in capsys.readouterr().err
    not_a_reader = tmp_path / "x.safetensors"
    not_a_reader.write_bytes(b"not safetensors")
    headless = tmp_path / "headless.safetensors"
    save_file({"model.x": torch.zeros(1)}, str(headless))
    for argv, error in (
        (["--init", str(not_a_reader), "--full"], "is not a safetensors file"),
        (["--init", str(headless), "--full"], "holds no reader head"),
        (["--init", str(not_a_reader)], "--init needs --full"),
    ):
        monkeypatch.setattr("sys.argv", ["train_reader.py", "--squad", "s.json", "--squad-dir",
                                         "d", "--out", "o", *argv])  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            train_reader.main()
        assert exited.value.code == 2
        assert error in capsys.readouterr().err


def test_a_question_swap_asks_about_something_the_passage_lacks() -> None:
    """A name the passage holds is swapped for another question's name it lacks."""
    import random

    from bench.train_reader import question_swap, with_question_swaps

    passage = "Lisbon office: Visitors use the guest network; its password is on the board."
    question = "What is the password in the Lisbon office?"
    donors = ["When does the Cacilhas ferry leave?", "Who founded Lisbon?"]
    swapped = question_swap(question, passage, donors, random.Random(0))
    assert swapped == "What is the password in the Cacilhas office?"
    assert question_swap("What is its password?", passage, donors, random.Random(0)) is None
    assert question_swap("Is the Porto office open?", passage, donors, random.Random(0)) is None
    assert question_swap(question, passage, ["Who founded Lisbon?"], random.Random(0)) is None
    pairs = [(question, passage, 1), (donors[0], "Ferries: at noon.", 1)]
    assert with_question_swaps(pairs) == [pairs[0], (swapped, passage, 0), pairs[1]]
