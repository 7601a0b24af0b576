"""The real embedder (bundled all-MiniLM-L6-v2): loads offline, opens no socket, ranks sensibly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_embedder():
    from index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(backend="torch")  # the reference the others are held to


def test_vectors_are_unit_length_and_meaningful(real_embedder):
    vectors = real_embedder.embed_documents(
        ["Employees in Paris get 27 days of annual leave.", "The canteen serves lunch at noon."]
    )
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    query = real_embedder.embed_query("How many vacation days do Paris staff have?")
    assert float(vectors[0] @ query) > float(vectors[1] @ query) + 0.2
    assert real_embedder.max_tokens == 256
    assert real_embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]
    assert real_embedder.model_id.startswith("all-MiniLM-L6-v2@")


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import socket, json
    attempts = []
    def guard(self, address):
        attempts.append(repr(address))
        raise OSError("network disabled by test")
    socket.socket.connect = guard
    socket.socket.connect_ex = lambda self, address: attempts.append(repr(address)) or 111
    from index.embedder import SentenceTransformerEmbedder
    embedder = SentenceTransformerEmbedder(ARGUMENTS)
    vector = embedder.embed_query("offline check")
    print(json.dumps({"attempts": attempts, "dim": int(vector.shape[0])}))
    """
)


def run_offline(home, arguments: str = "") -> subprocess.CompletedProcess[str]:
    """Load the embedder (`SentenceTransformerEmbedder(arguments)`) and embed a query in a fresh
    interpreter with no HF_* variables and HOME at `home`, every connect() recorded and refused."""
    script = OFFLINE_SCRIPT.replace("ARGUMENTS", arguments)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def embed_offline(home, arguments: str = "") -> str:
    """The JSON line `run_offline` printed (connection attempts, vector size)."""
    return run_offline(home, arguments).stdout.strip().splitlines()[-1]


def test_loading_and_embedding_open_no_outbound_socket(tmp_path):
    """In a fresh interpreter with the environment cleared of HF_* variables: the code itself
    must switch the hub off. Every connect() is recorded; none may happen."""
    assert embed_offline(tmp_path) == '{"attempts": [], "dim": 384}'


def test_other_model_folder_is_refused_by_the_store(tmp_path, real_embedder):
    from fakes import HashEmbedder

    from index.errors import EmbedderMismatchError
    from index.store import SQLiteStore

    store = SQLiteStore(tmp_path / "data")
    store.check_embedder(real_embedder.model_id, real_embedder.dim)
    fake = HashEmbedder(dim=384)
    with pytest.raises(EmbedderMismatchError, match="ingest into a new data directory"):
        store.check_embedder(fake.model_id, fake.dim)


# -- ONNX backends ----------------------------------------------------------------------------

SENTENCES = [
    "Employees in Paris get 27 days of annual leave.",
    "The canteen serves lunch at noon.",
    "Expense claims above 500 euros need a manager's approval before payment.",
    "How do I reset my VPN password?",
    "Ce document décrit la politique de télétravail.",
    "word " * 300,  # longer than the window: truncated the same way by every backend
]
# Measured on these sentences and 5,183 SciFact abstracts (docs/EMBEDDERS.md): fp32 ONNX
# matches torch to float rounding; int8 (per-channel weights) stays above 0.99.
MIN_COSINE = {"onnx": 0.9999, "onnx-int8": 0.98}


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_backend_matches_torch(real_embedder, onnx_cache, backend):
    from index.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(backend=backend, cache_dir=onnx_cache)
    assert (embedder.dim, embedder.max_tokens) == (384, 256)
    for text in ("hello world", SENTENCES[2], SENTENCES[-1]):
        assert embedder.count_tokens(text) == real_embedder.count_tokens(text)
    vectors = embedder.embed_documents(SENTENCES)
    reference = real_embedder.embed_documents(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() >= MIN_COSINE[backend], cosines
    one = embedder.embed_query(SENTENCES[0])
    np.testing.assert_allclose(one, vectors[0], atol=1e-5)  # batch-mates change nothing
    # one vector space: a store built with any backend is served by any other
    assert embedder.model_id == real_embedder.model_id


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_sessions_share_the_work_without_changing_vectors(onnx_cache, backend):
    """Texts dealt to several single-threaded sessions (and callers on several threads at
    once) get exactly the vectors one session gives them in order."""
    from concurrent.futures import ThreadPoolExecutor

    from index.embedder import SentenceTransformerEmbedder

    texts = [
        f"{SENTENCES[i % len(SENTENCES)]} (note {i}) " + "detail " * (i % 7) for i in range(41)
    ]
    alone = SentenceTransformerEmbedder(backend=backend, cache_dir=onnx_cache, threads=1)
    shared = SentenceTransformerEmbedder(backend=backend, cache_dir=onnx_cache, threads=3)
    expected = alone.embed_documents(texts)
    np.testing.assert_allclose(shared.embed_documents(texts), expected, atol=1e-5)
    with ThreadPoolExecutor(4) as callers:
        results = list(callers.map(shared.embed_documents, [texts[k::4] for k in range(4)]))
    for k, vectors in enumerate(results):
        np.testing.assert_allclose(vectors, expected[k::4], atol=1e-5)


def test_onnx_backend_builds_offline_in_a_fresh_process(tmp_path):
    """A fresh interpreter, no HF_* variables, sockets refused, an empty cache under HOME:
    the int8 model is exported and quantised from the bundled folder without the network, and
    without the exporter's and quantiser's warnings (they flooded the first `hearth serve`)."""
    result = run_offline(tmp_path, 'backend="onnx-int8"')
    assert result.stdout.strip().splitlines()[-1] == '{"attempts": [], "dim": 384}'
    built = list((tmp_path / ".cache" / "hearth" / "embedders").glob("*/model_int8.onnx"))
    assert len(built) == 1
    for chatter in ("TracerWarning", "opset 17", "pre-processing before quantization"):
        assert chatter not in result.stderr, result.stderr[-2000:]


def test_building_the_onnx_embedder_logs_one_line_and_leaves_logging_as_it_was(tmp_path, caplog):
    """In the process itself, logging at INFO: one line says the embedder is being built;
    no warning from torch's exporter and no line from onnxruntime's quantiser (one per
    tensor), and the root logger keeps the handlers and filters it had."""
    import logging
    import warnings

    from index.embedder import SentenceTransformerEmbedder

    root = logging.getLogger()
    handlers, filters = list(root.handlers), list(root.filters)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        # hidden outside __main__ by default, as Python does: the legacy exporter's notice is
        # for whoever moves Hearth to the new one, not for an operator
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=tmp_path)
    assert [str(w.message)[:200] for w in caught] == []
    assert [(r.name, r.getMessage()[:200]) for r in caplog.records] == [
        ("index.onnx_embedder", f"building the ONNX embedder in {next(tmp_path.iterdir())} (once)")
    ]
    assert (root.handlers, root.filters) == (handlers, filters)


def test_unknown_backend_is_a_clear_error(monkeypatch):
    from index.embedder import resolve_backend
    from index.errors import ConfigurationError

    monkeypatch.setenv("HEARTH_EMBEDDER_BACKEND", "tensorrt")
    with pytest.raises(ConfigurationError, match="torch, onnx, onnx-int8"):
        resolve_backend(None)
    assert resolve_backend("ONNX") == "onnx"


def test_concurrent_first_builds_of_the_int8_model_all_succeed(tmp_path):
    """The quantiser's scratch file beside its source has a fixed name: processes building the
    same cache at once (replicas starting together, serve beside ingest) deleted each other's
    and failed ("Failed to find proper ai.onnx domain", FileNotFoundError)."""
    from concurrent.futures import ThreadPoolExecutor

    from index.embedder import bundled_model_path
    from index.onnx_embedder import export_onnx, quantize_onnx

    fp32, int8 = tmp_path / "model.onnx", tmp_path / "model_int8.onnx"
    export_onnx(bundled_model_path(), fp32)
    with ThreadPoolExecutor(3) as builders:
        list(builders.map(lambda _: quantize_onnx(fp32, int8), range(3)))
    assert int8.stat().st_size > 10_000_000
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx", "model_int8.onnx"]


def test_the_embedder_tells_a_word_for_the_counted_thing_from_another_thing(real_embedder):
    """SAME_THING_COSINE was read off these (app/quote.py): a synonym counts the same thing,
    another thing does not, so "3 trucks" for how many laptops still gives way to a quote."""
    from app.quote import embedder_alike

    alike = embedder_alike(real_embedder)
    assert alike("workers", "employees") and alike("vehicles", "cars")
    assert not alike("trucks", "laptops") and not alike("customers", "employees")
