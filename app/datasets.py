"""Evaluation data: Hearth's questions files, BEIR folders and SQuAD 2.0 JSON, and a way to put
a dataset's documents into an index.

Every loader returns the same two things: `EvalQuestion`s (the `corpus/questions.jsonl` shape)
and, for public benchmarks, `DatasetDocument`s to ingest. Documents go through the ordinary
`Ingestor` (there is no public way to hand it `Document` objects), as one `.txt` file each,
written under `<data dir>/eval-documents/<dataset>/` with a fixed modification time: a second
run finds every file unchanged, and a run cut short resumes where it stopped. Stored document
ids are file names, so `ingest_dataset` returns the questions with their expected documents
rewritten to those ids (`stored_id`).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from index.errors import HearthError
from index.protocols import Embedder
from index.store import SQLiteStore
from index.types import parse_groups
from ingest.pipeline import IngestOptions, Ingestor, IngestReport, Progress
from ingest.sources import SIDECAR_NAME

DOCUMENTS_FOLDER = "eval-documents"
MANIFEST_KEY = "eval_dataset"
FIXED_MTIME = 946_684_800  # 2000-01-01 UTC: file times never change a document's content hash


class DatasetError(HearthError):
    """A questions file or benchmark folder that cannot be read."""

    code = "invalid_dataset"


@dataclass(frozen=True)
class EvalQuestion:
    """One question to evaluate, as in `corpus/questions.jsonl`.

    `expected_documents` are document ids (as stored) that answer it, empty when unanswerable;
    `groups` are the asker's groups (`public` is always added when searching).
    """

    question: str
    expected_documents: tuple[str, ...] = ()
    key_term: str = ""
    answerable: bool = True
    groups: tuple[str, ...] = ()
    id: str = ""


@dataclass(frozen=True)
class DatasetDocument:
    """A benchmark document: its id in the dataset, a title, the text, and who may read it
    (`groups`; empty: public). Groups let one index serve "leave this article out" questions:
    an asker without the article's group searches as if it were not indexed."""

    id: str
    title: str
    text: str
    groups: tuple[str, ...] = ()


@dataclass
class Dataset:
    """Documents to index and questions about them."""

    name: str
    documents: list[DatasetDocument]
    questions: list[EvalQuestion]

    def fingerprint(self) -> str:
        """Changes whenever any document would be stored differently."""
        digest = hashlib.sha256(self.name.encode())
        for doc in self.documents:
            for part in (doc.id, doc.title, doc.text, ",".join(doc.groups)):
                digest.update(part.encode())
                digest.update(b"\x00")
        return digest.hexdigest()


# -- questions files ----------------------------------------------------------------------------


NOT_UTF8 = "not UTF-8 text (Latin-1 or UTF-16?); save the file as UTF-8"


def _read_text(path: Path) -> str:
    """The whole file as text; a file that is not UTF-8 is named with the line of its first
    bad byte (Python's error names neither)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or 'I/O error'})") from None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{path}:{line}: {NOT_UTF8}") from None


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open("rb")  # decoded line by line, so that a bad byte has a line number
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or 'I/O error'})") from None
    with handle:
        # bytes.splitlines: LF, CRLF and a lone CR (old Mac editors) all end a line
        physical = (line for chunk in handle for line in chunk.splitlines())
        for number, raw in enumerate(physical, start=1):
            try:
                line = raw.decode("utf-8").removeprefix("\ufeff" if number == 1 else "")
            except UnicodeDecodeError:
                raise DatasetError(f"{path}:{number}: {NOT_UTF8}") from None
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                hint = (
                    "; the file must be JSON Lines, one object per line"
                    if line.lstrip()[:1] in ("[", "{") and number == 1
                    else ""
                )
                # json's own wording may end in "at" ("Unterminated string starting at")
                where = f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
                raise DatasetError(f"{path}:{number}: not JSON ({where}){hint}") from None
            if not isinstance(item, dict):
                raise DatasetError(f"{path}:{number}: each line must be a JSON object")
            yield number, item


QUESTION_FIELDS = ("question", "expected_documents", "key_term", "answerable", "groups", "id")
IGNORED_FIELDS = ("note", "category")  # free text for people, read by nothing


def question_from_dict(item: dict[str, Any], where: str = "") -> EvalQuestion:
    """An `EvalQuestion` from one questions.jsonl object; raises DatasetError if malformed.

    Any field other than QUESTION_FIELDS and IGNORED_FIELDS is an error: a misspelt
    "expected_docs" or "relevant" would otherwise make an answerable question unanswerable."""
    for field in item:
        if field in QUESTION_FIELDS or field in IGNORED_FIELDS:
            continue
        close = difflib.get_close_matches(
            field, (*QUESTION_FIELDS, *IGNORED_FIELDS), n=1, cutoff=0.6
        )
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise DatasetError(
            f"{where}: unknown field `{field}`{hint}; known fields: {', '.join(QUESTION_FIELDS)} "
            f"(and {', '.join(IGNORED_FIELDS)}, ignored)"
        )
    text = item.get("question")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{where}: `question` must be a non-empty string")
    expected = item.get("expected_documents", [])
    groups = item.get("groups", [])
    if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
        raise DatasetError(f"{where}: `expected_documents` must be a list of ids")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise DatasetError(f"{where}: `groups` must be a list of group names")
    try:
        canonical = tuple(sorted(parse_groups(groups)))
    except HearthError as exc:
        raise DatasetError(f"{where}: {exc.message}") from None
    answerable = item.get("answerable", bool(expected))
    if not isinstance(answerable, bool):
        raise DatasetError(f"{where}: `answerable` must be true or false")
    if not answerable and expected:
        raise DatasetError(
            f"{where}: `answerable` is false but `expected_documents` names documents that "
            "answer it: drop one of them"
        )
    return EvalQuestion(
        question=text.strip(),
        expected_documents=tuple(dict.fromkeys(expected)),
        key_term=str(item.get("key_term") or ""),
        answerable=answerable,
        groups=canonical,
        id=str(item.get("id") or ""),
    )


def load_questions(path: Path) -> list[EvalQuestion]:
    """A questions.jsonl file: question, expected_documents, key_term, answerable, groups."""
    questions = [
        replace(question_from_dict(item, f"{path}:{n}"), id=str(item.get("id") or n))
        for n, item in _read_jsonl(path)
    ]
    if not questions:
        raise DatasetError(f"{path}: no questions")
    return questions


# -- BEIR -----------------------------------------------------------------------------------


def read_qrels(path: Path) -> dict[str, list[str]]:
    """query id -> relevant corpus ids (score > 0), in file order; CRLF or LF, header optional."""
    relevant: dict[str, list[str]] = {}
    text = _read_text(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, row in enumerate(csv.reader(lines, delimiter="\t"), start=1):
        fields = [f.strip() for f in row]
        if not any(fields):
            continue
        if number == 1 and fields[0] == "query-id":
            continue
        if len(fields) < 3:
            raise DatasetError(f"{path}:{number}: expected query-id, corpus-id and score")
        try:
            score = float(fields[2])
        except ValueError:
            raise DatasetError(f"{path}:{number}: score {fields[2]!r} is not a number") from None
        docs = relevant.setdefault(fields[0], [])
        if score > 0 and fields[1] not in docs:
            docs.append(fields[1])
    return {query: docs for query, docs in relevant.items() if docs}


def load_beir(folder: Path, split: str = "test") -> Dataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

    Documents keep the corpus `_id`; only queries judged in the split are asked, each expecting
    its relevant documents.
    """
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (a BEIR folder holds corpus.jsonl, "
                           "queries.jsonl and qrels/SPLIT.tsv)")  # fmt: skip
    if not (folder / "qrels").is_dir():
        raise DatasetError(
            f"{folder}: no qrels/ folder (a BEIR folder holds corpus.jsonl, queries.jsonl and "
            "qrels/SPLIT.tsv)"
        )
    if not qrels_file.is_file():
        splits = ", ".join(sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))) or "none"
        raise DatasetError(f"{folder}: no split {split!r} (qrels/{split}.tsv); it has: {splits}")
    qrels = read_qrels(qrels_file)
    documents = []
    for number, item in _read_jsonl(folder / "corpus.jsonl"):
        if "_id" not in item:
            raise DatasetError(f"{folder / 'corpus.jsonl'}:{number}: no `_id`")
        documents.append(
            DatasetDocument(
                str(item["_id"]), str(item.get("title") or ""), str(item.get("text") or "")
            )
        )
    queries: list[EvalQuestion] = []
    for _, item in _read_jsonl(folder / "queries.jsonl"):
        query_id = str(item.get("_id", ""))
        text = str(item.get("text") or "").strip()
        if query_id in qrels and text:
            queries.append(EvalQuestion(text, tuple(qrels[query_id]), id=query_id))
    if not queries:
        raise DatasetError(f"{folder}: no query of split {split!r} found in queries.jsonl")
    return Dataset(f"{folder.resolve().name}-{split}", documents, queries)


# -- SQuAD 2.0 ------------------------------------------------------------------------------


def load_squad(path: Path) -> Dataset:
    """SQuAD 2.0 JSON: each paragraph a document (`{title}#{index}`), each question asked.

    Answerable questions expect their paragraph and use the first gold answer as key term;
    unanswerable ones (`is_impossible`) expect nothing.
    """
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError:
        raise DatasetError(f"{path}: not JSON") from None
    articles = _objects(data.get("data") if isinstance(data, dict) else None, f"{path}: `data`")
    documents: list[DatasetDocument] = []
    questions: list[EvalQuestion] = []
    for a, article in enumerate(articles):
        title = str(article.get("title", ""))
        where = f"{path}: `data[{a}]"
        for index, paragraph in enumerate(
            _objects(article.get("paragraphs", []), f"{where}.paragraphs`")
        ):
            doc_id = f"{title}#{index}"
            documents.append(
                DatasetDocument(doc_id, title.replace("_", " "), str(paragraph.get("context", "")))
            )
            for q, qa in enumerate(
                _objects(paragraph.get("qas", []), f"{where}.paragraphs[{index}].qas`")
            ):
                given = qa.get("answers", [])
                spot = f"{where}.paragraphs[{index}].qas[{q}].answers`"
                answers = [str(x["text"]) for x in _objects(given, spot) if x.get("text")]
                answerable = not qa.get("is_impossible", False) and bool(answers)
                questions.append(
                    EvalQuestion(
                        question=str(qa.get("question", "")).strip(),
                        expected_documents=(doc_id,) if answerable else (),
                        key_term=answers[0] if answerable else "",
                        answerable=answerable,
                        id=str(qa.get("id", "")),
                    )
                )
    questions = [q for q in questions if q.question]
    if not documents or not questions:
        raise DatasetError(f"{path}: no paragraphs or no questions")
    return Dataset(f"squad-{path.stem}", documents, questions)


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    """`value` if it is a list of JSON objects, else a DatasetError naming `where`."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DatasetError(f"{where} must be a list of objects (is this SQuAD 2.0 JSON?)")
    return value


# -- ingesting a dataset --------------------------------------------------------------------


def stored_id(document_id: str) -> str:
    """The id a dataset document gets in the index: its file name (percent-encoded id + .txt)."""
    name = quote(document_id, safe="#@:,;=+")
    if name.startswith("."):
        name = "%2E" + name[1:]  # hidden files are skipped by the folder walk
    return f"{name}.txt"


def file_text(document: DatasetDocument) -> str:
    """The file body: the title as a `#` heading (so the text parser keeps it as title, or as
    the heading of a long title), then the text."""
    title = " ".join(document.title.split())
    text = document.text.strip()
    return f"# {title}\n\n{text}\n" if title else f"{text}\n"


def with_stored_ids(questions: list[EvalQuestion]) -> list[EvalQuestion]:
    """Questions whose expected documents name the stored ids."""
    return [
        replace(q, expected_documents=tuple(stored_id(d) for d in q.expected_documents))
        for q in questions
    ]


def write_documents(dataset: Dataset, folder: Path) -> int:
    """Make `folder` hold exactly one .txt file (fixed mtime) per non-empty document; returns
    how many. Files of documents no longer in the dataset are deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    for document in dataset.documents:
        if not (document.title.strip() or document.text.strip()):
            continue
        name = stored_id(document.id)
        if name in names:
            raise DatasetError(f"{dataset.name}: document id {document.id!r} appears twice")
        names.add(name)
        path = folder / name
        body = file_text(document)
        if not path.is_file() or path.read_text(encoding="utf-8") != body:
            path.write_text(body, encoding="utf-8")
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    for stale in folder.glob("*.txt"):
        if stale.name not in names:
            stale.unlink()
    _write_sidecar(dataset, folder)
    return len(names)


def _write_sidecar(dataset: Dataset, folder: Path) -> None:
    """A `.hearth-groups.yaml` naming each grouped document's file (none when all are public)."""
    sidecar = folder / SIDECAR_NAME
    rules = {stored_id(d.id): list(d.groups) for d in dataset.documents if d.groups}
    if not rules:
        sidecar.unlink(missing_ok=True)
        return
    body = yaml.safe_dump(rules, allow_unicode=True, sort_keys=True)
    if not sidecar.is_file() or sidecar.read_text(encoding="utf-8") != body:
        sidecar.write_text(body, encoding="utf-8")


def dataset_is_indexed(store: SQLiteStore, dataset: Dataset) -> bool:
    """Whether this exact dataset was fully ingested into the store before."""
    return store.manifest().get(MANIFEST_KEY) == f"{dataset.name}:{dataset.fingerprint()}"


def check_benchmark_dir(store: SQLiteStore, dataset: Dataset) -> None:
    """A benchmark's documents must not mix with others: its figures would then measure the
    mix, and they would be added to (and answered from) the index people use."""
    own = set(
        store.document_state(str((store.data_dir / DOCUMENTS_FOLDER / dataset.name).resolve()))
    )
    others = len(set(store.document_state()) - own)
    if others:
        raise DatasetError(
            f"{store.data_dir}/ already holds {others} document{'' if others == 1 else 's'} "
            f"that {'is' if others == 1 else 'are'} not part of {dataset.name}: give the "
            f"benchmark a --data-dir of its own (for example /tmp/{dataset.name})"
        )


def ingest_dataset(
    dataset: Dataset,
    store: SQLiteStore,
    embedder: Embedder,
    progress: Progress | None = None,
) -> IngestReport | None:
    """Index the dataset's documents in the store (None: it already holds exactly them).

    Files go to `<data dir>/eval-documents/<name>/`; documents no longer in the dataset are
    pruned. A store holding other documents is refused (`check_benchmark_dir`).
    """
    check_benchmark_dir(store, dataset)
    if dataset_is_indexed(store, dataset):
        return None
    folder = store.data_dir / DOCUMENTS_FOLDER / dataset.name
    write_documents(dataset, folder)
    report = Ingestor(store, embedder, progress).run([folder], IngestOptions(prune=True))
    if report.ok:
        store.set_manifest(**{MANIFEST_KEY: f"{dataset.name}:{dataset.fingerprint()}"})
    return report
