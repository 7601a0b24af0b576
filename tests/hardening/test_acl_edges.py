"""Row 2, ACL edges: a caller with no groups or unknown groups, a document with no groups, odd
characters and case in group names, chunks without an ACL row — fail closed on every route.

The scripted model echoes its prompt, so a restricted passage that reached the prompt would
show up in the answer; every route's whole response text is searched for the canaries.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

import pytest
from fakes import PEER, HashEmbedder
from hardkit import CANARIES, RESTRICTED_DOCS, auth

from app.deps import _proxy_groups
from index.errors import InvalidGroupError, StoreError
from index.search import bm25_top_k, dense_top_k
from index.store import DB_NAME, SQLiteStore
from index.types import Chunk, Document, Section, normalize_group, parse_groups
from ingest.pipeline import IngestOptions, Ingestor

pytestmark = pytest.mark.hardening

QUESTIONS = [
    "salary band C CANARY HR 7731",
    "budget thresholds CFO approval CANARY FIN 2294",
    "Project Heron merger CANARY BOARD 5120",
    "annual leave in Paris",
]
ALL_DOCS = ["leave", "canteen", "bikes", "salaries", "budget", "merger"]


def echo(messages):
    return " ".join(m["content"] for m in messages)


def every_route(client, headers: dict[str, str], question: str) -> list[tuple[str, int, str]]:
    """(route, status, body) for every route that can show document text."""
    out = []
    for stream in (False, True):
        r = client.post(
            "/api/query", json={"question": question, "stream": stream}, headers=headers
        )
        out.append((f"query stream={stream}", r.status_code, r.text))
    r = client.post("/api/search", json={"query": question, "top_k": 50}, headers=headers)
    out.append(("search", r.status_code, r.text))
    for stream in (False, True):
        r = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": question}], "stream": stream},
            headers=headers,
        )
        out.append((f"v1 stream={stream}", r.status_code, r.text))
    for doc in ALL_DOCS:
        r = client.get(f"/api/documents/{doc}", headers=headers)
        out.append((f"document {doc}", r.status_code, r.text))
    r = client.get("/api/conversations", headers=headers)
    for conversation in r.json().get("conversations", []):
        got = client.get(f"/api/conversations/{conversation['id']}/export", headers=headers)
        out.append(("export", got.status_code, got.text))
    return out


def assert_no_canary(responses, allowed: set[str] = frozenset(), also: tuple[str, ...] = ()):
    forbidden = [c for g, c in CANARIES.items() if g not in allowed] + list(also)
    for route, status, body in responses:
        assert status < 500, (route, status, body[:300])
        for secret in forbidden:
            assert secret not in body, (route, secret)


@pytest.mark.parametrize("caller", ["anonymous", "nogroups", "unknown"])
def test_callers_without_a_matching_group_see_public_only(client, model, keys, caller):
    model.answer = echo
    headers = auth(keys[caller]) or {"X-Hearth-Session": "edge-session-0123456789"}
    for question in QUESTIONS:
        responses = every_route(client, headers, question)
        assert_no_canary(responses)
        statuses = {route: status for route, status, _ in responses}
        for doc in RESTRICTED_DOCS:
            assert statuses[f"document {doc}"] == 404
        assert statuses["document leave"] == 200  # public still readable: not failing open/shut
    for prompt in model.prompts:
        assert not any(c in echo(prompt) for c in CANARIES.values())
    info = client.get("/api/info", headers=headers).json()
    assert info["documents"] == 3


def test_the_check_can_fail(client, model, keys):
    """The same probes do show a group's canary to its members (the test is not vacuous)."""
    model.answer = echo
    responses = every_route(client, auth(keys["all"]), QUESTIONS[0])
    assert any(CANARIES["hr"] in body for _, _, body in responses)
    assert_no_canary(responses, allowed={"hr", "finance", "board"})


def test_store_refuses_documents_and_regroupings_with_no_groups(services):
    store = services.store
    document = Document(
        "nogroups",
        "/x",
        "No groups",
        "text",
        (Section((), "orphan text"),),
        groups=frozenset(),
        content_hash="h",
    )
    chunk = Chunk("nogroups", "orphan text", (), 0, 4)
    with pytest.raises(StoreError):
        store.write_document(document, [chunk], HashEmbedder().embed_documents(["orphan text"]))
    with pytest.raises(StoreError):
        store.set_groups("salaries", frozenset())
    assert store.document_state_of("nogroups") is None
    assert store.document_state_of("salaries")[1] == {"hr"}  # unchanged by the refused call


def test_ingest_with_an_empty_group_set_stores_nothing_readable(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "orphan.txt").write_text("Orphan\n\nThe orphan policy text CANARY-ORPHAN-1.\n")
    store = SQLiteStore(tmp_path / "data")
    embedder = HashEmbedder()
    with contextlib.suppress(StoreError):  # refusing the whole run is fail-closed too
        Ingestor(store, embedder).run(
            [root], IngestOptions(groups=frozenset(), isolate_parsers=False)
        )
    orphans = store.execute(
        "SELECT count(*) FROM chunks c WHERE NOT EXISTS"
        " (SELECT 1 FROM acl a WHERE a.chunk_rowid = c.rowid)"
    )
    assert orphans[0][0] == 0
    for groups in (frozenset({"public"}), frozenset({"hr", "public"})):
        assert bm25_top_k(store, "orphan policy", groups, 5) == []
    store.close()


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("HR", "hr"), ("  Hr ", "hr"), ("FINANCE", "finance"), ("team.a:b-c_d", "team.a:b-c_d")],
)
def test_group_names_are_case_and_space_insensitive(raw, canonical):
    assert normalize_group(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "", "   ", "h r", "hr,finance", "hr;drop table acl", "hr\u200b", "\u200bhr", "hr\x00",
        "ｈｒ",  # fullwidth
        "hr\u202e", "h\u0301r", "*", "%", "hr/..", "a" * 65, "\U000e0068\U000e0072",
        "\u212aey",  # KELVIN SIGN: casefolds to "k"
        "ſales",  # LONG S: casefolds to "s"
        "ﬅaff",  # ligature st: casefolds to "st"
        "İt",  # dotted capital I
    ],
)  # fmt: skip
def test_odd_group_names_are_refused_not_mapped_onto_another_group(raw):
    """normalize_group promises "names with odd characters are refused instead of silently
    matching something else": a non-ASCII name must never come out as an ASCII group."""
    with pytest.raises(InvalidGroupError):
        normalize_group(raw)


def test_proxy_groups_with_odd_names_grant_nothing_but_public():
    assert _proxy_groups("HR , Finance") == {"hr", "finance", "public"}
    assert _proxy_groups("h r, hr\u200b, ｈｒ, *, , ;") == {"public"}


def test_keys_refuse_odd_group_names(services):
    for bad in ("hr;finance", "h r", "hr\u200b", "ｈｒ"):
        with pytest.raises(InvalidGroupError):
            services.keys.create("mallory", bad)
    assert parse_groups(" HR, finance ,") == {"hr", "finance"}


def test_mixed_case_groups_from_a_trusted_proxy_read_the_group(client, settings, model):
    model.answer = echo
    settings.trusted_proxies = PEER[0]
    headers = {"X-Forwarded-User": "carol", "X-Forwarded-Groups": " HR "}
    body = client.post("/api/search", json={"query": "salary band"}, headers=headers).json()
    assert body["passages"][0]["document_id"] == "salaries"
    # Header bytes are Latin-1 on the wire: UTF-8 look-alikes arrive as odd Latin-1 text.
    headers["X-Forwarded-Groups"] = "H R, hr\u200b, ｈｒ, \u212aey".encode()  # type: ignore[assignment]
    responses = every_route(client, headers, QUESTIONS[0])
    assert_no_canary(responses)


def test_a_document_stored_with_uncanonical_groups_is_readable_by_nobody(services, client, model):
    """If something wrote 'HR' (not canonical) straight into the store, it fails closed."""
    model.answer = echo
    embedder = services.embedder
    text = "Hidden grades list CANARY-UPPER-4410"
    document = Document(
        "upper",
        "/x",
        "Grades",
        "text",
        (Section((), text),),
        groups=frozenset({"HR"}),
        content_hash="u",
    )
    services.store.write_document(
        document, [Chunk("upper", text, (), 0, 6)], embedder.embed_documents([text])
    )
    services.store.publish_vectors()
    key = services.keys.create("hr-user", "hr")[0]
    responses = every_route(client, auth(key), "hidden grades list CANARY UPPER 4410")
    assert_no_canary(responses, allowed={"hr"}, also=("CANARY-UPPER-4410",))


def _drop_acl(services, where: str) -> None:
    """Delete ACL rows behind the store's back (another process, a bug, a bad migration)."""
    conn = sqlite3.connect(services.store.data_dir / DB_NAME)
    conn.execute(f"DELETE FROM acl WHERE chunk_rowid IN ({where})")
    conn.execute("UPDATE manifest SET value = CAST(value AS INTEGER) + 1 WHERE key='acl_version'")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("caller", ["anonymous", "all"])
def test_chunks_without_an_acl_row_are_invisible_on_every_route(
    client, services, model, keys, caller
):
    model.answer = echo
    # The Paris chunk of the public "leave" document, and the whole "canteen" document.
    _drop_acl(
        services,
        "SELECT c.rowid FROM chunks c JOIN documents d ON d.rowid = c.document_rowid"
        " WHERE (d.id = 'leave' AND c.position = 0) OR d.id = 'canteen'",
    )
    headers = auth(keys[caller]) or {"X-Hearth-Session": "edge-session-0123456789"}
    gone = ("27 days", "canteen opens at 11:30")
    for question in ("annual leave in Paris", "When does the canteen open?"):
        responses = every_route(client, headers, question)
        for route, status, body in responses:
            assert status < 500, (route, body[:200])
            for text in gone:
                assert text not in body, (caller, route, text)
        statuses = {route: status for route, status, _ in responses}
        assert statuses["document canteen"] == 404
        assert statuses["document leave"] == 200  # the Berlin chunk still has its row
    store, groups = services.store, frozenset({"public", "hr", "finance", "board"})
    assert all(p.document.id != "canteen" for p in bm25_top_k(store, "canteen", groups, 10))
    embedder = services.embedder
    assert all(
        p.document.id != "canteen" for p in dense_top_k(store, embedder, "canteen", groups, 10)
    )
    info = client.get("/api/info", headers=headers).json()
    assert info["documents"] == 2 + (3 if caller == "all" else 0)  # canteen not counted


def test_an_unusable_proxy_group_is_logged_once(client, settings, caplog):
    """A group such as "Human Resources" or an LDAP DN from the proxy granted nothing, silently."""
    settings.trusted_proxies = PEER[0]
    headers = {"X-Forwarded-User": "carol", "X-Forwarded-Groups": "Human Resources, hr"}
    with caplog.at_level(logging.WARNING, logger="app.deps"):
        for _ in range(3):
            client.post("/api/search", json={"query": "salary band"}, headers=headers)
    said = [r.getMessage() for r in caplog.records if "groups header is ignored" in r.message]
    assert len(said) == 1 and "'human resources'" in said[0].lower()
