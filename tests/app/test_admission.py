"""The door of the answer routes counts requests still on their way to the engine's queue."""

from __future__ import annotations

import threading

import pytest
from fakes import ScriptedChatModel
from fastapi.testclient import TestClient

from app.admission import Admission
from app.main import create_app
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


def test_a_remote_engine_counts_its_requests_in_flight_at_the_door():
    """The remote engine was not limited at the door: fifty requests all retrieved, and all but
    `queue_size` were refused only afterwards."""
    from app.remote_engine import OpenAICompatChatModel

    admission, remote = Admission(), OpenAICompatChatModel("http://127.0.0.1:9/v1", queue_size=2)
    with (
        admission.hold(remote),
        admission.hold(remote),
        pytest.raises(ModelBusyError),
        admission.hold(remote),
    ):
        pass
    assert admission.pending == 0
    remote.close()


PLAIN = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "retrieval": False}


class OnePlaceModel(ScriptedChatModel):
    """The scripted model with an engine's door rule: one answer in progress at a time."""

    def check_admission(self, pending: int = 0) -> None:
        if pending >= 1:
            raise ModelBusyError("busy", retry_after=4)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/query", {"question": "How many days of annual leave in Paris?"}),
        (
            "/v1/chat/completions",
            {"model": "x", "messages": [{"role": "user", "content": "annual leave in Paris?"}]},
        ),
    ],
)
def test_a_request_still_retrieving_holds_its_place_at_the_door(services, settings, path, body):
    services.model = OnePlaceModel()
    services.rag.model = services.model
    inside, release = threading.Event(), threading.Event()
    retrieve = services.rag.retrieve

    def slow_retrieve(*args, **kwargs):
        inside.set()
        assert release.wait(10)
        return retrieve(*args, **kwargs)

    services.rag.retrieve = slow_retrieve
    with TestClient(create_app(settings, services=services)) as client:
        first: list = []
        worker = threading.Thread(target=lambda: first.append(client.post(path, json=body)))
        worker.start()
        assert inside.wait(10)  # the first request is retrieving: nothing queued at the engine
        refused = client.post(path, json=body)
        plain = client.post("/v1/chat/completions", json=PLAIN)  # no retrieval at all
        release.set()
        worker.join(10)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "4"
    assert plain.status_code == 503  # the plain path respects places held by others
    assert first[0].status_code == 200, first[0].text
    assert services.admission.pending == 0
