"""Randomized ACL check: across every route, nothing from a document outside the caller's
groups ever appears — not a chunk, title, snippet, citation, or a word in the model's prompt.

The scripted model echoes its whole prompt back as the answer, so a restricted passage that
reached the prompt would show up in the response.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Strings a caller cannot produce from WORDS (joined by spaces), so an echo of the caller's own
# question is never mistaken for a leak.
SECRETS = {
    "hr": ["CANARY-HR-7731", "Salary bands", "ranges from 52000 to 61000"],
    "finance": ["CANARY-FIN-2294", "Budget thresholds", "needs CFO approval"],
}
WORDS = [
    "salary", "band", "CANARY", "HR", "7731", "FIN", "2294", "budget", "thresholds", "CFO",
    "approval", "euros", "leave", "Paris", "Berlin", "canteen", "bike", "annual", "52000",
    "5000", "spending", "the", "what", "is", "\"", "*", "OR", "title:",
]  # fmt: skip
EXAMPLES = int(os.environ.get("HEARTH_ACL_EXAMPLES", "500" if os.environ.get("CI") else "150"))


def echo(messages):
    return " ".join(m["content"] for m in messages)


@pytest.fixture
def principals(services):
    keys = {"anonymous": None}
    for name, groups in {"hr": "hr", "finance": "finance", "both": "hr,finance"}.items():
        keys[name] = services.keys.create(name, groups)[0]
    return keys


def forbidden(principal: str) -> list[str]:
    allowed = {"hr": {"hr"}, "finance": {"finance"}, "both": {"hr", "finance"}}.get(
        principal, set()
    )
    return [s for group, secrets in SECRETS.items() if group not in allowed for s in secrets]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    principal=st.sampled_from(["anonymous", "hr", "finance", "both"]),
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6),
    route=st.sampled_from(["query", "stream", "search", "document", "openai", "conversation"]),
    document=st.sampled_from(["salaries", "budget", "leave", "canteen"]),
)
def test_no_restricted_content_reaches_a_caller(
    client, model, principals, principal, words, route, document
):
    model.answer = echo
    key = principals[principal]
    headers = {"Authorization": f"Bearer {key}"} if key else {"X-Hearth-Session": "s" * 20}
    question = " ".join(words)
    if route == "query":
        response = client.post("/api/query", json={"question": question}, headers=headers)
    elif route == "stream":
        response = client.post(
            "/api/query", json={"question": question, "stream": True}, headers=headers
        )
    elif route == "search":
        response = client.post(
            "/api/search", json={"query": question, "top_k": 10}, headers=headers
        )
    elif route == "document":
        response = client.get(f"/api/documents/{document}", headers=headers)
    elif route == "openai":
        response = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": question}]},
            headers=headers,
        )
    else:
        asked = client.post("/api/query", json={"question": question}, headers=headers).json()
        conversation = asked.get("conversation_id")
        response = client.get(f"/api/conversations/{conversation}/export", headers=headers)
    assert response.status_code in (200, 404), response.text
    for secret in forbidden(principal):
        assert secret not in response.text, (principal, route, secret)
    for prompt in model.prompts:
        for secret in forbidden(principal):
            assert secret not in echo(prompt)
    model.prompts.clear()


def test_allowed_callers_do_see_their_documents(client, principals, model):
    """The property above must be able to fail: the same routes do show permitted text."""
    model.answer = echo
    headers = {"Authorization": f"Bearer {principals['hr']}"}
    body = client.post("/api/query", json={"question": "salary band CANARY"}, headers=headers)
    assert "CANARY-HR-7731" in body.text
    assert "CANARY-HR-7731" in client.get("/api/documents/salaries", headers=headers).text
