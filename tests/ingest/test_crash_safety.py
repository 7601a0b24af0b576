"""SIGKILL an ingest at random points: the store stays consistent and a re-run finishes it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The repository root, not bench/ itself: bench/ingest.py would shadow the `ingest` package
# here and in every parser child process spawned later in the session.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.crash_safety import run_trials

pytestmark = pytest.mark.crash

KILLS = 20


def test_store_survives_sigkill_at_random_points(tmp_path):
    report = run_trials(KILLS, tmp_path)
    print(report)
    assert report.problems == []
    assert report.killed >= 20
    assert report.consistent == report.trials
    assert report.finished == report.trials
    # Kills landed at different stages: some stores were nearly empty, some nearly full.
    assert min(report.partial_documents) < max(report.partial_documents)
