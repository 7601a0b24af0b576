"""The `hearth` commands against a PostgreSQL store selected by HEARTH_DATABASE_URL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
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


def test_status_on_an_empty_database_says_so_and_creates_nothing(tmp_path, pg_url):
    """A read-only command must not write: `hearth status` and `hearth eval` on an empty
    database created Hearth's schema there (status then showed an empty index as if one had
    been built)."""
    questions = str(CORPUS / "questions.jsonl")
    for args in (["status"], ["status", "--json"], ["eval", questions], ["eval", questions, "--answer"]):  # fmt: skip
        result = hearth([*args, "--data-dir", str(tmp_path / "data")], pg_url)
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.split())
        assert (
            "no index in postgresql://postgres@/hearth_tests yet: run `hearth ingest PATH` first"
            in said
        )
        assert "--data-dir" not in said  # the data folder plays no part with a database
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchone()
    assert tables == (0,)
    assert not (tmp_path / "data").exists()
    ingested = hearth(["ingest", str(CORPUS / "handbook"), "--data-dir", str(tmp_path / "data")], pg_url)  # fmt: skip
    assert ingested.exit_code == 0, ingested.output
    assert hearth(["status", "--json"], pg_url).exit_code == 0


def test_status_under_a_missing_data_folder_creates_nothing(tmp_path):
    """As with a database: a status of nothing says so, and leaves no folder or file behind."""
    missing = tmp_path / "missing" / "data"
    for args in (["status"], ["status", "--json"], ["status", "--documents"]):
        result = hearth([*args, "--data-dir", str(missing)], None)
        assert result.exit_code == 2 and f"no index in {missing}/ yet" in " ".join(
            result.output.split()
        )
    assert list(tmp_path.iterdir()) == []


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
