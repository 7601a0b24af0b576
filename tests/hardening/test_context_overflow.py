"""Row 11, context overflow: prompts over the model's window and max_tokens of 0, negative,
above the operator's maximum and 10^6, on /api/query and /v1 (with and without retrieval,
streamed or not) -> 400 or 422 with a clear error, before any decode starts (on /v1 a value
above the maximum is capped to it instead, as chat clients send large defaults); the service
answers normally afterwards.

The model is the scripted fake with the real engines' call-time checks (StrictScriptedModel):
`stream` refuses an over-long prompt or a bad max_tokens before queuing anything.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hardkit import StrictScriptedModel, make_services

from app.main import create_app

pytestmark = pytest.mark.hardening

CONTEXT = 400
MAX_ANSWER = 100


@pytest.fixture
def strict(tmp_path):
    model = StrictScriptedModel(context_size=CONTEXT)
    services, settings = make_services(tmp_path / "data", model, max_answer_tokens=MAX_ANSWER)
    with TestClient(create_app(settings, services=services)) as client:
        yield client, model, services
    services.store.close()


LONG = "annual leave in Paris " * 150  # ~600 words: over a 400-token window, under 4000 chars


def v1(content: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": content}], **extra}


OVERFLOW = [
    ("/api/query", {"question": LONG}),
    ("/api/query", {"question": LONG, "stream": True}),
    ("/v1/chat/completions", v1(LONG)),
    ("/v1/chat/completions", v1(LONG, stream=True)),
    ("/v1/chat/completions", v1(LONG, retrieval=False)),
    ("/v1/chat/completions", v1(LONG, retrieval=False, stream=True)),
]
BAD_TOKENS = [
    ("/api/query", {"question": "annual leave in Paris", "max_tokens": value})
    for value in (0, -1, -(10**9), MAX_ANSWER + 1, 10**6, 10**30, 1.5, "many")
] + [
    ("/v1/chat/completions", v1("annual leave in Paris", **{field: value, **extra}))
    for field in ("max_tokens", "max_completion_tokens")
    for value in (0, -1, 1.5, "many")
    for extra in ({}, {"stream": True}, {"retrieval": False})
]
# Above the operator's maximum, /v1 caps instead (chat clients send 1024 or 4096 by default).
CAPPED = [
    v1("annual leave in Paris", **{field: value, **extra})
    for field in ("max_tokens", "max_completion_tokens")
    for value in (MAX_ANSWER + 1, 10**6, 10**30)
    for extra in ({}, {"retrieval": False})
]


def check_refused(client, model, route: str, body: dict) -> dict:
    prompts, streamed, decodes = len(model.prompts), model.tokens_streamed, model.decodes
    response = client.post(route, json=body)
    assert response.status_code in (400, 422), (
        route,
        body,
        response.status_code,
        response.text[:300],
    )
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] in ("context_overflow", "invalid_request") and error["message"], error
    assert "Traceback" not in response.text
    assert (len(model.prompts), model.tokens_streamed, model.decodes) == (
        prompts,
        streamed,
        decodes,
    )
    return error


@pytest.mark.parametrize(("route", "body"), OVERFLOW, ids=[f"{r} {sorted(b)}" for r, b in OVERFLOW])
def test_prompts_over_the_window_are_refused_before_decoding(strict, route, body):
    client, model, _ = strict
    error = check_refused(client, model, route, body)
    assert error["code"] == "context_overflow"
    assert str(CONTEXT) in error["message"]  # says which window it did not fit


@pytest.mark.parametrize(("route", "body"), BAD_TOKENS, ids=[str(b) for _, b in BAD_TOKENS])
def test_bad_max_tokens_are_refused_before_decoding(strict, route, body):
    client, model, _ = strict
    check_refused(client, model, route, body)


@pytest.mark.parametrize("body", CAPPED, ids=[str(b) for b in CAPPED])
def test_v1_max_tokens_above_the_maximum_are_capped_to_it(strict, body):
    client, model, _ = strict
    model.answer = " ".join(["word"] * (MAX_ANSWER * 3))
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text[:300]
    assert model.decodes == 1
    if body.get("retrieval") is False:  # the model's own text: cut at the maximum
        assert response.json()["usage"]["completion_tokens"] <= MAX_ANSWER + 1


def test_a_long_history_is_trimmed_to_the_window_not_refused(strict):
    client, model, _ = strict
    history = [
        {"role": role, "content": "annual leave in Berlin and Paris " * 500}
        for role in ("user", "assistant") * 10
    ]
    body = {"messages": [*history, {"role": "user", "content": "annual leave in Paris"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text[:300]
    prompt = model.prompts[-1]
    assert model.prompt_tokens(prompt) + MAX_ANSWER <= CONTEXT


def test_service_is_healthy_after_the_refusals(strict):
    client, model, _ = strict
    refusals = OVERFLOW + [(r, b) for r, b in BAD_TOKENS if b.get("max_tokens") in (0, -1, 10**6)]
    for route, body in refusals:
        assert client.post(route, json=body).status_code in (400, 422)
    assert model.decodes == 0 and model.tokens_streamed == 0
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    answer = client.post("/api/query", json={"question": "annual leave in Paris"})
    assert answer.status_code == 200 and "27 days" in answer.json()["answer"]
    completion = client.post("/v1/chat/completions", json=v1("annual leave in Paris"))
    assert completion.status_code == 200
    assert model.decodes == 2
