"""A HEARTH_ setting the service cannot use is named on the command line, not traced."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.cli import main

CORPUS_QUESTIONS = Path(__file__).resolve().parents[2] / "corpus" / "questions.jsonl"


def test_an_invalid_setting_is_named_with_what_it_should_be(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HEARTH_FUSION", "bm25-only")
    monkeypatch.setenv("HEARTH_TOP_K", "four")
    data = tmp_path / "data"
    monkeypatch.setattr(
        sys, "argv", ["hearth", "eval", str(CORPUS_QUESTIONS), "--data-dir", str(data)]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: HEARTH_FUSION: Input should be 'convex' or 'rrf'" in err
    assert "error: HEARTH_TOP_K: Input should be a valid integer" in err
    assert "Traceback" not in err and "bm25-only" not in err  # the value is not echoed
    assert not data.exists()  # nothing was written
