"""Bookkeeping at most once per interval, and sooner again after a failure."""

from __future__ import annotations

import time

from app.throttle import Every


def test_due_once_per_interval_and_again_sooner_when_asked(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    hourly = Every(3600)
    assert hourly.due() and not hourly.due()
    now[0] += 3599
    assert not hourly.due()
    now[0] += 1
    assert hourly.due()
    hourly.again_in(60)
    now[0] += 59
    assert not hourly.due()
    now[0] += 1
    assert hourly.due()
