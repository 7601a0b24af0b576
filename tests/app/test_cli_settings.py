"""A HEARTH_ setting the service cannot use is named on the command line, not traced."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from fakes import HashEmbedder
from fastapi.testclient import TestClient

from app.cli import cli, main
from app.main import build_services
from app.settings import Settings
from index.store import SQLiteStore
from index.types import Chunk, Document, Section

PUBLIC = frozenset({"public"})
LOCAL = "http://127.0.0.1:8000"  # `hearth serve` on a loopback address answers to its names only

CORPUS_QUESTIONS = Path(__file__).resolve().parents[2] / "corpus" / "questions.jsonl"


def test_an_invalid_setting_is_named_with_what_it_should_be(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HEARTH_FUSION", "bm25-only")
    monkeypatch.setenv("HEARTH_TOP_K", "four")
    data = tmp_path / "data"
    monkeypatch.setattr(
        sys, "argv", ["hearth", "eval", str(CORPUS_QUESTIONS), "--data-dir", str(data)]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: HEARTH_FUSION: Input should be 'convex' or 'rrf'" in err
    assert "error: HEARTH_TOP_K: Input should be a valid integer" in err
    assert "Traceback" not in err and "bm25-only" not in err  # the value is not echoed
    assert not data.exists()  # nothing was written


def test_an_env_file_that_is_not_utf8_is_named_not_traced(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"\xff\xfe garbage\n")
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert result.output == (
        "error: .env is not UTF-8 text (a UTF-16 file from Notepad?); save it as UTF-8\n"
    )


def test_a_misspelt_setting_is_named_with_the_one_meant(monkeypatch, tmp_path):
    """HEARTH_LLM_MODEL_PATH was ignored without a word and the bundled model started."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEARTH_LLM_MODEL_PATH", "/models/mine.gguf")
    monkeypatch.setenv("HEARTH_SOMETHING_ELSE_ENTIRELY", "1")  # close to nothing: not ours
    (tmp_path / ".env").write_text("HEARTH_GROUP=hr\nHEARTH_GROUPS=hr\n")
    result = CliRunner().invoke(cli, ["status"])
    assert result.output.splitlines()[:2] == [
        "warning: HEARTH_GROUP is not a Hearth setting and is ignored; did you mean HEARTH_GROUPS?",
        "warning: HEARTH_LLM_MODEL_PATH is not a Hearth setting and is ignored; did you mean "
        "HEARTH_MODEL_PATH?",
    ]
    assert "SOMETHING_ELSE" not in result.output


def _no_loading(monkeypatch) -> None:
    """Serve must stop before models load or uvicorn starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("should not get this far")

    monkeypatch.setattr("app.main.load_services", refuse)
    monkeypatch.setattr("uvicorn.run", refuse)


@pytest.mark.parametrize("port", ["70000", "-1", "0"])
def test_serve_checks_the_port_before_loading_anything(monkeypatch, services, settings, port):
    _no_loading(monkeypatch)
    args = ["serve", "--data-dir", str(settings.data_dir), f"--port={port}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert f"Invalid value for '--port': {port} is not in the range 1<=x<=65535" in result.output


def test_a_configuration_error_at_serve_is_one_line(monkeypatch, services, settings):
    """The real loading path with a missing model file: the message, no uvicorn traceback."""
    monkeypatch.setattr(
        "index.embedder.SentenceTransformerEmbedder", lambda *args, **kwargs: HashEmbedder()
    )
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: pytest.fail("uvicorn started"))
    monkeypatch.setenv("HEARTH_MODEL_PATH", str(settings.data_dir / "nonexistent.gguf"))
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2
    loading, error = result.output.splitlines()
    assert loading.startswith("Loading the store and the models")
    assert error == "error: the configured model file does not exist"


def test_serve_loads_the_services_once(monkeypatch, services, settings):
    loads = []
    monkeypatch.setattr("app.main.load_services", lambda s: loads.append(s) or services)
    ready = []

    def run(app, **kwargs):
        with TestClient(app, base_url=LOCAL) as client:  # runs the lifespan, as uvicorn would
            ready.append(client.get("/readyz").json())

    monkeypatch.setattr("uvicorn.run", run)
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert len(loads) == 1 and loads[0].data_dir == settings.data_dir
    assert ready == [{"status": "ready"}]


@pytest.mark.parametrize("url", ["notaurl", "ftp://llm.example/v1", "http://", "http://h:abc"])
def test_an_llm_url_that_is_not_http_is_refused_at_start(
    monkeypatch, settings, services, url, capsys
):
    _no_loading(monkeypatch)
    monkeypatch.setenv("HEARTH_LLM_URL", url)
    monkeypatch.setattr(sys, "argv", ["hearth", "serve", "--data-dir", str(settings.data_dir)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: HEARTH_LLM_URL: ") and "Traceback" not in err
    assert Settings(llm_url="").llm_url is None  # blank: the local model


def test_serve_closes_its_services_on_sigterm(monkeypatch, services, settings):
    """uvicorn raises SIGTERM again after its graceful shutdown: with the default action the
    process died before the model and the store were closed (docker stop, systemd)."""
    import signal

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr("app.main.load_services", lambda s: services)
    closed = []
    monkeypatch.setattr("app.main.close_services", lambda s: closed.append(s))

    def run(app, **kwargs):  # as uvicorn does once it has shut down
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr("uvicorn.run", run)
    try:
        result = CliRunner().invoke(cli, ["serve", "--data-dir", str(settings.data_dir)])
    finally:
        signal.signal(signal.SIGTERM, before)
    assert result.exit_code == 143 and closed == [services]


def test_serve_trusts_the_proxy_in_front_not_its_x_forwarded_for(monkeypatch, services, settings):
    """uvicorn's proxy_headers default replaced a local proxy's address with the client that
    X-Forwarded-For names (nginx sends it), so every single-sign-on user was refused."""
    monkeypatch.setattr("app.main.load_services", lambda s: services)
    monkeypatch.setenv("HEARTH_TRUSTED_PROXIES", "127.0.0.0/8")
    found = []

    def run(app, **kwargs):  # the real server, with the options `hearth serve` gives it
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            kwargs["port"] = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, **{**kwargs, "log_level": "warning"}))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.02)
        headers = {
            "X-Forwarded-User": "carol",
            "X-Forwarded-Groups": "hr",
            "X-Forwarded-For": "203.0.113.9",
        }
        url = f"http://127.0.0.1:{kwargs['port']}/api/search"
        found.append(httpx.post(url, json={"query": "salary band"}, headers=headers).json())
        server.should_exit = True
        thread.join(10)

    monkeypatch.setattr("uvicorn.run", run)
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert found[0]["passages"][0]["document_id"] == "salaries"


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.0/33", "10.0.0.5, nginx"])
def test_trusted_proxies_must_be_addresses_or_networks(value):
    with pytest.raises(ValueError, match="is not an IP address or network"):
        Settings(trusted_proxies=value)


def test_trusted_proxies_accept_networks():
    settings = Settings(trusted_proxies="10.0.0.0/8, 192.0.2.7 ,::1")
    assert settings.is_trusted_proxy("10.20.30.40") and settings.is_trusted_proxy("192.0.2.7")
    assert settings.is_trusted_proxy("::1")
    assert not settings.is_trusted_proxy("192.0.2.8") and not settings.is_trusted_proxy(
        "testclient"
    )


def test_serve_warns_when_the_index_holds_no_documents(monkeypatch, tmp_path, model):
    """An interrupted first ingest leaves a store with no documents: it was served silently,
    every answer "I don't know" pointing at sources that were not there."""
    settings = Settings(data_dir=tmp_path / "data")
    store = SQLiteStore(settings.data_dir, vector_kind="exact")
    empty = build_services(settings, store, HashEmbedder(), model)
    monkeypatch.setattr("app.main.load_services", lambda s: empty)
    asked = []

    def run(app, **kwargs):
        with TestClient(app, base_url=LOCAL) as client:
            asked.append(client.post("/api/query", json={"question": "Leave in Paris?"}).json())

    monkeypatch.setattr("uvicorn.run", run)
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "warning: the index in" in result.output and "holds no documents yet" in result.output
    assert asked[0]["abstained"] and asked[0]["sources"] == []
    assert "listed as sources" not in asked[0]["answer"]
    assert asked[0]["answer"].startswith("I don't know.")


def test_serve_says_nothing_of_an_index_that_has_documents(monkeypatch, services, settings):
    monkeypatch.setattr("app.main.load_services", lambda s: services)
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0 and "warning" not in result.output


def test_a_damaged_sqlite_file_is_an_error_with_what_to_do_not_a_traceback(
    monkeypatch, tmp_path, capsys
):
    """Zeroed pages: the file opens (its schema is intact) and each command met the damage
    in a later query, which printed a traceback."""
    data = tmp_path / "data"
    store = SQLiteStore(data)
    embedder = HashEmbedder()
    store.check_embedder(embedder.model_id, embedder.dim)
    texts = [f"Paragraph {i} about leave, pay and the canteen. " * 20 for i in range(200)]
    document = Document("big", "/src/big", "Big", "text", (Section((), "x"),), PUBLIC,
                        content_hash="h")  # fmt: skip
    chunks = [Chunk("big", t, (), i, 200) for i, t in enumerate(texts)]
    store.write_document(document, chunks, embedder.embed_documents(texts))
    store.close()
    database = data / "hearth.sqlite3"
    raw = bytearray(database.read_bytes())
    half = len(raw) // 2 // 4096 * 4096
    raw[half:] = bytes(len(raw) - half)  # the later half of the pages (the chunks'): zeros
    database.write_bytes(bytes(raw))
    for command in (["status"], ["status", "--json"]):
        monkeypatch.setattr(sys, "argv", ["hearth", *command, "--data-dir", str(data)])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err
        assert exited.value.code in (1, 2), (command, err)
        assert "restore it from a backup" in err and "Traceback" not in err, (command, err)


def test_serve_on_a_loopback_address_answers_to_loopback_names_only(
    monkeypatch, services, settings
):
    """DNS rebinding: evil.example resolved to 127.0.0.1 read Hearth through a browser."""
    monkeypatch.setattr("app.main.load_services", lambda s: services)
    codes = []

    def run(app, **kwargs):
        for base in ("http://evil.example:8000", LOCAL, "http://localhost:8000"):
            with TestClient(app, base_url=base) as client:
                codes.append(client.get("/api/info").status_code)

    monkeypatch.setattr("uvicorn.run", run)
    serve = ["serve", "--data-dir", str(settings.data_dir)]
    assert CliRunner().invoke(cli, serve).exit_code == 0
    assert codes == [400, 200, 200]


def test_a_locked_store_is_not_called_damaged(monkeypatch, capsys, tmp_path):
    """ "database is locked" is an OperationalError, a DatabaseError too: it was told to
    restore a backup."""
    import sqlite3

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("app.cli.cli", locked)
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "try again" in err and "backup" not in err
