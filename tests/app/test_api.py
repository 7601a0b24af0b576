"""REST API with the fakes: answers, abstention, streaming, follow-ups, ACL, errors, headers."""

from __future__ import annotations

import json
import re

import pytest
from fakes import PEER, ScriptedChatModel, ScriptedStream

from index.errors import ModelBusyError, UpstreamError
from index.types import Chunk, Document, Section

SESSION = {"X-Hearth-Session": "browser-session-0123456789"}


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_answer_has_verified_citations_and_sources(client, model):
    response = client.post(
        "/api/query", json={"question": "How many days of annual leave in Paris?"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["abstained"] and not body["uncited"]
    assert "27 days" in body["answer"] and "[1]" in body["answer"]
    cited = body["citations"][0]
    assert cited["document_id"] == "leave" and "27 days" in cited["span"]
    first = body["sources"][0]
    assert first["url"] == "https://intranet.example/leave#Paris" and first["heading"] == "Paris"
    assert set(body["timings"]) >= {"retrieval_ms", "ttft_ms", "total_ms"}
    assert body["model"] == "scripted-model"
    prompt = model.prompts[0]
    assert prompt[0]["role"] == "system" and "Passage [1] (Annual leave)" in prompt[-1]["content"]


def test_unanswerable_question_abstains_without_calling_the_model(client, model):
    response = client.post(
        "/api/query", json={"question": "Who won the football world cup in 2022?"}
    )
    body = response.json()
    assert body["abstained"] and body["abstained_by"] == "retrieval"
    assert body["answer"].startswith("I don't know")
    assert model.prompts == []
    assert all(s["document_id"] not in ("salaries", "budget") for s in body["sources"])


def test_uncited_sentence_is_flagged(client, model):
    model.answer = "Paris staff get 27 days of annual leave. The CEO owns nine yachts in Monaco."
    body = client.post("/api/query", json={"question": "annual leave in Paris"}).json()
    assert body["uncited"] and "not supported by the sources" in body["answer"]


def test_streaming_sends_sources_tokens_then_done(client):
    response = client.post(
        "/api/query", json={"question": "When does the canteen open?", "stream": True}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"  # nginx passes tokens as they come
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and kinds.count("token") > 3
    assert events[-1][1]["sources"] == events[0][1]


def test_follow_up_uses_the_conversation(client, model):
    first = client.post(
        "/api/query",
        json={"question": "How many days of annual leave do employees in Paris get?"},
        headers=SESSION,
    ).json()
    model.answer = "Employees in Berlin get 30 days of annual leave."
    second = client.post(
        "/api/query",
        json={"question": "and in Berlin?", "conversation_id": first["conversation_id"]},
        headers=SESSION,
    ).json()
    assert second["sources"][0]["heading"] == "Berlin"
    assert second["citations"][0]["heading"] == "Berlin"
    history_roles = [m["role"] for m in model.prompts[-1]]
    assert history_roles == ["system", "user", "assistant", "user"]


def test_excluded_sources_are_not_used(client):
    body = client.post(
        "/api/query",
        json={"question": "annual leave in Paris", "exclude_document_ids": ["leave"]},
    ).json()
    assert all(s["document_id"] != "leave" for s in body["sources"])


def test_restricted_documents_need_the_group(client, hr_key):
    anonymous = client.post("/api/search", json={"query": "salary band C"}).json()
    assert all(p["document_id"] != "salaries" for p in anonymous["passages"])
    assert client.get("/api/documents/salaries").status_code == 404
    auth = {"Authorization": f"Bearer {hr_key}"}
    allowed = client.post("/api/search", json={"query": "salary band C"}, headers=auth).json()
    assert allowed["passages"][0]["document_id"] == "salaries"
    document = client.get("/api/documents/salaries", headers=auth).json()
    assert "CANARY-HR-7731" in document["chunks"][0]["text"]
    assert client.get("/api/documents/budget", headers=auth).status_code == 404


def test_bad_key_is_refused_and_auth_can_be_required(client, settings, services):
    bad = client.get("/api/conversations", headers={"Authorization": "Bearer hk_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    settings.require_auth = True
    assert client.post("/api/search", json={"query": "canteen"}).status_code == 401
    key, info = services.keys.create("bob", "public")
    assert (
        client.post(
            "/api/search", json={"query": "canteen"}, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
    services.keys.revoke(info.id)
    assert (
        client.post(
            "/api/search", json={"query": "canteen"}, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 401
    )


def test_proxy_headers_only_count_from_trusted_proxies(client, settings):
    headers = {"X-Forwarded-User": "carol", "X-Forwarded-Groups": "HR, bad group!"}
    untrusted = client.post("/api/search", json={"query": "salary band"}, headers=headers).json()
    assert all(p["document_id"] != "salaries" for p in untrusted["passages"])
    settings.trusted_proxies = PEER[0]
    trusted = client.post("/api/search", json={"query": "salary band"}, headers=headers).json()
    assert trusted["passages"][0]["document_id"] == "salaries"


def test_identity_headers_sent_twice_through_a_trusted_proxy_are_refused(client, settings):
    """A proxy that appends its headers instead of replacing them passes the client's own on:
    the first one won, so the client chose who it was."""
    settings.trusted_proxies = PEER[0]
    for twice in (
        [("X-Forwarded-User", "eve"), ("X-Forwarded-User", "dave")],
        [("X-Forwarded-User", "dave"), ("X-Forwarded-Groups", "hr"), ("X-Forwarded-Groups", "x")],
    ):
        response = client.post("/api/search", json={"query": "salary band"}, headers=twice)
        assert response.status_code == 401 and "more than once" in response.text
    once = [("X-Forwarded-User", "dave"), ("X-Forwarded-Groups", "hr")]
    assert client.post("/api/search", json={"query": "x"}, headers=once).status_code == 200


def test_conversations_are_private_and_manageable(client, hr_key):
    alice = {"Authorization": f"Bearer {hr_key}"}
    body = client.post(
        "/api/query", json={"question": "canteen opening hours"}, headers=alice
    ).json()
    conversation_id, message_id = body["conversation_id"], body["message_id"]
    listed = client.get("/api/conversations", headers=alice).json()["conversations"]
    assert [c["id"] for c in listed] == [conversation_id]
    for path in (
        f"/api/conversations/{conversation_id}",
        f"/api/conversations/{conversation_id}/export",
    ):
        assert client.get(path, headers=SESSION).status_code == 404
        assert client.get(path, headers=alice).status_code == 200
    assert (
        client.post(
            f"/api/messages/{message_id}/feedback", json={"rating": "up"}, headers=SESSION
        ).status_code
        == 404
    )
    assert client.post(
        "/api/query", json={"question": "x canteen", "conversation_id": conversation_id},
        headers=SESSION,
    ).status_code == 404  # fmt: skip
    assert client.post(
        f"/api/messages/{message_id}/feedback", json={"rating": "down", "comment": "too short"},
        headers=alice,
    ).status_code == 200  # fmt: skip
    renamed = client.patch(
        f"/api/conversations/{conversation_id}", json={"title": "Lunch"}, headers=alice
    )
    assert renamed.json()["title"] == "Lunch"
    blank = client.patch(
        f"/api/conversations/{conversation_id}", json={"title": "   "}, headers=alice
    )
    assert blank.status_code == 422  # was stored as "Untitled" and answered as ""
    padded = client.patch(
        f"/api/conversations/{conversation_id}", json={"title": "  Lunch plans "}, headers=alice
    )
    assert padded.json()["title"] == "Lunch plans"
    export = client.get(f"/api/conversations/{conversation_id}/export", headers=alice)
    assert "attachment" in export.headers["content-disposition"]
    assert [m["role"] for m in export.json()["messages"]] == ["user", "assistant"]
    assert (
        client.delete(f"/api/conversations/{conversation_id}", headers=SESSION).status_code == 404
    )
    assert client.delete(f"/api/conversations/{conversation_id}", headers=alice).status_code == 204
    assert client.get(f"/api/conversations/{conversation_id}", headers=alice).status_code == 404


def test_feedback_is_stored(client, services, hr_key):
    alice = {"Authorization": f"Bearer {hr_key}"}
    body = client.post("/api/query", json={"question": "bike scheme refund"}, headers=alice).json()
    client.post(
        f"/api/messages/{body['message_id']}/feedback", json={"rating": "up"}, headers=alice
    )
    assert services.conversations.feedback_for(body["message_id"], "alice") == {
        "rating": "up", "comment": ""
    }  # fmt: skip


def test_busy_model_answers_503_with_retry_after(client, services):
    class Busy(ScriptedChatModel):
        def stream(self, *args, **kwargs):
            raise ModelBusyError("the model is busy, try again shortly", retry_after=3)

    services.rag.model = Busy()
    response = client.post("/api/query", json={"question": "annual leave in Paris"})
    assert response.status_code == 503 and response.headers["retry-after"] == "3"
    assert response.json()["error"]["code"] == "busy"


def test_prompt_that_cannot_fit_answers_400(client, services):
    services.rag.model = ScriptedChatModel(context_size=40)
    response = client.post("/api/query", json={"question": "annual leave in Paris " * 5})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_overflow"


def test_errors_are_json_without_internals(client):
    invalid = client.post("/api/query", json={"question": ""})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_request"
    too_big = client.post(
        "/api/query", content=b'{"question": "' + b"a" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert too_big.status_code == 413
    missing = client.get("/nope")
    assert missing.status_code == 404 and "Traceback" not in missing.text
    for too_many in (201, 5000, 10**30):  # one limit, the setting's, in one error
        bad_tokens = client.post("/api/query", json={"question": "canteen", "max_tokens": too_many})
        assert bad_tokens.status_code == 400, too_many
        assert bad_tokens.json()["error"]["message"] == "max_tokens must be between 1 and 200"


def test_security_headers_everywhere(client):
    for path in ("/", "/healthz", "/api/info", "/nope"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_error_is_a_json_500_with_headers_and_counted(client, monkeypatch, caplog):
    """Made by Starlette's outermost handler it had no security headers, no Cache-Control
    and was not counted in the metrics."""

    def broken(*args, **kwargs):
        raise RuntimeError("boom: /secret/path")

    monkeypatch.setattr(client.app.state.services.rag, "retrieve", broken)
    failed = client.post("/api/search", json={"query": "canteen"}, headers=SESSION)
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "internal_error" and "boom" not in failed.text
    assert failed.headers["x-content-type-options"] == "nosniff"
    assert failed.headers["cache-control"] == "no-store"
    assert "boom: /secret/path" in caplog.text  # the log keeps what the caller is not shown
    metrics = client.get("/metrics").text
    assert re.search(r'hearth_requests_total\{[^}]*route="/api/search"[^}]*status="500"', metrics)


def test_only_the_page_may_be_cached(client):
    """A cached conversation or answer would outlive Delete and sign-out."""
    client.headers["X-Hearth-Session"] = "s" * 32
    asked = client.post("/api/query", json={"question": "canteen opening"}).json()
    private = [
        client.get("/api/conversations"),
        client.get(f"/api/conversations/{asked['conversation_id']}"),
        client.post("/api/search", json={"query": "canteen"}),
        client.get("/api/info"),
        client.get("/api/documents/nope"),
        client.get("/v1/models"),
    ]
    for response in private:
        assert response.headers["cache-control"] == "no-store", response.url
    assert "cache-control" not in client.get("/").headers


def test_health_info_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    info = client.get("/api/info").json()
    assert info["license"] == "apache-2.0" and info["documents"] == 3  # the public ones only
    client.post("/api/query", json={"question": "canteen opening"})
    metrics = client.get("/metrics").text
    assert "hearth_answers_total" in metrics and "hearth_requests_total" in metrics


def test_rate_limit_per_caller_answers_429_with_retry_after(client, services, hr_key):
    from app.ratelimit import RateLimiter

    now = [1000.0]
    services.limiter = RateLimiter(3, clock=lambda: now[0])
    alice = {"Authorization": f"Bearer {hr_key}"}
    codes = [
        client.post("/api/search", json={"query": "canteen"}, headers=alice).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    limited = client.post("/api/search", json={"query": "canteen"}, headers=alice)
    assert (
        limited.headers["retry-after"] == "20" and limited.json()["error"]["code"] == "rate_limited"
    )
    # Another caller has their own bucket; time refills it.
    assert client.post("/api/search", json={"query": "canteen"}, headers=SESSION).status_code == 200
    now[0] += 20
    assert client.post("/api/search", json={"query": "canteen"}, headers=alice).status_code == 200


def test_anonymous_callers_cannot_escape_the_rate_limit_with_new_sessions(client, services):
    from app.ratelimit import RateLimiter

    services.limiter = RateLimiter(3, clock=lambda: 1000.0)
    codes = [
        client.post(
            "/api/search", json={"query": "canteen"},
            headers={"X-Hearth-Session": f"attacker-session-{i}-padding"},
        ).status_code
        for i in range(5)
    ]  # fmt: skip
    assert codes == [200, 200, 200, 429, 429]


def test_anonymous_callers_behind_a_trusted_proxy_each_have_their_own_limit(
    client, services, settings
):
    """Every anonymous caller came from the proxy's address and shared one bucket."""
    from app.ratelimit import RateLimiter

    services.limiter = RateLimiter(2, clock=lambda: 1000.0)
    settings.trusted_proxies = PEER[0]

    def search(forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded}
        return client.post("/api/search", json={"query": "x"}, headers=headers).status_code

    assert [search("198.51.100.7") for _ in range(3)] == [200, 200, 429]
    assert search("spoofed, 198.51.100.8") == 200  # the proxy's own entry is the last one
    assert [search(f"2001:db8::{i}") for i in range(1, 4)] == [200, 200, 429]  # one /64
    assert [search(f"203.0.113.5:{port}") for port in (1, 2, 3)] == [200, 200, 429]

    def appended(client_line: str) -> int:  # HAProxy adds its own line after the client's
        headers = [("X-Forwarded-For", client_line), ("X-Forwarded-For", "192.0.2.77")]
        return client.post("/api/search", json={"query": "x"}, headers=headers).status_code

    assert [appended(f"1.1.1.{i}") for i in range(3)] == [200, 200, 429]


def test_unrelated_follow_up_still_abstains(client, model):
    first = client.post(
        "/api/query", json={"question": "How many days of annual leave in Paris?"}, headers=SESSION
    ).json()
    calls = len(model.prompts)
    second = client.post(
        "/api/query",
        json={
            "question": "Who won the football world cup?",
            "conversation_id": first["conversation_id"],
        },
        headers=SESSION,
    ).json()
    assert second["abstained"] and second["abstained_by"] == "retrieval"
    assert len(model.prompts) == calls


def test_a_stopped_answer_is_kept_in_the_conversation(client, services, model):
    import time

    model.answer = " ".join(f"Paris staff get 27 days of leave, point {i}." for i in range(60))
    model.delay = 0.02
    with client.stream(
        "POST", "/api/query", json={"question": "annual leave in Paris", "stream": True},
        headers=SESSION,
    ) as response:  # fmt: skip
        for line in response.iter_lines():
            if line.startswith("event: token"):
                break  # the user pressed Stop after the first token
    deadline = time.monotonic() + 30
    conversations = []
    while time.monotonic() < deadline and not conversations:
        conversations = client.get("/api/conversations", headers=SESSION).json()["conversations"]
        time.sleep(0.05)
    stored = client.get(f"/api/conversations/{conversations[0]['id']}", headers=SESSION).json()
    answer = stored["messages"][-1]
    assert answer["role"] == "assistant" and answer["details"]["stopped"] is True
    assert model.tokens_streamed < 300  # generation stopped long before the end


def test_a_question_in_decomposed_unicode_is_answered_as_its_composed_form(client, model):
    """Documents are stored in NFC; "Cafe" + U+0301 pasted from some systems must still match
    "Café"."""
    from app.rag import Question

    assert Question("Cafe\u0301 hours?").text == "Caf\u00e9 hours?"
    composed = client.post("/api/query", json={"question": "Caf\u00e9 opening hours"}).json()
    decomposed = client.post("/api/query", json={"question": "Cafe\u0301 opening hours"}).json()
    assert decomposed["sources"] == composed["sources"] and composed["sources"]


def test_an_answer_cut_at_max_tokens_says_so(client, model):
    model.answer = "Employees in Paris get 27 days [1] of annual leave each year, as the page says."
    whole = client.post("/api/query", json={"question": "annual leave in Paris"}).json()
    assert whole["truncated"] is False and not whole["quoted"]
    cut = client.post("/api/query", json={"question": "annual leave in Paris", "max_tokens": 7})
    body = cut.json()
    assert body["answer"].startswith("Employees in Paris get 27 days [1]") and not body["quoted"]
    assert body["truncated"] is True


def test_a_quote_and_an_i_dont_know_are_cut_at_max_tokens_too(client, model):
    """The engines cut the model's answer at max_tokens; the quote that replaced it was sent
    whole (about 40 tokens for a client that asked for 8)."""
    model.answer = "The CEO owns nine yachts in Monaco."
    ask = {"question": "annual leave in Paris"}
    whole = client.post("/api/query", json=ask).json()
    assert whole["quoted"] and whole["truncated"] is False
    body = client.post("/api/query", json={**ask, "max_tokens": 8}).json()
    assert body["quoted"] and body["truncated"] is True
    assert body["answer"] == "“Employees in the Paris office get…” [1]"
    assert model.count_tokens(body["answer"]) <= 8
    assert body["citations"] == whole["citations"] and body["sources"] == whole["sources"]
    refused = {"question": "Who won the football world cup in 2022?", "max_tokens": 5}
    body = client.post("/api/query", json=refused).json()
    assert body["abstained"] and body["truncated"] is True and body["answer"] == "I don't know…"
    assert body["sources"]  # the closest matches, still listed


def test_a_short_follow_up_refused_says_how_to_ask_it(client, model):
    first = client.post(
        "/api/query", json={"question": "How many days of annual leave in Paris?"}, headers=SESSION
    ).json()
    asked = {"conversation_id": first["conversation_id"]}
    short = client.post("/api/query", json={"question": "And for interns?", **asked},
                        headers=SESSION).json()  # fmt: skip
    assert short["abstained"] and short["abstained_by"] == "retrieval"
    assert short["answer"].endswith("asking it as a whole question may find the answer.)")
    unrelated = client.post("/api/query", json={"question": "Who won the football world cup?",
                                                 **asked}, headers=SESSION).json()  # fmt: skip
    assert unrelated["abstained"] and "follow-up" not in unrelated["answer"]
    alone = client.post("/api/query", json={"question": "And for interns?"}).json()
    assert alone["abstained"] and "follow-up" not in alone["answer"]  # nothing to follow
    model.answer = "Employees in Berlin get 30 days of annual leave."
    client.post("/api/query", json={"question": "and in Berlin?", **asked}, headers=SESSION)
    history = [m["content"] for m in model.prompts[-1] if m["role"] == "assistant"]
    assert any(c.startswith("I don't know") for c in history)  # the refusal, in the history
    assert history and all("follow-up" not in content for content in history)


def test_a_conversation_brings_back_the_callers_own_ratings(client, services, hr_key):
    alice = {"Authorization": f"Bearer {hr_key}"}
    bob = {"Authorization": f"Bearer {services.keys.create('bob', 'hr')[0]}"}
    first = client.post(
        "/api/query", json={"question": "canteen opening hours"}, headers=alice
    ).json()
    conversation_id = first["conversation_id"]
    second = client.post(
        "/api/query",
        json={"question": "bike scheme refund", "conversation_id": conversation_id},
        headers=alice,
    ).json()
    path = f"/api/conversations/{conversation_id}"

    def ratings(headers: dict[str, str]) -> dict[str, str | None]:
        messages = client.get(path, headers=headers).json()["messages"]
        assert all("rating" not in m for m in messages if m["role"] == "user")
        return {m["id"]: m["rating"] for m in messages if m["role"] == "assistant"}

    assert ratings(alice) == {first["message_id"]: None, second["message_id"]: None}
    client.post(
        f"/api/messages/{first['message_id']}/feedback", json={"rating": "up"}, headers=alice
    )
    assert ratings(alice) == {first["message_id"]: "up", second["message_id"]: None}
    client.post(
        f"/api/messages/{first['message_id']}/feedback", json={"rating": "down"}, headers=alice
    )
    assert ratings(alice) == {first["message_id"]: "down", second["message_id"]: None}
    export = client.get(f"{path}/export", headers=alice).json()
    assert [m.get("rating") for m in export["messages"]] == [None, "down", None, None]

    # Bob sees neither Alice's conversation nor her rating, and cannot change it.
    assert client.get(path, headers=bob).status_code == 404
    assert client.get(path, headers=SESSION).status_code == 404
    refused = client.post(
        f"/api/messages/{second['message_id']}/feedback", json={"rating": "up"}, headers=bob
    )
    assert refused.status_code == 404
    own = client.post("/api/query", json={"question": "canteen opening hours"}, headers=bob).json()
    bob_view = client.get(f"/api/conversations/{own['conversation_id']}", headers=bob).json()
    assert [m["rating"] for m in bob_view["messages"] if m["role"] == "assistant"] == [None]
    # Feedback is keyed by (message, owner): a row by someone else on Alice's message (none can
    # be written through the API today) is still not shown to her as her rating.
    with services.conversations._db.transaction(write=True) as tx:
        tx.execute(
            "INSERT INTO feedback(id, message_id, owner, rating, comment, created_at)"
            " VALUES ('stray', ?, 'bob', 'up', '', '2024-01-01T00:00:00+00:00')",
            (second["message_id"],),
        )
    assert ratings(alice) == {first["message_id"]: "down", second["message_id"]: None}


def test_a_store_that_cannot_be_reached_is_a_503_and_not_ready(client, services, monkeypatch):
    from index.errors import StoreUnavailableError

    assert client.get("/readyz").json() == {"status": "ready"}
    monkeypatch.setattr(services.store, "reachable", lambda: False)
    assert client.get("/readyz").status_code == 503  # a load balancer sends nothing here

    def down(*args, **kwargs):
        raise StoreUnavailableError("the PostgreSQL store failed: connection refused")

    monkeypatch.setattr(services.store, "dense_search", down)
    response = client.post("/api/search", json={"query": "canteen"})
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "store_unavailable"


def test_info_says_truthfully_what_leaves_the_machine(client, services, monkeypatch):
    assert client.get("/api/info").json()["network"].startswith("Nothing leaves this machine")
    monkeypatch.setattr(services.model, "base_url", "https://user:secret@llm.internal:8443/v1",
                        raising=False)  # fmt: skip
    said = client.get("/api/info").json()["network"]
    assert said.startswith("Questions and passages go to the inference server at llm.internal")
    assert "secret" not in said and "Nothing leaves" not in said


def test_a_conversation_withholds_sources_its_owner_may_no_longer_read(
    client, services, model, hr_key
):
    """Restricting a document (or narrowing a key) made it unreadable everywhere but in the
    stored sources of old answers, which still served its snippet and cited span."""
    model.answer = "Band C salary ranges from 52000 to 61000 euros."
    alice = {"Authorization": f"Bearer {hr_key}"}
    asked = client.post("/api/query", json={"question": "salary band C"}, headers=alice).json()
    assert asked["sources"][0]["document_id"] == "salaries" and asked["citations"]
    conversation = f"/api/conversations/{asked['conversation_id']}"
    assert "CANARY-HR-7731" in client.get(conversation, headers=alice).text
    services.store.set_groups("salaries", frozenset({"board"}))
    for url in (conversation, f"{conversation}/export"):
        response = client.get(url, headers=alice)
        assert response.status_code == 200
        assert "CANARY-HR-7731" not in response.text and "Salary bands" not in response.text
        details = json.loads(response.text)["messages"][-1]["details"]
        withheld = [s for s in details["sources"] if s.get("withheld")]
        assert withheld and all(s["document_id"] == "" and not s["snippet"] for s in withheld)
        assert all(c.get("withheld") and c["span"] == "" for c in details["citations"])
    services.store.set_groups("salaries", frozenset({"hr"}))
    details = client.get(conversation, headers=alice).json()["messages"][-1]["details"]
    assert details["sources"][0]["document_id"] == "salaries"  # readable again: shown again


def test_an_answer_from_a_document_no_longer_readable_is_withheld_and_kept_out_of_prompts(
    client, services, model, hr_key
):
    """The sources of such an answer were withheld, but its text (the figures it drew from
    the document) was still shown, exported and put into a follow-up's prompt."""
    model.answer = "Band C salary ranges from 52000 to 61000 euros [1]."
    alice = {"Authorization": f"Bearer {hr_key}"}
    asked = client.post("/api/query", json={"question": "salary band C"}, headers=alice).json()
    assert "52000" in asked["answer"]
    conversation = f"/api/conversations/{asked['conversation_id']}"
    services.store.set_groups("salaries", frozenset({"board"}))
    for url in (conversation, f"{conversation}/export"):
        text = client.get(url, headers=alice).text
        assert "52000" not in text and "61000" not in text
        last = json.loads(text)["messages"][-1]
        assert last["content"].startswith("(This answer drew on a document you may no longer")
        assert last["details"]["withheld"] is True and last["details"]["unsupported"] == []
        # nor how strongly it matched and how long it was (they measure the withheld text)
        assert not {"evidence", "completion_tokens", "timings"} & set(last["details"])
    model.answer = "Employees in Paris get 27 days [1]."
    client.post(
        "/api/query",
        json={
            "question": "and annual leave in Paris?",
            "conversation_id": asked["conversation_id"],
        },
        headers=alice,
    )
    prompt = " ".join(m["content"] for m in model.prompts[-1])
    assert "salary band C" in prompt  # the owner's own question stays
    assert "52000" not in prompt and "61000" not in prompt
    services.store.set_groups("salaries", frozenset({"hr"}))
    shown = client.get(conversation, headers=alice).json()["messages"][1]
    assert "52000" in shown["content"]  # readable again: shown again


def test_a_model_i_dont_know_that_quoted_a_restricted_figure_is_withheld_too(
    client, services, settings, model, hr_key
):
    """The model's own "I don't know" was kept whole: with its figures when it went on."""
    settings.quote_unsupported = False  # else a quote replaces the draft
    model.answer = "I don't know exactly. Band C salary ranges from 52000 to 61000 euros [1]."
    alice = {"Authorization": f"Bearer {hr_key}"}
    asked = client.post("/api/query", json={"question": "salary band C"}, headers=alice).json()
    assert asked["abstained_by"] == "model" and "52000" in asked["answer"]
    services.store.set_groups("salaries", frozenset({"board"}))
    text = client.get(f"/api/conversations/{asked['conversation_id']}", headers=alice).text
    assert "52000" not in text


def test_answers_through_the_openai_api_are_counted_too(client):
    """/v1 answers were missing from hearth_answers_total: a deployment behind chat clients
    showed no answers at all on its dashboard."""

    def answered() -> float:
        lines = client.get("/metrics").text.splitlines()
        return sum(
            float(line.split()[-1]) for line in lines if line.startswith("hearth_answers_total")
        )

    chat = {"messages": [{"role": "user", "content": "When is the canteen open?"}]}
    before = answered()
    assert client.post("/v1/chat/completions", json=chat).status_code == 200
    assert client.post("/v1/chat/completions", json={**chat, "stream": True}).status_code == 200
    assert answered() == before + 2
    client.post("/v1/chat/completions", json={**chat, "retrieval": False})  # the model alone
    assert answered() == before + 2


def test_an_inference_server_failing_midway_shows_in_the_metrics(client, services):
    """A stream that failed midway was logged "200" and counted nowhere: with the inference
    server down, no metric moved while every answer failed."""

    class FailsMidway(ScriptedChatModel):
        def stream(self, messages, *, max_tokens, temperature=0.0, cancel=None, seed=None):
            def pieces():
                yield "Employees "
                raise UpstreamError("the inference server cannot be reached", status=503)

            return ScriptedStream(pieces(), truncated=False)

    def failed() -> float:
        lines = client.get("/metrics").text.splitlines()
        wanted = 'hearth_errors_total{code="upstream_error"}'
        return sum(float(line.split()[-1]) for line in lines if line.startswith(wanted))

    services.rag.model = services.model = FailsMidway()
    question = {"question": "How many days of annual leave in Paris?"}
    streamed = client.post("/api/query", json={**question, "stream": True})
    assert streamed.status_code == 200 and "event: error" in streamed.text
    assert failed() == 1
    assert client.post("/api/query", json=question).status_code == 503
    chat = {"messages": [{"role": "user", "content": "annual leave in Paris?"}], "stream": True}
    assert '"upstream_error"' in client.post("/v1/chat/completions", json=chat).text
    assert failed() == 3


def test_the_token_counter_counts_what_the_model_wrote_through_every_api(client, model):
    """It counted streamed events: /v1 (one checked chunk) added nothing, an abstention one."""

    def written() -> float:
        lines = client.get("/metrics").text.splitlines()
        return sum(
            float(line.split()[-1]) for line in lines if line.startswith("hearth_tokens_total")
        )

    before = written()
    chat = {"messages": [{"role": "user", "content": "When is the canteen open?"}]}
    assert client.post("/v1/chat/completions", json={**chat, "stream": True}).status_code == 200
    once = written() - before
    assert once == model.count_tokens(model.answer) > 0
    client.post("/api/query", json={"question": "Who won the 1998 World Cup?"}, headers=SESSION)
    assert written() - before == once  # refused before the model: it wrote nothing
    plain = {**chat, "retrieval": False, "stream": True}
    assert client.post("/v1/chat/completions", json=plain).status_code == 200
    assert written() - before > once  # the model alone wrote too


def test_info_says_who_the_caller_is_taken_for(client, settings, hr_key):
    """The page said "Signed in: no" to everyone who came through single sign-on."""
    anonymous = client.get("/api/info").json()["identity"]
    assert anonymous == {"via": "anonymous", "user": None, "groups": ["public"]}
    keyed = client.get("/api/info", headers={"Authorization": f"Bearer {hr_key}"}).json()
    assert keyed["identity"]["via"] == "key" and "hr" in keyed["identity"]["groups"]
    settings.trusted_proxies = PEER[0]
    proxied = client.get(
        "/api/info", headers={"X-Forwarded-User": "carol", "X-Forwarded-Groups": "finance"}
    ).json()["identity"]
    assert proxied == {"via": "proxy", "user": "carol", "groups": ["finance", "public"]}


def test_a_quoted_answer_says_why_as_a_code_and_keeps_it_with_the_conversation(client, model):
    """Clients branch on `quote_reason`, not on the wording of the note in the answer."""
    question = "How many days of annual leave do employees in Paris get?"
    cases = {
        "The CEO owns nine yachts in Monaco.": "unsupported",
        "I don't know.": "model_declined",
        "Employees in the Paris office get annual leave each year [1].": "no_figure",
    }
    for draft, reason in cases.items():
        model.answer = draft
        body = client.post("/api/query", json={"question": question}, headers=SESSION).json()
        assert body["quoted"] and body["quote_reason"] == reason, (draft, body)
        assert "27 days" in body["answer"]
        stored = client.get(f"/api/conversations/{body['conversation_id']}", headers=SESSION).json()
        assert stored["messages"][-1]["details"]["quote_reason"] == reason
        # the first answer's stored details named no conversation (set after they were made)
        assert stored["messages"][-1]["details"]["conversation_id"] == body["conversation_id"]
    model.answer = "Employees in Paris get 27 days [1] of annual leave."
    plain = client.post("/api/query", json={"question": question}).json()
    assert not plain["quoted"] and plain["quote_reason"] is None


def test_a_follow_up_that_leans_on_the_question_before_it_borrows_its_evidence(client, model):
    """Measured on its own words, "Until when?" had no evidence and was refused (20 of 67
    answerable follow-ups in corpus/conversations.jsonl were). A follow-up naming what no
    document holds still gets "I don't know"."""
    first = client.post(
        "/api/query", json={"question": "When does the canteen open?"}, headers=SESSION
    ).json()
    assert not first["abstained"]
    asked = {"conversation_id": first["conversation_id"]}

    def follow(question: str) -> dict:
        return client.post("/api/query", json={"question": question, **asked},
                           headers=SESSION).json()  # fmt: skip

    model.answer = "It serves lunch until 14:00 [1]."
    assert follow("thanks!")["answer"] == "You're welcome."  # in between: not leaned on
    until = follow("Until when?")
    assert not until["abstained"] and until["sources"][0]["document_id"] == "canteen"
    alone = client.post("/api/query", json={"question": "Until when?"}).json()
    assert alone["abstained"]  # nothing to lean on
    assert follow("And is there a sabbatical policy?")["abstained"]  # no document has one


def test_thanks_and_greetings_get_a_reply_not_closest_matches(client, model):
    """ "thanks!" was searched like a question: "I don't know" and four unrelated documents."""
    first = client.post(
        "/api/query", json={"question": "When does the canteen open?"}, headers=SESSION
    ).json()
    calls = len(model.prompts)
    for message, reply in (("thanks!", "You're welcome."), ("Great, thanks a lot", "You're"),
                           ("ok", "You're"), ("thanks for the help", "You're"),
                           ("no thanks", "You're"), ("got it, thanks", "You're"),
                           ("hi!", "Hello!"), ("see you tomorrow", "Goodbye!"),
                           ("bye", "Goodbye!")):  # fmt: skip
        body = client.post("/api/query", json={"question": message,
                                               "conversation_id": first["conversation_id"]},
                           headers=SESSION).json()  # fmt: skip
        assert body["answer"].startswith(reply), (message, body["answer"])
        assert not body["abstained"] and body["sources"] == [] and body["citations"] == []
    assert len(model.prompts) == calls  # nothing asked of the model
    asked = client.post("/api/query", json={"question": "Hi, when does the canteen open?"}).json()
    assert asked["sources"] and asked["sources"][0]["document_id"] == "canteen"
    stored = client.get(f"/api/conversations/{first['conversation_id']}", headers=SESSION).json()
    assert stored["messages"][-1]["content"] == "Goodbye!"


def test_a_host_name_not_allowed_is_refused_even_from_a_trusted_proxy(services, settings):
    """DNS rebinding: a page whose name was rebound to 127.0.0.1 reads Hearth through a
    visitor's browser, its own origin passing the same-origin check."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    settings.allowed_hosts = "127.0.0.1,localhost,::1"
    app = create_app(settings, services=services)
    with TestClient(app, base_url="http://evil.example:8000", client=PEER) as evil:
        refused = evil.get("/api/info")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_host"
        settings.trusted_proxies = PEER[0]  # the rebound browser comes from the proxy's address
        assert evil.get("/api/info").status_code == 400
    with TestClient(app, base_url="http://localhost:8000", client=PEER) as local:
        assert local.get("/api/info").status_code == 200


def write_page(services, doc_id: str, title: str, text: str) -> None:
    """One public Markdown page of one chunk, written (or rewritten) straight to the store."""
    page = Document(
        id=doc_id, source=f"/corpus/{doc_id}.md", title=title, kind="markdown",
        sections=(Section((), text),), groups=frozenset({"public"}), content_hash=text,
    )  # fmt: skip
    vectors = services.embedder.embed_documents([f"{title}\n{text}"])
    services.store.write_document(page, [Chunk(doc_id, text, (), 0, 30)], vectors)
    services.store.publish_vectors()


MEMO = (
    "There were 20,000 bottles of water, 10,000 blankets, and 200 laptops delivered on "
    "January 23, 2023. A total of 3 trucks were used for 15 hours."
)


def test_a_count_of_something_else_that_no_source_counts_is_an_i_dont_know(
    client, model, settings, services
):
    """ "The answer is 200 [1]" for how many tents, cited by "… and 200 laptops delivered …":
    no sentence of the source counts tents, so the sources do not say (the draft is kept)."""
    write_page(services, "memo", "Delivery memo", MEMO)
    settings.abstain_threshold = 0.0  # past retrieval's abstention, as a near miss would be
    model.answer = "The answer is 200 [1]."
    question = "How many tents were delivered with the water and the blankets?"
    body = client.post("/api/query", json={"question": question}, headers=SESSION).json()
    assert body["abstained"] and body["abstained_by"] == "attribution", body
    assert body["answer"].startswith("I don't know") and not body["citations"]
    assert body["sources"] and not body["quoted"]
    stored = client.get(f"/api/conversations/{body['conversation_id']}", headers=SESSION).json()
    assert stored["messages"][-1]["details"]["unsupported"] == ["The answer is 200."]
    # the count asked for, in a source sentence: quoted instead
    model.answer = "A total of 3 trucks were used [1]."
    body = client.post("/api/query", json={"question": "How many laptops were delivered?"}).json()
    assert body["quote_reason"] == "other_count" and "200 laptops" in body["answer"], body
    # a count without its word is no count of something else ("1,200 people", "50 GB")
    model.answer = "The scheme refunds 400 euros [1]."
    body = client.post(
        "/api/query", json={"question": "How many bicycles does the bike scheme refund?"}
    ).json()
    assert not body["abstained"] and not body["quoted"] and body["citations"], body


ESTONIA = (
    "Estonia is a country in Northern Europe. Organs: EU, WTO and OECD. Its capital is Tallinn."
)


def test_a_quote_with_no_moment_for_a_when_question_is_an_i_dont_know(
    client, model, settings, services
):
    """ "Organs: EU, WTO and OECD" for when Estonia joined the OECD: the closest sentence gives
    no date or moment, so the sources do not say; one that gives a date is quoted."""
    write_page(services, "estonia", "Estonia", ESTONIA)
    settings.abstain_threshold = 0.0  # past retrieval's abstention, as a near miss would be
    model.answer = "Estonia joined the OECD after a long process."  # unsupported: a quote
    question = "When did Estonia join the OECD?"
    body = client.post("/api/query", json={"question": question}, headers=SESSION).json()
    assert body["abstained"] and body["abstained_by"] == "attribution", body
    assert body["answer"].startswith("I don't know") and not body["citations"]
    assert body["sources"] and not body["quoted"] and body.get("quote_reason") is None
    # the same question where the source gives the year: the quote stands
    dated = ESTONIA.replace("Organs: EU, WTO and OECD.", "Estonia joined the OECD in 2010.")
    write_page(services, "estonia", "Estonia", dated)
    body = client.post("/api/query", json={"question": question}).json()
    assert not body["abstained"] and body["quoted"] and "in 2010" in body["answer"], body


@pytest.mark.parametrize(
    ("answer", "question", "contradicted"),
    [
        # the model denied the very number its source states (seen on `make run`, session 28)
        ("You can't get 27 days of annual leave in Paris [1].",
         "How many days of annual leave do I get in Paris?", True),
        ("Employees in Paris get 27 days [1] of annual leave each year.",
         "How many days of annual leave do I get in Paris?", False),
        # a number the source does not state, denied: the answer is wrong some other way
        ("You do not get 30 days, you get 27 days [1].",
         "How many days of annual leave do I get in Paris?", False),
        # a question about a negation may be answered by a denial
        ("You can't take 27 days at once [1].",
         "How many days of leave can I not take in Paris?", False),
    ],
)  # fmt: skip
def test_an_answer_denying_the_number_its_source_states_is_a_quote(
    client, model, answer, question, contradicted
):
    model.answer = answer
    body = client.post("/api/query", json={"question": question}).json()
    assert (body["quote_reason"] == "contradicted") is contradicted, body["answer"]
    if contradicted:
        assert body["quoted"] and "27 days" in body["answer"] and "can't" not in body["answer"]
