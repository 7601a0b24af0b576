"""Row 4, IDOR: caller B tries caller A's conversation, message (feedback) and export ids.

A asks 125 questions (each a new conversation with a user and an assistant message), so B
gets 500 of A's ids (125 conversations, 125 exports, 250 messages) and tries every route that
takes one. Every answer must be 404, carry none of A's text, and leave A's data untouched.

A's secrets are markers planted in every question and answer, found wherever they end up in the
stored text (the pipeline may append a citation, an "unsupported" note, or abstain), from a
seeded generator: the run is the same every time. (The earlier version took each message's last
word as its marker and drew the markers from uuid4, so retrieval evidence - and whether an
answer was decorated or abstained - changed from run to run: the "IDOR failure" was that
setup assertion, never a leak.)
"""

from __future__ import annotations

import random
import re

import pytest
from fakes import ScriptedChatModel
from fastapi.testclient import TestClient
from hardkit import auth, make_services

from app.main import create_app

pytestmark = pytest.mark.hardening

CONVERSATIONS = 125
MARKER = re.compile(r"(?:QUESTION|ANSWER)-[0-9a-f-]+")


@pytest.fixture
def answering(tmp_path):
    """The app with abstention off, so that every question gets an answer carrying A's marker
    whatever the default threshold is."""
    model = ScriptedChatModel()
    services, settings = make_services(tmp_path / "idor", model, abstain_threshold=0.0)
    with TestClient(create_app(settings, services=services)) as client:
        yield client, services, model
    services.store.close()


def test_caller_b_gets_404_and_nothing_of_a(answering):
    client, services, model = answering
    rng = random.Random(4)
    model.answer = lambda messages: (
        f"Employees in Paris get 27 days of annual leave. ANSWER-{rng.randbytes(6).hex()}"
    )
    a = auth(services.keys.create("alice", "hr")[0])
    a_secrets: list[str] = []
    conversations, messages = [], []
    for i in range(CONVERSATIONS):
        question = f"annual leave in Paris QUESTION-{i:03d}-{rng.randbytes(5).hex()}"
        body = client.post("/api/query", json={"question": question}, headers=a).json()
        conversations.append(body["conversation_id"])
        stored = client.get(f"/api/conversations/{body['conversation_id']}", headers=a).json()
        for message in stored["messages"]:
            messages.append(message["id"])
            a_secrets.extend(MARKER.findall(message["content"]))
    assert len(conversations) + len(conversations) + len(messages) == 500
    assert sum(s.startswith("QUESTION-") for s in a_secrets) == CONVERSATIONS
    assert sum(s.startswith("ANSWER-") for s in a_secrets) == CONVERSATIONS
    before = {
        c: client.get(f"/api/conversations/{c}/export", headers=a).text for c in conversations
    }

    callers = {
        "key": auth(services.keys.create("bob", "hr,finance")[0]),
        "session": {"X-Hearth-Session": "bob-browser-session-0123456789"},
    }
    attempts, failures = 0, []
    for name, b in callers.items():
        for c in conversations:
            tries = [
                client.get(f"/api/conversations/{c}", headers=b),
                client.get(f"/api/conversations/{c}/export", headers=b),
                client.patch(f"/api/conversations/{c}", json={"title": "pwned"}, headers=b),
                client.delete(f"/api/conversations/{c}", headers=b),
                client.post(
                    "/api/query",
                    json={"question": "and in Berlin?", "conversation_id": c},
                    headers=b,
                ),
            ]
            for response in tries:
                attempts += 1
                if response.status_code != 404 or any(s in response.text for s in a_secrets):
                    failures.append((name, c, response.status_code, response.text[:200]))
        for m in messages:
            attempts += 1
            response = client.post(
                f"/api/messages/{m}/feedback", json={"rating": "down", "comment": "x"}, headers=b
            )
            if response.status_code != 404 or any(s in response.text for s in a_secrets):
                failures.append((name, m, response.status_code, response.text[:200]))
        listed = client.get("/api/conversations", headers=b).json()["conversations"]
        assert not {c["id"] for c in listed} & set(conversations)
    print(f"IDOR: {attempts} attempts by B on 500 of A's ids, {len(failures)} not 404 or leaking")
    assert failures == []
    after = {c: client.get(f"/api/conversations/{c}/export", headers=a).text for c in conversations}
    assert after == before  # nothing renamed, deleted or appended
    feedback = services.store.execute("SELECT count(*) FROM feedback")[0][0]
    assert feedback == 0


def test_ids_that_are_not_ids_are_404_too(client, services):
    b = auth(services.keys.create("bob", "hr")[0])
    for weird in ["%00", "..%2F..%2Fetc%2Fpasswd", "' OR '1'='1", "*", "a" * 300, "%E2%80%AE"]:
        for response in (
            client.get(f"/api/conversations/{weird}", headers=b),
            client.get(f"/api/conversations/{weird}/export", headers=b),
            client.delete(f"/api/conversations/{weird}", headers=b),
            client.post(f"/api/messages/{weird}/feedback", json={"rating": "up"}, headers=b),
        ):
            assert response.status_code == 404, (weird, response.status_code, response.text[:200])


def test_anonymous_callers_without_a_session_do_not_share_conversations(client):
    """Two API clients without a key or session header are the same principal ("anonymous");
    whatever one asks must not be listed to the other."""
    question = f"annual leave in Paris PRIVATE-{random.Random(5).randbytes(4).hex()}"
    first = client.post("/api/query", json={"question": question})
    assert first.status_code == 200
    listed = client.get("/api/conversations").json()["conversations"]
    exported = [client.get(f"/api/conversations/{c['id']}/export").text for c in listed]
    assert not any(question in text for text in exported)
    assert question.split()[-1] not in client.get("/api/conversations").text
