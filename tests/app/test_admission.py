"""The door of the answer routes counts requests still on their way to the engine's queue."""

from __future__ import annotations

import pytest

from app.admission import Admission
from index.errors import ModelBusyError


class QueueOf:
    """An engine's admission rule: refuse when queued jobs plus `pending` reach the size."""

    def __init__(self, size: int, queued: int = 0) -> None:
        self.size, self.queued = size, queued

    def check_admission(self, pending: int = 0) -> None:
        if self.queued + pending >= self.size:
            raise ModelBusyError("busy", retry_after=7)


def test_requests_between_the_door_and_the_queue_count_against_it():
    admission, model = Admission(), QueueOf(size=3, queued=1)
    with admission.hold(model), admission.hold(model):
        assert admission.pending == 2
        with pytest.raises(ModelBusyError) as refused, admission.hold(model):
            pass
        assert refused.value.retry_after == 7
        assert admission.pending == 2  # a refused request holds nothing
    assert admission.pending == 0
    with admission.hold(model):  # the places were given back
        assert admission.pending == 1


def test_a_place_is_given_back_when_the_block_fails():
    admission, model = Admission(), QueueOf(size=1)
    with pytest.raises(RuntimeError), admission.hold(model):
        raise RuntimeError("retrieval failed")
    with admission.hold(model):
        assert admission.pending == 1


def test_engines_without_a_queue_are_not_limited_at_the_door():
    admission = Admission()
    with admission.hold(object()), admission.hold(object()):
        assert admission.pending == 2
