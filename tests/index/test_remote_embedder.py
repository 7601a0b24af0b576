"""HEARTH_EMBED_URL: documents embedded by an OpenAI-compatible server, queries locally.

Against a real HTTP server on loopback (tests/embedding_server.py), never a mocked transport.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from embedding_server import EmbeddingServer
from fakes import HashEmbedder

from app.cli import cli
from index.errors import ConfigurationError, EmbedderMismatchError, UpstreamError
from index.remote_embedder import PROBES, RemoteEmbedder
from index.search import dense_top_k
from index.store import SQLiteStore

PUBLIC = frozenset({"public"})
CORPUS = Path(__file__).resolve().parents[2] / "corpus"
TEXTS = [f"document number {i} about topic {i % 3}" for i in range(7)]


def test_documents_are_embedded_remotely_in_batches_and_match_local():
    local = HashEmbedder()
    with EmbeddingServer(HashEmbedder()) as server:
        remote = RemoteEmbedder(server.url, local, batch_size=3, model="minilm")
        vectors = remote.embed_documents(TEXTS)
        np.testing.assert_allclose(vectors, local.embed_documents(TEXTS), atol=1e-6)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
        # the probe check once, then ceil(7 / 3) batches; nothing else
        assert [len(r) for r in server.requests] == [len(PROBES), 3, 3, 1]
        assert server.requests[0] == list(PROBES)
        remote.embed_query("a question")  # queries stay local
        assert server.texts_served == len(PROBES) + len(TEXTS)
        assert remote.embed_documents([]).shape == (0, local.dim)
        remote.close()
    assert (remote.model_id, remote.dim, remote.max_tokens) == (
        local.model_id,
        local.dim,
        local.max_tokens,
    )
    assert remote.count_tokens("two words") == local.count_tokens("two words")


def test_a_server_running_another_model_is_refused():
    with (
        EmbeddingServer(HashEmbedder(dim=32)) as server,
        pytest.raises(EmbedderMismatchError, match="32-d vectors"),
    ):
        RemoteEmbedder(server.url, HashEmbedder()).verify()
    with EmbeddingServer(HashEmbedder()) as server:
        server.permute = True  # same size, different vectors: another model
        remote = RemoteEmbedder(server.url, HashEmbedder())
        with pytest.raises(EmbedderMismatchError, match="does not run the local embedder"):
            remote.embed_documents(TEXTS)
        assert server.texts_served == len(PROBES)  # no document was sent


def test_upstream_failures_are_clear_errors():
    with EmbeddingServer(HashEmbedder()) as server:
        remote = RemoteEmbedder(server.url, HashEmbedder(), timeout=0.5)
        remote.verify()
        server.fail_with = 500
        with pytest.raises(UpstreamError, match="HTTP 500: the model is overloaded") as caught:
            remote.embed_documents(TEXTS)
        assert caught.value.status == 502
        server.fail_with, server.stall = None, 2.0
        with pytest.raises(UpstreamError, match="timed out") as caught:
            remote.embed_documents(TEXTS[:1])
        assert caught.value.status == 504
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(UpstreamError, match="cannot reach") as caught:
        RemoteEmbedder(f"http://127.0.0.1:{closed_port}/v1", HashEmbedder()).verify()
    assert caught.value.status == 503
    with pytest.raises(ConfigurationError):
        RemoteEmbedder("ftp://example/v1", HashEmbedder())


def test_hearth_ingest_with_embed_url(tmp_path):
    data = tmp_path / "data"
    local = HashEmbedder()
    obj = {"embedder_factory": lambda _path: local}
    with EmbeddingServer(HashEmbedder()) as server:
        args = ["ingest", str(CORPUS / "handbook"), "--data-dir", str(data), "--json"]
        result = CliRunner().invoke(cli, args, obj=obj, env={"HEARTH_EMBED_URL": server.url})
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["added"] > 0 and server.texts_served == len(PROBES) + report["chunks"]
        assert local.embedded == list(PROBES)  # locally: only the probes, for the check
        server.permute = True
        refused = CliRunner().invoke(cli, [*args, "--embed-url", server.url], obj=obj)
        assert refused.exit_code == 2 and "does not run the local" in refused.output
    store = SQLiteStore(data)
    assert store.manifest()["embedder"] == local.model_id  # the guard for queries still holds
    store.open_vectors()
    found = dense_top_k(store, local, "annual leave days", PUBLIC, 3)
    assert found and found[0].document.source.endswith(".md")
    store.close()


@pytest.mark.integration
def test_minilm_served_remotely_agrees_with_the_local_minilm():
    """The bundled MiniLM behind the server and in this process: accepted, same vectors."""
    from index.embedder import SentenceTransformerEmbedder

    served, local = SentenceTransformerEmbedder(), SentenceTransformerEmbedder()
    with EmbeddingServer(served, model="all-MiniLM-L6-v2") as server:
        remote = RemoteEmbedder(server.url, local, batch_size=16)
        texts = [p.read_text()[:2000] for p in sorted((CORPUS / "handbook").rglob("*.md"))[:8]]
        np.testing.assert_allclose(
            remote.embed_documents(texts), local.embed_documents(texts), atol=1e-4
        )
        assert remote.model_id == local.model_id
