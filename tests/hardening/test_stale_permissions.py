"""Row 3, stale permissions: change a document's groups or revoke a key, then ask at once.

Each trial first makes a request that does see the document (so any per-ACL-version cache is
warm), then changes the permission, then checks the very next request. The change is made
either through the app's own store or through a second connection to the same data folder
(what `hearth ingest` or `hearth keys revoke` in another process does).
"""

from __future__ import annotations

import random

import pytest
from hardkit import CANARIES, auth

from app.keys import KeyStore
from index.store import SQLiteStore

pytestmark = pytest.mark.hardening

TRIALS = 100
SECRET = CANARIES["hr"]
QUESTION = "salary band C CANARY HR 7731 ranges"
ROUTES = ["search", "query", "stream", "v1", "document"]


def echo(messages):
    return " ".join(m["content"] for m in messages)


def ask(client, route: str, headers: dict[str, str]):
    if route == "search":
        return client.post("/api/search", json={"query": QUESTION, "top_k": 20}, headers=headers)
    if route in ("query", "stream"):
        body = {"question": QUESTION, "stream": route == "stream"}
        return client.post("/api/query", json=body, headers=headers)
    if route == "v1":
        body = {"messages": [{"role": "user", "content": QUESTION}]}
        return client.post("/v1/chat/completions", json=body, headers=headers)
    return client.get("/api/documents/salaries", headers=headers)


def test_regrouping_takes_effect_on_the_next_request(client, services, model, settings):
    model.answer = echo
    other = SQLiteStore(settings.data_dir, vector_kind="exact")  # another process's connection
    rng = random.Random(7)
    anonymous = {"X-Hearth-Session": "stale-session-0123456789"}
    finance = auth(services.keys.create("fin", "finance")[0])
    leaks, seen_before = [], 0
    try:
        for trial in range(TRIALS):
            route = ROUTES[trial % len(ROUTES)]
            writer = other if rng.random() < 0.5 else services.store
            # Opened to everyone; the next request sees it (warms every cache).
            writer.set_groups("salaries", frozenset({"public"}))
            before = ask(client, route, anonymous)
            seen_before += SECRET in before.text
            # Closed again: the very next request must not see it, for either caller.
            target, caller = rng.choice([({"hr"}, anonymous), ({"hr"}, finance)])
            writer.set_groups("salaries", frozenset(target))
            after = ask(client, route, caller)
            assert after.status_code in (200, 404), after.text[:200]
            if SECRET in after.text:
                leaks.append((trial, route, writer is other))
    finally:
        other.close()
    print(f"regroup: {TRIALS} trials, {len(leaks)} leaks, visible before in {seen_before}")
    assert leaks == []
    assert seen_before == TRIALS  # every trial really had the document visible first


def test_a_revoked_key_fails_on_the_next_request(client, services, model, settings):
    model.answer = echo
    other = KeyStore(settings.data_dir)  # `hearth keys revoke` from another process
    leaks, statuses = [], set()
    for trial in range(TRIALS):
        route = ROUTES[trial % len(ROUTES)]
        key, info = services.keys.create(f"user{trial}", "hr")
        before = ask(client, route, auth(key))
        assert before.status_code == 200 and SECRET in before.text, (route, before.text[:200])
        (other if trial % 2 else services.keys).revoke(info.id)
        after = ask(client, route, auth(key))
        statuses.add(after.status_code)
        if after.status_code != 401 or SECRET in after.text:
            leaks.append((trial, route, after.status_code))
    print(f"revoke: {TRIALS} trials, {len(leaks)} leaks, statuses after {sorted(statuses)}")
    assert leaks == []
