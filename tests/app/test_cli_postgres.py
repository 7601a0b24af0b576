"""The `hearth` commands against a PostgreSQL store selected by HEARTH_DATABASE_URL."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fakes import HashEmbedder

from app.cli import cli
from app.keys import KeyStore
from app.service_db import service_database
from index.open_store import store_exists, store_location
from index.postgres import PostgresStore
from index.types import Principal

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def hearth(args: list[str], url: str | None):
    env = {"HEARTH_DATABASE_URL": url} if url else {}
    obj = {"embedder_factory": lambda _path: HashEmbedder()}
    return CliRunner().invoke(cli, args, obj=obj, env=env, catch_exceptions=False)


def test_ingest_status_eval_and_keys_use_postgres(tmp_path, pg_url):
    data = tmp_path / "data"
    ingested = hearth(["ingest", str(CORPUS / "handbook"), "--data-dir", str(data), "--json"], pg_url)  # fmt: skip
    assert ingested.exit_code == 0, ingested.output
    report = json.loads(ingested.stdout)
    assert report["added"] > 0 and report["failed"] == []
    assert not data.exists()  # nothing went to the data folder

    status = hearth(["status", "--data-dir", str(data), "--json"], pg_url)
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    assert info["documents"] == report["added"] and info["embedder"] == "hash-embedder"
    assert info["vector_generation"] >= 1
    store = PostgresStore(pg_url)
    assert store.stats()["chunks"] == info["chunks"] == report["chunks"]
    store.close()
    table = hearth(["status", "--data-dir", str(data)], pg_url)
    assert "postgresql://postgres@/hearth_tests" in table.output  # the title, without options
    assert info["vector_file_ok"] is None  # no vector file to check
    store = PostgresStore(pg_url)
    store.set_manifest(vector_count="0")  # as an interrupted ingest leaves it
    store.close()
    behind = " ".join(hearth(["status", "--data-dir", str(data)], pg_url).output.split())
    assert "an ingest was interrupted or is running" in behind and "rebuild" not in behind
    store = PostgresStore(pg_url)
    store.set_manifest(vector_count=str(info["chunks"]))
    store.close()

    again = hearth(["ingest", str(CORPUS / "handbook"), "--data-dir", str(data), "--json"], pg_url)  # fmt: skip
    assert json.loads(again.stdout)["unchanged"] == report["added"]

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "leave", "expected_documents": [],
                                     "answerable": False, "groups": []}) + "\n")  # fmt: skip
    out = tmp_path / "eval.json"
    evaluated = hearth(["eval", str(questions), "--data-dir", str(data), "--json", str(out)], pg_url)  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "Abstention by evidence" in evaluated.output
    source = json.loads(out.read_text())["source"]  # it named the unused data folder
    assert source["data_dir"] is None and source["database"].startswith("postgresql://")

    created = hearth(["keys", "create", "--user", "frank", "--groups", "hr"], pg_url)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    database = service_database(tmp_path, pg_url)
    assert KeyStore(database=database).verify(key) == Principal("frank", frozenset({"hr"}))
    database.close()
    listed = hearth(["keys", "list"], pg_url)
    assert "frank" in listed.output and "active" in listed.output


def test_embedded_mode_still_needs_an_index(tmp_path):
    result = hearth(["status", "--data-dir", str(tmp_path / "none")], None)
    assert result.exit_code == 2 and "no index" in result.output.lower()


def test_migrate_is_mounted():
    result = CliRunner().invoke(cli, ["migrate", "--help"])
    assert result.exit_code == 0 and "--from" in result.output and "--to" in result.output


def test_store_location_never_shows_the_password(tmp_path):
    url = "postgresql://hearth:s3cret@db.internal:5433/hearth?sslmode=require"
    assert store_location(tmp_path, url) == "postgresql://hearth@db.internal:5433/hearth"
    assert store_location(tmp_path / "d", None) == f"{tmp_path / 'd'}/"
    assert store_exists(tmp_path, url) and not store_exists(tmp_path, None)


def test_unreachable_database_is_a_clear_cli_error(tmp_path):
    url = f"postgresql://hearth:s3cret@/hearth?host={tmp_path}&connect_timeout=1"
    result = hearth(["keys", "list"], url)
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output and "s3cret" not in result.output
    status = hearth(["status"], url)
    assert status.exit_code == 2 and "s3cret" not in status.output
