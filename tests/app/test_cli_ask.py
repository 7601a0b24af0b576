"""`hearth ask` and `hearth keys` against a real server on loopback (fakes behind it)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from app.cli import cli
from app.keys import KeyStore
from app.main import create_app
from index.store import SQLiteStore


@pytest.fixture
def server_url(settings, services):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, services=services), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_ask_streams_the_answer_and_lists_sources(server_url):
    result = CliRunner().invoke(
        cli, ["ask", "How many days of annual leave in Paris?", "--url", server_url]
    )
    assert result.exit_code == 0, result.output
    assert "27 days" in result.output
    assert "Sources:" in result.output and "[1] Annual leave > Paris" in result.output


def test_piped_the_checked_answer_is_printed_once(server_url, model):
    result = CliRunner().invoke(cli, ["ask", "annual leave in Paris", "--url", server_url])
    assert result.exit_code == 0, result.output
    assert result.output.count("27 days") == 1 and "27 days of annual leave [1]." in result.output
    live = CliRunner().invoke(cli, ["ask", "annual leave in Paris", "--url", server_url,
                                    "--stream"])  # fmt: skip
    assert live.output.count("27 days") == 2 and "Answer with citations:" in live.output


def test_ask_shows_the_quote_that_replaces_an_unsupported_draft(server_url, model):
    model.answer = "The CEO owns nine yachts in Monaco."
    result = CliRunner().invoke(
        cli, ["ask", "annual leave in Paris", "--url", server_url, "--stream"]
    )
    assert result.exit_code == 0, result.output
    draft, rest = result.output.split("Instead, from the sources:", 1)
    assert "yachts" in draft  # streamed as it came
    assert "“Employees in the Paris office get 27 days" in rest and "[1]" in rest


def test_ask_json_and_abstention(server_url):
    result = CliRunner().invoke(
        cli, ["ask", "Who won the world cup?", "--url", server_url, "--json"]
    )
    body = json.loads(result.output)
    assert body["abstained"] is True and body["answer"].startswith("I don't know")


def test_ask_with_a_key_reads_restricted_documents(server_url, settings):
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--user",
            "dana",
            "--groups",
            "hr",
            "--data-dir",
            str(settings.data_dir),
        ],
    )
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("hk_")
    result = runner.invoke(
        cli, ["ask", "salary band C range", "--url", server_url, "--key", key, "--json"]
    )
    assert any(s["document_id"] == "salaries" for s in json.loads(result.output)["sources"])
    bad = runner.invoke(cli, ["ask", "salary", "--url", server_url, "--key", "hk_wrong"])
    assert bad.exit_code == 1 and "invalid or revoked API key" in bad.output
    assert "check the key given" in bad.output
    wrong_url = runner.invoke(cli, ["ask", "salary", "--url", f"{server_url}/api", "--key", key])
    assert wrong_url.exit_code == 1 and "give --url the address `hearth serve` prints" in (
        wrong_url.output
    )
    # the conversation's id, needed to follow up, was shown only with --json
    plain = runner.invoke(cli, ["ask", "salary band C range", "--url", server_url, "--key", key])
    said = re.search(r"Follow up with --conversation (\S+)", plain.stderr)
    assert said and said.group(1) not in plain.stdout
    follow = ["ask", "and band D?", "--url", server_url, "--key", key, "--json"]
    again = runner.invoke(cli, [*follow, "--conversation", said.group(1)])
    assert json.loads(again.stdout)["conversation_id"] == said.group(1)


def test_ask_without_a_server_says_so():
    result = CliRunner().invoke(cli, ["ask", "hello", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "is `hearth serve` running?" in result.output


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:abc", "Invalid port"),
        ("http://[::1", "Invalid port"),
        ("notaurl", "it must be an http(s):// URL"),
        ("ftp://127.0.0.1", "it must be an http(s):// URL"),
    ],
)
def test_ask_names_an_invalid_url(url, problem):
    result = CliRunner().invoke(cli, ["ask", "xyzzy", "--url", url])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: invalid --url {url!r}: {problem}")


def test_keys_list_says_when_there_are_none(tmp_path):
    SQLiteStore(tmp_path).close()
    listed = CliRunner().invoke(cli, ["keys", "list", "--data-dir", str(tmp_path)])
    assert listed.exit_code == 0
    assert listed.stdout == "" and "hearth keys create --user NAME" in listed.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["keys", "revoke", "abc123"],
        ["keys", "create", "--user", "alice"],  # the real server would refuse the key
        ["status"],
        ["serve"],
        ["eval"],
    ],
)
def test_commands_that_read_the_index_name_a_missing_one_alike_and_create_nothing(
    tmp_path, command
):
    """A mistyped --data-dir is named, in the same words by every command, and not made."""
    nope = tmp_path / "nope"
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Q?"}\n')
    args = [*command, *([str(questions)] if command == ["eval"] else []), "--data-dir", str(nope)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert (
        said == f"error: no index in {nope}/ yet: run `hearth ingest PATH --data-dir {nope}` first"
    )
    assert not nope.exists()


@pytest.mark.parametrize("groups", ["", " , "])
def test_keys_create_refuses_an_empty_group_list(tmp_path, groups):
    SQLiteStore(tmp_path).close()
    args = ["keys", "create", "--user", "alice", "--groups", groups, "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "a key needs at least one group" in result.output
    assert "hk_" not in result.output


def keys_cli(tmp_path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["keys", *args, "--data-dir", str(tmp_path)])


@pytest.mark.parametrize("user", ["proxy:carol", "Anonymous", "anonymous:abc"])
def test_keys_refuse_the_names_hearth_gives_callers_without_a_key(tmp_path, user):
    """A key named "proxy:carol" read the conversations of carol signed in through the proxy."""
    SQLiteStore(tmp_path).close()
    result = keys_cli(tmp_path, "create", "--user", user)
    assert result.exit_code == 2 and "is reserved" in result.output and "hk_" not in result.output


def test_a_key_made_with_a_reserved_name_before_the_rule_grants_nothing(tmp_path):
    SQLiteStore(tmp_path).close()
    keys = KeyStore(tmp_path)
    key, _ = keys.create("carol", "hr")
    with keys._db.transaction(write=True) as tx:
        tx.execute('UPDATE api_keys SET "user" = ?', ("proxy:carol",))
    assert keys.verify(key) is None


def test_a_leaked_key_is_revoked_by_the_key_itself_and_list_says_when_keys_were_made(tmp_path):
    SQLiteStore(tmp_path).close()
    leaked = keys_cli(tmp_path, "create", "--user", "alice").stdout.strip()
    kept = keys_cli(tmp_path, "create", "--user", "alice").stdout.strip()
    listed = keys_cli(tmp_path, "list").stdout
    assert (
        listed.count("alice  public  created 20") == 2 and listed.count("never used  active") == 2
    )
    revoked = keys_cli(tmp_path, "revoke", leaked)
    assert revoked.exit_code == 0 and revoked.stdout.startswith("revoked ")
    assert leaked not in revoked.output  # the id is named, not the key
    keys = KeyStore(tmp_path)
    assert keys.verify(leaked) is None and keys.verify(kept) is not None
    again = keys_cli(tmp_path, "revoke", leaked)
    assert again.exit_code == 1 and "no active key with that key" in again.output
    after = keys_cli(tmp_path, "list").stdout.splitlines()
    assert "UTC  last used 20" in after[1] and after[1].endswith(" UTC  active")  # verified above
    assert "never used  revoked 20" in after[0]


def test_ask_on_an_index_with_nothing_readable_prints_no_empty_heading(server_url, services):
    services.store.delete_documents([str(row[0]) for row in services.store.execute(
        "SELECT id FROM documents"
    )])  # fmt: skip
    result = CliRunner().invoke(cli, ["ask", "Leave in Paris?", "--url", server_url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("I don't know.") and "comes close" in result.output
    assert "Closest matches" not in result.output and "listed as sources" not in result.output


def test_forget_revokes_a_users_keys_and_deletes_their_conversations_for_good(tmp_path):
    """Conversations belong to the user name: a new key for the name read the old questions."""
    from app.conversations import ConversationStore

    SQLiteStore(tmp_path).close()
    first = keys_cli(tmp_path, "create", "--user", "alice").stdout.strip()
    assert "note:" not in keys_cli(tmp_path, "create", "--user", "bob").output
    conversations = ConversationStore(tmp_path)
    for owner, question in (("alice", "ZEBRA salary question"), ("bob", "bob's question")):
        conversation = conversations.create(owner, "t")
        conversations.add_message(conversation, owner, "user", question, {})
    again = keys_cli(tmp_path, "create", "--user", "alice")
    assert "note: alice already has 1 active key and 1 conversation" in " ".join(
        again.output.split()
    )

    refused = keys_cli(tmp_path, "forget", "alice")  # no terminal to confirm on
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert KeyStore(tmp_path).verify(first) is not None

    forgot = keys_cli(tmp_path, "forget", "alice", "--yes")
    assert forgot.exit_code == 0, forgot.output
    assert forgot.stdout.strip() == "alice: revoked 2 keys, deleted 1 conversation (1 message)"
    assert KeyStore(tmp_path).verify(first) is None
    assert conversations.list_for("alice") == [] and len(conversations.list_for("bob")) == 1
    files = b"".join(p.read_bytes() for p in tmp_path.glob("hearth.sqlite3*"))
    assert b"ZEBRA salary" not in files and b"bob's question" in files
    fresh = keys_cli(tmp_path, "create", "--user", "alice")
    assert "note:" not in fresh.output  # revoked keys of a forgotten name do not count
    nothing = keys_cli(tmp_path, "forget", "carol", "--yes")
    assert (
        nothing.exit_code == 0 and "carol has no active key and no conversation" in nothing.output
    )
