"""`hearth eval`: metric arithmetic, the BEIR and SQuAD loaders, dataset ingest, and the command
end to end on a tiny store (hash embedder, scripted model)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import HashEmbedder, ScriptedChatModel

from app.datasets import (
    Dataset,
    DatasetDocument,
    DatasetError,
    EvalQuestion,
    ingest_dataset,
    load_beir,
    load_questions,
    load_squad,
    read_qrels,
    stored_id,
    with_stored_ids,
)
from app.eval_cli import eval_command
from app.evaluation import (
    Row,
    abstention_summary,
    answer_summary,
    distinct_documents,
    evaluate,
    hit_at_k,
    key_term_in,
    ndcg_at_k,
    percentile,
    pipeline_retriever,
    recall_at_k,
    reciprocal_rank,
    retrieval_settings,
    retrieval_summary,
    search_retriever,
)
from app.main import build_services
from app.rag import Answer
from app.settings import Settings
from index.search import RetrievalSettings
from index.store import SQLiteStore
from index.types import Principal

# -- metrics ------------------------------------------------------------------------------------

RANKED = ["a", "b", "a", "c", "d", "b", "e"]  # distinct: a b c d e


def test_distinct_documents_keeps_first_appearance() -> None:
    assert distinct_documents(RANKED) == ["a", "b", "c", "d", "e"]


def test_hit_and_recall_count_distinct_documents() -> None:
    expected = ["c", "x"]
    assert hit_at_k(RANKED, expected, 2) == 0.0
    assert hit_at_k(RANKED, expected, 3) == 1.0  # c is the 3rd distinct document (4th passage)
    assert recall_at_k(RANKED, expected, 3) == 0.5
    assert recall_at_k(RANKED, ["a", "b", "e"], 2) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, ["a", "b", "e"], 5) == 1.0
    assert recall_at_k(RANKED, ["a", "a"], 1) == 1.0  # expected ids deduplicated too
    assert recall_at_k(RANKED, [], 5) == 0.0


def test_reciprocal_rank_uses_the_first_expected_document() -> None:
    assert reciprocal_rank(RANKED, ["d", "c"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, ["a"]) == 1.0
    assert reciprocal_rank(RANKED, ["zzz"]) == 0.0


def test_ndcg_binary_relevance_exact_values() -> None:
    # c at distinct rank 3, x never retrieved: DCG = 1/log2(4); IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(RANKED, ["c", "x"]) == pytest.approx(0.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(RANKED, ["a", "b"]) == 1.0
    assert ndcg_at_k(["b", "a"], ["a"]) == pytest.approx(1 / math.log2(3))
    # a duplicate passage of a relevant document earns nothing the second time
    assert ndcg_at_k(["x", "x", "a"], ["x", "a"]) == 1.0
    # beyond k nothing counts; IDCG is capped at k relevant documents
    assert ndcg_at_k(["n1", "n2", "a"], ["a"], k=2) == 0.0
    assert ndcg_at_k(["a", "b"], ["a", "b", "c"], k=2) == 1.0
    assert ndcg_at_k([], ["a"]) == 0.0


def test_percentile_and_summaries_on_hand_made_rows() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    rows = [
        Row(EvalQuestion("q1", ("a",)), ranked=["a", "b"], evidence=0.9),
        Row(EvalQuestion("q2", ("b",)), ranked=["a", "b"], evidence=0.35),
        Row(EvalQuestion("q3", (), answerable=False), ranked=["a"], evidence=0.2),
        Row(EvalQuestion("q4", (), answerable=False), ranked=["b"], evidence=0.5),
    ]
    summary = retrieval_summary(rows, [1, 5])
    assert summary["questions"] == 2
    assert summary["hit@1"] == 0.5
    assert summary["recall@5"] == 1.0
    assert summary["mrr"] == 0.75
    assert summary["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    curve = abstention_summary(rows, 0.4, thresholds=[0.0, 0.3, 1.0])
    point = curve["operating_point"]
    assert point["unanswerable_abstained"] == 0.5 and point["answerable_abstained"] == 0.5
    assert [p["threshold"] for p in curve["curve"]] == [0.0, 0.3, 0.4, 1.0]
    assert curve["curve"][0]["unanswerable_abstained"] == 0.0
    assert curve["curve"][-1]["answerable_abstained"] == 1.0


def test_mrr_ndcg_and_small_cut_offs_do_not_change_with_a_deep_k() -> None:
    """A search past `candidates` widens the fused pool and may reorder the top: --k 100 must
    not change MRR, nDCG@10 or hit@5 (measured at one fixed depth), only add hit@100."""
    from types import SimpleNamespace

    from index.search import Retrieval

    settings = Settings(per_document=2, candidates=50)
    depths: list[int | None] = []

    def retriever(principal: Principal, text: str, top_k: int | None) -> Retrieval:
        depths.append(top_k)
        # the expected document "a" ranks 2nd in a shallow search, 30th in a widened one
        order = ["x", "a", *"bcdefghij"] if (top_k or 0) <= 50 else [*"xbcdefghij", "a"]
        ids = [*order, *(f"filler{i}" for i in range(40))]
        passages = [SimpleNamespace(document=SimpleNamespace(id=d)) for d in ids]
        return Retrieval(passages=passages, evidence=0.8)  # type: ignore[arg-type]

    question = [EvalQuestion("Q?", ("a",))]
    shallow = evaluate(question, retriever, settings, [5, 10])
    assert depths == [None, 20]  # the service's top_k, then the fixed depth
    depths.clear()
    deep = evaluate(question, retriever, settings, [5, 10, 100])
    assert depths == [None, 200, 20]  # past candidates: the fixed depth searched apart
    for figure in ("hit@5", "recall@10", "mrr", "ndcg@10"):
        assert deep.retrieval[figure] == shallow.retrieval[figure], figure
    assert shallow.retrieval["mrr"] == 0.5 and deep.retrieval["hit@100"] == 1.0
    row = deep.as_dict()["rows"][0]
    assert row["first_relevant_rank"] == 2 and row["retrieved_documents"][10] == "a"
    assert deep.as_dict()["settings"]["metrics_depth"] == 20
    depths.clear()
    within = evaluate(question, retriever, settings, [5, 20])  # 40 passages: one fused pool
    assert depths == [None, 40] and within.retrieval["mrr"] == shallow.retrieval["mrr"]


def _answer(text: str, abstained: bool, cited: list[str], ttft: float | None) -> Answer:
    timings = {"total_ms": 100.0, **({"ttft_ms": ttft} if ttft is not None else {})}
    citations = [{"marker": i + 1, "document_id": d} for i, d in enumerate(cited)]
    return Answer(text, abstained, "retrieval" if abstained else None, False, citations, [],
                  None, None, "m", 0.5, timings)  # fmt: skip


def test_answer_summary_counts_abstention_citations_and_key_terms() -> None:
    rows = [
        Row(
            EvalQuestion("q1", ("a",), "27"), answer=_answer("It is 27 [1].", False, ["a", "b"], 50)
        ),
        Row(EvalQuestion("q2", ("b",), "Blazing"), answer=_answer("blazing [1]", False, ["b"], 70)),
        Row(EvalQuestion("q3", ("c",), "9%"), answer=_answer("I don't know.", True, [], None)),
        Row(
            EvalQuestion("q4", (), answerable=False),
            answer=_answer("I don't know.", True, [], None),
        ),
        Row(
            EvalQuestion("q5", (), answerable=False),
            answer=_answer("Canberra [1]", False, ["z"], 90),
        ),
    ]
    s = answer_summary(rows)
    assert s["abstained"] == 2 and s["abstained_unanswerable"] == 1
    assert s["abstention_precision"] == 0.5  # q4 right, q3 wrong
    assert s["abstention_recall"] == 0.5  # q4 caught, q5 answered
    assert s["abstention_f1"] == 0.5
    assert s["false_abstentions"] == 1 and s["false_abstention_rate"] == pytest.approx(1 / 3)
    assert (s["citations"], s["citations_from_expected"]) == (3, 2)  # q5 is not answerable
    assert s["citation_precision"] == pytest.approx(2 / 3)
    assert s["key_term_match_rate"] == pytest.approx(2 / 3)  # case-insensitive; q3 abstained
    assert s["ttft_ms_median"] == 70.0 and s["ttft_count"] == 3
    assert s["total_ms_median"] == 100.0
    assert s["answers_quoted"] == 0 and s["model_citation_precision"] == pytest.approx(2 / 3)
    rows[1].answer.quoted = True  # q2's answer was the closest source sentence, quoted
    quoted = answer_summary(rows)
    assert quoted["answers_quoted"] == 1 and quoted["citation_precision"] == pytest.approx(2 / 3)
    assert (quoted["quoted_citations"], quoted["quoted_citations_from_expected"]) == (1, 1)
    assert quoted["quoted_citation_precision"] == 1.0
    assert quoted["model_citation_precision"] == 0.5  # q1: "a" expected, "b" not
    assert rows[1].as_dict([5], 0.5)["quoted"] is True


def test_cited_answers_without_the_key_term_are_counted_apart_from_quotes() -> None:
    rows = [
        Row(EvalQuestion("q1", ("d",), "15,000"), answer=_answer("40,000 [1]", False, ["d"], 9)),
        Row(EvalQuestion("q2", ("d",), "15,000"), answer=_answer("15,000 [1]", False, ["d"], 9)),
        Row(EvalQuestion("q3", ("d",), "2031"), answer=_answer("2027", False, [], 9)),  # uncited
        Row(EvalQuestion("q4", ("d",), "9%"), answer=_answer("48% [1]", False, ["d"], 9)),
    ]
    rows[
        3
    ].answer.quoted = True  # a quote is flagged as such: not a model answer that looks checked
    s = answer_summary(rows)
    assert (s["model_cited_answers"], s["model_cited_without_key_term"]) == (2, 1)
    assert s["model_cited_without_key_term_rate"] == 0.5


def test_a_key_term_in_hearths_note_to_the_reader_does_not_count() -> None:
    from app.quote import FIGURELESS_NOTE, reader_note

    assert " one" in FIGURELESS_NOTE  # "… for a question that asks for one"
    quoted = _answer(f"“55,000 electors.” [1]{reader_note(FIGURELESS_NOTE)}", False, ["d"], 9)
    assert Row(EvalQuestion("How many?", ("d",), "one"), answer=quoted).key_term_match() is False
    assert Row(EvalQuestion("How many?", ("d",), "55,000"), answer=quoted).key_term_match()


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("30", "Berlin staff get 30 days.", True),
        ("30", "Berlin staff get 130 days.", False),
        ("30", "It opens at 2.30 pm.", False),
        ("30", "1,030 desks", False),
        ("30", "the bus leaves at 10:30", False),  # minutes of a time are no count
        ("10", "the bus leaves at 10:30", False),  # nor is its hour
        ("10", "the office opens at 10:00", True),  # but a whole hour is the hour
        ("30", "30.5 hours", False),
        ("1", "1,000 people", False),
        ("995", "995.0 questions per second", True),
        ("€30", "a €30 voucher", True),
        ("10:00", "from 10:00.", True),
        ("9%", "rose by 9%.", True),
        ("Blazing", "BLAZING is the top rating", True),
        ("art", "the start date", False),
        ("Friday", "no deploys on Fridays", True),  # a stem or singular matches its word
        ("reduc", "it reduces the risk", True),
        ("1.5", "a limit of 1.50 EUR", True),  # trailing zeros change no decimal
        ("3.14", "3.141 rounded", False),
        ("v2.4", "release v2.4.1", False),
        ("2026", "the FY2026 budget", True),  # a number glued to letters is still whole
        ("2026", "ticket 20260", False),
        ("Friday.", "on Friday at noon", True),  # the term's own full stop does not count
        ("Bráhuí", "Bra\u0301hui\u0301 speakers", True),  # decomposed accents
    ],
)
def test_key_terms_match_whole_numbers_and_word_starts(term: str, text: str, found: bool) -> None:
    assert key_term_in(term, text) is found
    answer = _answer(text, False, ["d"], 9)
    assert Row(EvalQuestion("Q?", ("d",), term), answer=answer).key_term_match() is found


# -- loaders -----------------------------------------------------------------------------------


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {
            "_id": "d1",
            "title": "Vitamin D and bones",
            "text": "Vitamin D supplements increase bone density in adults.",
            "metadata": {},
        },
        {
            "_id": "d2",
            "title": "",
            "text": "Coffee consumption is linked to lower liver enzyme levels.",
            "metadata": {},
        },
        {
            "_id": "d3",
            "title": "Sleep",
            "text": "Short sleep raises the risk of obesity in children.",
            "metadata": {},
        },
    ]
    queries = [
        {"_id": "q1", "text": "Vitamin D improves bone density.", "metadata": {}},
        {"_id": "q2", "text": "Coffee protects the liver.", "metadata": {}},
        {"_id": "q9", "text": "A training query.", "metadata": {}},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_bytes(
        b"query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td3\t1\r\nq2\td2\t1\r\nq2\td3\t0\r\n"
    )
    (folder / "qrels" / "train.tsv").write_bytes(b"query-id\tcorpus-id\tscore\nq9\td3\t1\n")
    return folder


def test_qrels_crlf_header_and_zero_scores(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "beir")
    assert read_qrels(folder / "qrels" / "test.tsv") == {"q1": ["d1", "d3"], "q2": ["d2"]}
    assert read_qrels(folder / "qrels" / "train.tsv") == {"q9": ["d3"]}


def test_beir_loader(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "beir"))
    assert dataset.name == "beir-test"
    assert [d.id for d in dataset.documents] == ["d1", "d2", "d3"]
    assert dataset.documents[0] == DatasetDocument(
        "d1", "Vitamin D and bones", "Vitamin D supplements increase bone density in adults."
    )
    assert [(q.id, q.expected_documents, q.answerable) for q in dataset.questions] == [
        ("q1", ("d1", "d3"), True),
        ("q2", ("d2",), True),
    ]
    train = load_beir(tmp_path / "beir", split="train")
    assert [q.id for q in train.questions] == ["q9"]
    with pytest.raises(DatasetError):
        load_beir(tmp_path / "beir", split="dev")


def _squad(path: Path) -> Path:
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "Steam_engine",
                "paragraphs": [
                    {
                        "context": "James Watt improved the steam engine in 1769 with a separate condenser.",
                        "qas": [
                            {
                                "id": "a1",
                                "question": "When did Watt improve the steam engine?",
                                "is_impossible": False,
                                "answers": [
                                    {"text": "1769", "answer_start": 51},
                                    {"text": "1769", "answer_start": 51},
                                ],
                            },
                            {
                                "id": "u1",
                                "question": "When did Watt invent the diesel engine?",
                                "is_impossible": True,
                                "answers": [],
                                "plausible_answers": [{"text": "1769", "answer_start": 51}],
                            },
                        ],
                    },
                    {
                        "context": "Steam locomotives ran on railways from 1804.",
                        "qas": [
                            {
                                "id": "a2",
                                "question": "Since when did steam locomotives run?",
                                "is_impossible": False,
                                "answers": [{"text": "1804", "answer_start": 39}],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path.write_text(json.dumps(data))
    return path


def test_squad_loader(tmp_path: Path) -> None:
    dataset = load_squad(_squad(tmp_path / "squad.json"))
    assert [(d.id, d.title) for d in dataset.documents] == [
        ("Steam_engine#0", "Steam engine"),
        ("Steam_engine#1", "Steam engine"),
    ]
    by_id = {q.id: q for q in dataset.questions}
    assert by_id["a1"] == EvalQuestion(
        "When did Watt improve the steam engine?", ("Steam_engine#0",), "1769", True, (), "a1"
    )
    assert by_id["u1"].answerable is False and by_id["u1"].expected_documents == ()
    assert by_id["a2"].expected_documents == ("Steam_engine#1",)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "`data`"),
        ('{"data": 5}', "`data`"),
        ('{"data": [{"title": "T", "paragraphs": 5}]}', "`data[0].paragraphs`"),
        ('{"data": [{"paragraphs": [{"context": "c", "qas": [7]}]}]}', "paragraphs[0].qas`"),
        (
            '{"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "Q?", "answers": "x"}]}]}]}',
            "qas[0].answers`",
        ),
    ],
)
def test_squad_loader_names_what_is_malformed(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "squad.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=re.escape(named)):
        load_squad(path)


def test_questions_file_loader_validates(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"question": "Q?", "expected_documents": ["a", "a"], "key_term": "x", "answerable": true, "groups": ["HR"]}\n'
        "\n"
        '{"question": "Other?", "expected_documents": [], "key_term": "", "answerable": false, "groups": []}\n'
    )
    first, second = load_questions(path)
    assert first.expected_documents == ("a",) and first.groups == ("hr",)
    assert second.answerable is False
    path.write_text('{"question": "", "expected_documents": []}\n')
    with pytest.raises(DatasetError):
        load_questions(path)
    path.write_text('{"question": "Q?", "groups": ["no spaces allowed"]}\n')
    with pytest.raises(DatasetError):
        load_questions(path)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_questions_files_with_any_line_ending_read_line_by_line(
    tmp_path: Path, newline: bytes
) -> None:
    path = tmp_path / "q.jsonl"
    lines = [b'{"question": "One?"}', b"", b'{"question": "Two?"}', b'{"question": ""}']
    path.write_bytes(newline.join(lines) + newline)
    with pytest.raises(DatasetError, match=r"q\.jsonl:4:"):  # the fourth line, counted right
        load_questions(path)
    path.write_bytes(newline.join(lines[:3]))
    assert [q.question for q in load_questions(path)] == ["One?", "Two?"]


def test_a_line_that_is_not_json_is_named_with_its_column(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "One?"}\n{"question": "Two?\n')
    with pytest.raises(DatasetError) as error:
        load_questions(path)
    assert str(error.value) == (f"{path}:2: not JSON (Unterminated string starting at column 14)")


def test_stored_ids_are_safe_file_names() -> None:
    assert stored_id("12345") == "12345.txt"
    assert stored_id("Steam_engine#0") == "Steam_engine#0.txt"
    assert stored_id("a/b c") == "a%2Fb%20c.txt"
    assert stored_id(".hidden") == "%2Ehidden.txt"


def test_ingest_dataset_indexes_then_reuses(tmp_path: Path) -> None:
    dataset = load_beir(_beir(tmp_path / "beir"))
    embedder = HashEmbedder()
    store = SQLiteStore(tmp_path / "data", vector_kind="exact")
    report = ingest_dataset(dataset, store, embedder)
    assert report is not None and report.ok and report.added == 3
    titles = {store.get_document(stored_id(d), frozenset({"public"})).title for d in ("d1", "d3")}  # type: ignore[union-attr]
    assert titles == {"Vitamin D and bones", "Sleep"}
    assert ingest_dataset(dataset, store, embedder) is None  # same dataset: nothing to do
    changed = Dataset(dataset.name, dataset.documents[:2], dataset.questions)
    again = ingest_dataset(changed, store, embedder)
    assert again is not None and (again.removed, again.unchanged, again.added) == (1, 2, 0)
    questions = with_stored_ids(dataset.questions)
    retrieve = search_retriever(store, embedder, Settings(data_dir=tmp_path / "data"))
    found = retrieve(Principal.anonymous(), questions[1].question, 3)
    assert found.passages[0].document.id == questions[1].expected_documents[0] == "d2.txt"
    store.close()


def test_grouped_dataset_documents_are_readable_by_their_group_only(tmp_path: Path) -> None:
    """Documents with groups get a sidecar; a reader without the group cannot find them, which
    is how the abstention benchmark leaves an article out without a second index."""
    docs = [
        DatasetDocument("a#0", "Normans", "The Normans settled in Normandy in the tenth century.",
                        ("article-00",)),
        DatasetDocument("b#0", "Steam engine", "Watt's steam engine used a separate condenser.",
                        ("article-01",)),
    ]  # fmt: skip
    dataset = Dataset("grouped", docs, [EvalQuestion("Where did the Normans settle?", ("a#0",))])
    embedder = HashEmbedder()
    store = SQLiteStore(tmp_path / "data", vector_kind="exact")
    report = ingest_dataset(dataset, store, embedder)
    assert report is not None and report.ok and report.added == 2
    retrieve = search_retriever(store, embedder, Settings(data_dir=tmp_path / "data"))
    question = "Where did the Normans settle in Normandy?"
    both = retrieve(Principal("r", frozenset({"article-00", "article-01"})), question, 2)
    assert both.passages[0].document.id == stored_id("a#0")
    left_out = retrieve(Principal("r", frozenset({"article-01"})), question, 2)
    assert stored_id("a#0") not in {p.document.id for p in left_out.passages}
    assert left_out.evidence < both.evidence
    assert retrieve(Principal.anonymous(), question, 2).passages == []
    # public again: the sidecar goes and the groups follow
    public = Dataset("grouped", [DatasetDocument(d.id, d.title, d.text) for d in docs], [])
    assert ingest_dataset(public, store, embedder) is not None
    assert {p.document.id for p in retrieve(Principal.anonymous(), question, 2).passages} == {
        stored_id("a#0"),
        stored_id("b#0"),
    }
    store.close()


# -- retrieval matches the service ---------------------------------------------------------------


def test_retrieval_settings_carry_every_knob_of_the_service_settings(settings: Settings) -> None:
    custom = settings.model_copy(
        update={"top_k": 7, "candidates": 30, "fusion": "rrf", "rrf_k": 11,
                "dense_weight": 0.5, "lexical_weight": 2.0, "per_document": 3}
    )  # fmt: skip
    assert retrieval_settings(custom, None) == RetrievalSettings(
        k=7, candidates=30, fusion="rrf", rrf_k=11, dense_weight=0.5, lexical_weight=2.0,
        per_document=3,
    )  # fmt: skip
    # asking for more passages than candidates widens the candidate lists to match
    assert retrieval_settings(custom, 40) == replace(
        retrieval_settings(custom, None), k=40, candidates=40
    )


def test_eval_rankings_match_the_pipeline(services, settings: Settings) -> None:
    ours = search_retriever(services.store, services.embedder, settings)
    theirs = pipeline_retriever(services.rag)
    alice = Principal("alice", frozenset({"hr"}))
    for text in ("annual leave in Paris", "band C salary", "canteen lunch"):
        a, b = ours(alice, text, 6), theirs(alice, text, 6)
        assert [p.chunk.id for p in a.passages] == [p.chunk.id for p in b.passages]
        assert a.evidence == b.evidence


def test_a_list_weighted_zero_is_not_searched(services, settings: Settings) -> None:
    """HEARTH_DENSE_WEIGHT=0 / HEARTH_LEXICAL_WEIGHT=0 measure BM25 alone / dense alone: the
    fused order is then exactly the other list's order."""
    from index.search import bm25_top_k, dense_top_k

    store, embedder = services.store, services.embedder
    public = frozenset({"public"})
    text = "annual leave days in the Paris office"
    bm25_only = search_retriever(store, embedder, settings.model_copy(update={"dense_weight": 0}))
    dense_only = search_retriever(
        store, embedder, settings.model_copy(update={"lexical_weight": 0})
    )
    anonymous = Principal.anonymous()
    lexical = [p.chunk.id for p in bm25_top_k(store, text, public, 20)]
    dense = [p.chunk.id for p in dense_top_k(store, embedder, text, public, 20)]
    # BM25 finds fewer chunks than dense: a zero-weighted dense list searched anyway would
    # append its chunks (score 0) after BM25's, and the first equality would fail.
    assert len(_capped(store, lexical)) < len(_capped(store, dense))
    assert [p.chunk.id for p in bm25_only(anonymous, text, 20).passages] == _capped(store, lexical)
    assert [p.chunk.id for p in dense_only(anonymous, text, 20).passages] == _capped(store, dense)


def _capped(store: SQLiteStore, chunk_ids: list[int], per_document: int = 2) -> list[int]:
    """Chunk ids with at most `per_document` from one document, as hybrid_search keeps them."""
    owner = dict(store.execute("SELECT rowid, document_rowid FROM chunks"))
    seen: dict[object, int] = {}
    kept = []
    for chunk_id in chunk_ids:
        seen[owner[chunk_id]] = seen.get(owner[chunk_id], 0) + 1
        if seen[owner[chunk_id]] <= per_document:
            kept.append(chunk_id)
    return kept


# -- the command ------------------------------------------------------------------------------

QUESTIONS = [
    {
        "question": "How many days of annual leave do employees in the Paris office get?",
        "expected_documents": ["leave"],
        "key_term": "27",
        "answerable": True,
        "groups": [],
    },
    {
        "question": "When does the canteen open for lunch?",
        "expected_documents": ["canteen"],
        "key_term": "11:30",
        "answerable": True,
        "groups": [],
    },
    {
        "question": "What is the Band C salary range?",
        "expected_documents": ["salaries"],
        "key_term": "52000",
        "answerable": True,
        "groups": ["hr"],
    },
    {
        "question": "What is the Band C salary range?",
        "expected_documents": [],
        "key_term": "",
        "answerable": False,
        "groups": [],
    },
    {
        "question": "What is the capital of Australia?",
        "expected_documents": [],
        "key_term": "",
        "answerable": False,
        "groups": [],
    },
]


@pytest.fixture
def questions_file(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def _obj(services=None) -> dict[str, object]:
    return {
        "embedder_factory": lambda path: HashEmbedder(),
        "services_factory": lambda settings: services,
    }


def test_eval_retrieval_only(
    services, settings: Settings, questions_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "eval.json"
    result = CliRunner().invoke(
        eval_command,
        [
            str(questions_file),
            "--data-dir",
            str(settings.data_dir),
            "--k",
            "1,3",
            "--json",
            str(out),
        ],
        obj=_obj(),
    )
    assert result.exit_code == 0, result.output
    assert "Retrieval (3 answerable questions" in result.output
    assert "Abstention by evidence" in result.output
    report = json.loads(out.read_text())
    assert report["answers"] is None
    assert report["settings"]["ks"] == [1, 3] and report["settings"]["retrieval_depth"] == 20
    rows = report["rows"]
    assert len(rows) == 5
    assert [r["hit@3"] for r in rows[:3]] == [1.0, 1.0, 1.0]
    assert rows[2]["retrieved_documents"][0] == "salaries"  # the hr asker reads it
    assert "salaries" not in rows[3]["retrieved_documents"]  # the public asker never does
    assert "hit@3" not in rows[3]
    r = report["retrieval"]
    assert r["hit@3"] == 1.0 and r["questions"] == 3
    assert r["ndcg@10"] == pytest.approx(sum(row["ndcg@10"] for row in rows[:3]) / 3)
    a = report["abstention_by_evidence"]
    threshold = Settings().abstain_threshold
    assert (a["unanswerable"], a["answerable"], a["threshold"]) == (2, 3, threshold)
    assert a["curve"][0] == {"threshold": 0.0, "unanswerable_abstained": 0.0, "answerable_abstained": 0.0,
                             "unanswerable_abstained_count": 0, "answerable_abstained_count": 0}  # fmt: skip
    assert a["curve"][-1]["unanswerable_abstained"] == 1.0
    for row in rows:
        assert row["below_threshold"] == (row["evidence"] < threshold)


def test_eval_answer_mode(
    services, settings: Settings, questions_file: Path, tmp_path: Path, model: ScriptedChatModel
) -> None:
    model.answer = "Employees in the Paris office get 27 days of annual leave [1]."
    out = tmp_path / "eval.json"
    out.write_text("an older report, readable by everyone")
    out.chmod(0o644)
    every_passage = settings.model_copy(update={"focus_ratio": 0.0})  # the leave one is cited
    result = CliRunner().invoke(
        eval_command,
        [str(questions_file), "--data-dir", str(settings.data_dir), "--answer", "--json", str(out)],
        obj=_obj(
            build_services(every_passage, SQLiteStore(settings.data_dir), services.embedder, model)
        ),
    )
    assert result.exit_code == 0, result.output
    assert "Full answers (5 questions)" in result.output
    assert out.stat().st_mode & 0o777 == 0o600  # answers may quote restricted documents
    report = json.loads(out.read_text())
    s = report["answers"]
    rows = report["rows"]
    assert s["questions"] == 5 and s["errors"] == 0
    assert [r["abstained_by"] for r in rows] == [None, None, None, "retrieval", "retrieval"]
    assert all(r["ttft_ms"] is not None for r in rows[:3])
    assert all(r["ttft_ms"] is None for r in rows[3:])  # abstentions never reach the model
    assert rows[0]["key_term_match"] is True and rows[0]["cited_documents"] == ["leave"]
    assert rows[1]["key_term_match"] is False  # "11:30" is not in the scripted answer
    assert s["abstention_precision"] == s["abstention_recall"] == s["abstention_f1"] == 1.0
    assert s["false_abstentions"] == 0 and s["key_term_questions"] == 3
    assert s["key_term_match_rate"] == pytest.approx(1 / 3)
    cited = [(d, r) for r in rows[:3] for d in r["cited_documents"]]
    assert s["citations"] == len(cited) >= 3
    assert s["citation_precision"] == pytest.approx(
        sum(d in r["expected_documents"] for d, r in cited) / len(cited)
    )
    assert s["ttft_count"] == 3 and s["ttft_ms_median"] is not None
    assert services.conversations.list_for("hearth-eval") == []  # nothing stored

    # every key of the file is described in docs/EVALUATION.md
    docs = (CORPUS.parent / "docs" / "EVALUATION.md").read_text()
    described = docs.split("### What `hearth eval --json` writes", 1)[1].split("\n## ", 1)[0]
    keys = {
        *report,
        *report["settings"],
        *report["retrieval"],
        *s,
        *rows[0],
        *report["abstention_by_evidence"],
        *report["abstention_by_evidence"]["curve"][0],
    }
    generic = {re.sub(r"@\d+$", "@k", key) if key != "ndcg@10" else key for key in keys}
    undocumented = sorted(k for k in generic if f"`{k}`" not in described.replace("\n  ", " "))
    assert undocumented == [], undocumented


def test_ctrl_c_reports_and_writes_the_questions_done_before_it(
    services, settings: Settings, questions_file: Path, tmp_path: Path, model: ScriptedChatModel
) -> None:
    model.answer = "Employees in the Paris office get 27 days of annual leave [1]."
    answer, calls = services.rag.answer, []

    def interrupted_on_the_third(principal, question):
        calls.append(question)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return answer(principal, question)

    services.rag.answer = interrupted_on_the_third
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        eval_command,
        [str(questions_file), "--data-dir", str(settings.data_dir), "--answer", "--json", str(out)],
        obj=_obj(services),
    )
    assert result.exit_code == 130, result.output
    note = "interrupted: the figures are over the 2 of 5 questions done before it"
    assert result.stdout.startswith(note)  # a redirected table says it is partial
    assert note in " ".join(result.stderr.split())
    report = json.loads(out.read_text())
    assert report["interrupted"] is True
    assert (report["questions_asked"], report["questions_done"]) == (5, 2)
    assert len(report["rows"]) == 2 and report["answers"]["questions"] == 2
    assert report["retrieval"]["questions"] == 2  # the same questions in every figure


def test_ctrl_c_before_any_question_is_done_writes_nothing(
    services, settings: Settings, questions_file: Path, tmp_path: Path
) -> None:
    def interrupted(principal, question):
        raise KeyboardInterrupt

    services.rag.answer = interrupted
    out = tmp_path / "eval.json"
    out.write_text("an earlier run's results\n")
    result = CliRunner().invoke(
        eval_command,
        [str(questions_file), "--data-dir", str(settings.data_dir), "--answer", "--json", str(out)],
        obj=_obj(services),
    )
    assert result.exit_code == 130
    assert "interrupted before any question was done" in " ".join(result.output.split())
    assert out.read_text() == "an earlier run's results\n"


def test_eval_refuses_bad_input(settings: Settings, questions_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        eval_command, [str(questions_file), "--data-dir", str(tmp_path / "none")], obj=_obj()
    )
    assert missing.exit_code == 2 and "no index" in missing.output
    said = " ".join(missing.output.split())
    assert f"run `hearth ingest PATH --data-dir {tmp_path / 'none'}` first" in said
    unused = tmp_path / "new" / "folders" / "eval.json"
    failed = runner.invoke(
        eval_command,
        [str(questions_file), "--data-dir", str(tmp_path / "none"), "--json", str(unused)],
        obj=_obj(),
    )
    assert failed.exit_code == 2 and not (tmp_path / "new").exists()  # no empty folders left
    neither = runner.invoke(eval_command, ["--data-dir", str(tmp_path)], obj=_obj())
    assert neither.exit_code == 2
    bad_k = runner.invoke(eval_command, [str(questions_file), "--k", "five"], obj=_obj())
    assert bad_k.exit_code == 2
    for ks, said in [("5,,10", "empty cut-off in '5,,10'"), ("", "a value is needed"),
                     (" ", "a value is needed"), ("0,5", "between 1 and 100"),
                     ("101", "between 1 and 100")]:  # fmt: skip
        refused = runner.invoke(eval_command, [str(questions_file), "--k", ks], obj=_obj())
        assert refused.exit_code == 2 and said in refused.output, (ks, refused.output)
        assert "Traceback" not in refused.output


def test_eval_names_expected_documents_the_index_lacks(
    services, settings: Settings, questions_file: Path, tmp_path: Path
) -> None:
    """A typo'd or foreign id would otherwise score as a plain miss, and a whole file of them
    as 0.000 with exit code 0."""
    lines = questions_file.read_text().splitlines()
    typo = json.loads(lines[0]) | {"expected_documents": ["leave.md"]}
    one_wrong = tmp_path / "one-wrong.jsonl"
    one_wrong.write_text("\n".join([json.dumps(typo), *lines[1:]]) + "\n")
    args = ["--data-dir", str(settings.data_dir)]
    warned = CliRunner().invoke(eval_command, [str(one_wrong), *args], obj=_obj())
    assert warned.exit_code == 0, warned.output
    assert "1 expected document of 3 not in the index" in warned.output
    assert "'leave.md'" in warned.output
    all_wrong = tmp_path / "all-wrong.jsonl"
    all_wrong.write_text(json.dumps(typo) + "\n")
    refused = CliRunner().invoke(eval_command, [str(all_wrong), *args], obj=_obj())
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "the expected document 'leave.md' is not in this index" in said
    two_wrong = tmp_path / "two-wrong.jsonl"
    other = typo | {"expected_documents": ["canteen.md", "leave.md"]}
    two_wrong.write_text(json.dumps(other) + "\n")
    refused = CliRunner().invoke(eval_command, [str(two_wrong), *args], obj=_obj())
    said = " ".join(refused.output.split())
    assert "none of the 2 expected documents is in this index ('canteen.md', 'leave.md')" in said


def test_eval_warns_of_expected_documents_the_asker_cannot_read(
    services, settings: Settings, questions_file: Path, tmp_path: Path
) -> None:
    """Without the hr group the salaries document is never retrieved: a miss, but not a
    retrieval failure, and one a forgotten "groups" explains."""
    lines = questions_file.read_text().splitlines()
    forgot = json.loads(lines[2]) | {"id": "band-c", "groups": []}
    path = tmp_path / "forgot.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(forgot)]) + "\n")
    out = tmp_path / "eval.json"
    args = [str(path), "--data-dir", str(settings.data_dir), "--json", str(out)]
    result = CliRunner().invoke(eval_command, args, obj=_obj())
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert ("warning: 1 expected document not readable by the question's groups, counted as "
            "misses (add the groups to the question): band-c: 'salaries' (groups hr; asker "
            "public)") in said  # fmt: skip
    assert json.loads(out.read_text())["rows"][1]["hit@5"] == 0.0
    readable = CliRunner().invoke(eval_command, [str(questions_file), *args[1:]], obj=_obj())
    assert readable.exit_code == 0 and "not readable" not in readable.output


def test_eval_checks_the_json_path_and_the_split_before_any_work(
    settings: Settings, questions_file: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = [str(questions_file), "--data-dir", str(settings.data_dir)]
    unwritable = CliRunner().invoke(
        eval_command, [*args, "--json", str(blocker / "out.json")], obj=_obj()
    )
    assert unwritable.exit_code == 2 and "--json" in unwritable.output
    assert "Retrieval" not in unwritable.output  # refused before searching
    split = CliRunner().invoke(eval_command, [*args, "--split", "train"], obj=_obj())
    assert split.exit_code == 2 and "--beir" in split.output


def test_a_benchmark_needs_a_data_dir_of_its_own(
    services, settings: Settings, tmp_path: Path
) -> None:
    """Indexed into the service's own data dir, a benchmark would be answered from, and its
    figures would measure the mix."""
    result = CliRunner().invoke(
        eval_command,
        ["--beir", str(_beir(tmp_path / "beir")), "--data-dir", str(settings.data_dir)],
        obj=_obj(),
    )
    assert result.exit_code == 2
    assert "not part of beir-test" in result.output and "--data-dir" in result.output
    assert SQLiteStore(settings.data_dir).document_state_of("d1.txt") is None  # nothing added


def test_ingest_dataset_itself_refuses_a_store_holding_other_documents(
    services, settings: Settings, tmp_path: Path
) -> None:
    """The benchmark scripts index through ingest_dataset: the same refusal as hearth eval's."""
    dataset = load_beir(_beir(tmp_path / "beir"))
    store = SQLiteStore(settings.data_dir)
    with pytest.raises(DatasetError, match=r"already holds \d+ documents that are not part of"):
        ingest_dataset(dataset, store, HashEmbedder())
    assert store.document_state_of("d1.txt") is None
    store.close()


def test_loaders_say_what_is_wrong_and_what_would_be_right(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Q?", "expected_document": ["a"]}\n')
    with pytest.raises(DatasetError, match="did you mean `expected_documents`"):
        load_questions(path)
    path.write_text('{"question": "Q?", "note": "free text", "category": "hr"}\n')
    assert load_questions(path)[0].question == "Q?"  # fields for people, ignored
    path.write_text('{"question": "Q?", "notes": "free text"}\n')
    with pytest.raises(DatasetError, match="did you mean `note`"):  # an ignored field misspelt
        load_questions(path)
    path.write_text('[{"question": "Q?"},\n {"question": "R?"}]\n')
    with pytest.raises(DatasetError, match="JSON Lines"):
        load_questions(path)
    with pytest.raises(DatasetError, match=r"no split 'dev'.*it has: test, train"):
        load_beir(_beir(tmp_path / "beir"), split="dev")


@pytest.mark.parametrize("field", ["expected_docs", "relevant", "notes"])
def test_any_unknown_field_is_an_error_naming_line_field_and_known_fields(
    tmp_path: Path, field: str
) -> None:
    """A field far from every known name ("relevant"), yet would leave the question without
    its expected documents: unanswerable, silently."""
    path = tmp_path / "q.jsonl"
    path.write_text(f'{{"question": "P?"}}\n{{"question": "Q?", "{field}": ["a"]}}\n')
    with pytest.raises(DatasetError) as raised:
        load_questions(path)
    said = raised.value.message
    assert said.startswith(f"{path}:2: unknown field `{field}`")
    assert "known fields: question, expected_documents, key_term, answerable, groups, id" in said
    assert "note, category" in said


def test_unanswerable_with_expected_documents_is_a_contradiction(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Q?", "expected_documents": ["a"], "answerable": false}\n')
    with pytest.raises(DatasetError, match=r"q.jsonl:1: `answerable` is false but"):
        load_questions(path)
    path.write_text('{"question": "Q?", "expected_documents": [], "answerable": false}\n')
    assert load_questions(path)[0].answerable is False


@pytest.mark.parametrize(
    "name",
    [
        "corpus/questions.jsonl",
        "corpus/adversarial.jsonl",
        "bench/unseen-questions.jsonl",
        "bench/unseen2-questions.jsonl",
    ],
)
def test_the_repositorys_questions_files_load(name: str) -> None:
    assert load_questions(CORPUS.parent / name)


def test_files_that_are_not_utf8_are_named_with_their_line(tmp_path: Path) -> None:
    """A Latin-1 `café` or random bytes: a clear error, not Python's UnicodeDecodeError."""
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(b'\xef\xbb\xbf{"question": "Q?"}\n{"question": "caf\xe9?"}\n')
    with pytest.raises(DatasetError, match=re.escape(f"{questions}:2: not UTF-8 text")):
        load_questions(questions)
    folder = _beir(tmp_path / "beir")
    (folder / "qrels" / "test.tsv").write_bytes(b"q1\td1\t1\nq\xff\td2\t1\n")
    with pytest.raises(DatasetError, match=r"test.tsv:2: not UTF-8 text"):
        read_qrels(folder / "qrels" / "test.tsv")
    squad = tmp_path / "squad.json"
    squad.write_bytes(b'{"data": [\n{"title": "Caf\xe9"}]}')
    with pytest.raises(DatasetError, match=r"squad.json:2: not UTF-8 text"):
        load_squad(squad)
    result = CliRunner().invoke(eval_command, [str(questions)], obj=_obj())
    assert result.exit_code == 2 and "q.jsonl:2: not UTF-8 text" in " ".join(result.output.split())


def test_the_help_shows_a_questions_line_with_real_document_ids() -> None:
    shown = CliRunner().invoke(eval_command, ["--help"]).output
    example = re.search(r'"expected_documents": \[([^\]]*)\]', shown)
    assert example is not None
    ids = json.loads(f"[{example.group(1)}]")
    known = {d for q in load_questions(CORPUS / "questions.jsonl") for d in q.expected_documents}
    assert ids and set(ids) <= known


def test_eval_beir_builds_then_reuses_the_index(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "beir")
    data_dir = tmp_path / "beir-data"
    out = tmp_path / "beir.json"
    args = ["--beir", str(folder), "--data-dir", str(data_dir), "--json", str(out)]
    first = CliRunner().invoke(eval_command, args, obj=_obj())
    assert first.exit_code == 0, first.output
    assert "3 added" in first.output
    report = json.loads(out.read_text())
    assert report["retrieval"]["questions"] == 2
    assert report["rows"][0]["expected_documents"] == ["d1.txt", "d3.txt"]
    assert report["rows"][0]["retrieved_documents"][0] == "d1.txt"
    assert report["source"]["split"] == "test"
    second = CliRunner().invoke(eval_command, args, obj=_obj())
    assert second.exit_code == 0 and "already indexed" in second.output


def test_eval_squad(tmp_path: Path) -> None:
    out = tmp_path / "squad.json"
    result = CliRunner().invoke(
        eval_command,
        [
            "--squad",
            str(_squad(tmp_path / "s.json")),
            "--data-dir",
            str(tmp_path / "d"),
            "--json",
            str(out),
        ],
        obj=_obj(),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["retrieval"]["questions"] == 2
    assert report["abstention_by_evidence"]["unanswerable"] == 1
    assert report["rows"][0]["retrieved_documents"][0] == "Steam_engine#0.txt"


# -- quality floors on corpus/ with the real embedder (integration) ------------------------------

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

# Measured on corpus/questions.jsonl (docs/EVALUATION.md, `hearth eval corpus/questions.jsonl`):
# the floor is the measurement minus a margin of about two questions out of 65 answerable
# (0.03) or 15 unanswerable (0.13), so one unlucky change of tokenizer or library version does
# not fail the run but a real regression does.
# Session 7 (score fusion): hit@5 1.000, MRR 0.973, nDCG@10 0.977 (RRF gave 0.933 / 0.947).
FLOORS = {"hit@5": 0.95, "recall@5": 0.95, "mrr": 0.93, "ndcg@10": 0.94}
MIN_UNANSWERABLE_ABSTAINED = 0.73  # measured 0.867 (13/15) at the default 0.52: at least 11/15
MAX_ANSWERABLE_ABSTAINED = 0.05  # measured 0.015 (1/65) at the default 0.52: at most 3 of 65


@pytest.fixture(scope="module")
def corpus_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus/ ingested once with the real embedder, for the floor tests below."""
    from index.embedder import SentenceTransformerEmbedder
    from ingest.pipeline import IngestOptions, Ingestor

    data = tmp_path_factory.mktemp("corpus") / "data"
    store = SQLiteStore(data)
    assert Ingestor(store, SentenceTransformerEmbedder()).run([CORPUS], IngestOptions()).ok
    store.close()
    return data


def _eval_corpus(data: Path, out: Path, *options: str, questions: str = "questions.jsonl") -> dict:
    result = CliRunner().invoke(
        eval_command,
        [str(CORPUS / questions), "--data-dir", str(data), "--json", str(out), *options],
        obj={},
    )
    assert result.exit_code == 0, result.output
    report: dict = json.loads(out.read_text())
    return report


@pytest.mark.integration
def test_hearth_eval_on_corpus_keeps_its_quality_floors(corpus_data: Path, tmp_path: Path) -> None:
    report = _eval_corpus(corpus_data, tmp_path / "eval.json")
    retrieval = report["retrieval"]
    assert retrieval["questions"] >= 60
    for metric, floor in FLOORS.items():
        assert retrieval[metric] >= floor, f"{metric} {retrieval[metric]:.3f} < floor {floor}"
    point = report["abstention_by_evidence"]["operating_point"]
    assert point["threshold"] == Settings().abstain_threshold
    assert point["unanswerable_abstained"] >= MIN_UNANSWERABLE_ABSTAINED, point
    assert point["answerable_abstained"] <= MAX_ANSWERABLE_ABSTAINED, point


# Full answers with the bundled model (`hearth eval corpus/questions.jsonl --answer`), measured
# 0.969 (62/64) citation precision, 42 of 65 key terms, no answerable question answered without
# a citation (22 quoted instead of the model's unsupported draft), 13/15 unanswerable and 2/65
# answerable abstained (one by the evidence, one by the model; docs/EVALUATION.md §4). Greedy
# decoding repeats itself on one build, not across CPUs: the session-6 code gave 32 key terms on
# one machine and 29 on another. The margins (about 3 citations, 5 key terms, 2 questions)
# absorb that, not a real regression; without the quotes (HEARTH_QUOTE_UNSUPPORTED=false) the
# same run gives 30 key terms and 22 uncited answers, and fails. Since session 11 a number or
# name the passage contradicts is no longer cited: 9 of the model's 35 cited answers miss the
# key term (13 of 40 before), and 45 answers hold it (42 before). Since session 12 a question
# that asks for a figure gets one and the model's "I don't know" past the threshold gives way
# to a quote: 51 answers hold the key term, 7 of the model's 33 cited answers miss it, 1 of 65
# answerable questions is wrongly abstained (by the evidence).
MIN_CITATION_PRECISION = 0.92
MIN_KEY_TERM_MATCHES = 46
MAX_ANSWERED_WITHOUT_CITATIONS = 4
MAX_CITED_WITHOUT_KEY_TERM = 12
MAX_FALSE_ABSTENTIONS_WITH_ANSWERS = 0.05  # at most 3 of 65


@pytest.mark.integration
def test_full_answers_on_corpus_keep_their_quality_floors(
    corpus_data: Path, tmp_path: Path
) -> None:
    answers = _eval_corpus(corpus_data, tmp_path / "answers.json", "--answer")["answers"]
    assert answers["errors"] == 0 and answers["answerable"] >= 60
    assert answers["citation_precision"] >= MIN_CITATION_PRECISION, answers
    assert answers["key_term_matches"] >= MIN_KEY_TERM_MATCHES, answers
    assert answers["answered_without_citations"] <= MAX_ANSWERED_WITHOUT_CITATIONS, answers
    assert answers["model_cited_without_key_term"] <= MAX_CITED_WITHOUT_KEY_TERM, answers
    assert answers["abstention_recall"] >= MIN_UNANSWERABLE_ABSTAINED, answers
    assert answers["false_abstention_rate"] <= MAX_FALSE_ABSTENTIONS_WITH_ANSWERS, answers


# corpus/adversarial.jsonl (113 questions built to catch a wrong answer that looks checked,
# docs/EVALUATION.md §4 "Another office's row"): 56 of 92 key terms with the other-row rule,
# 47 without it; citation precision 0.977 (85/87) both ways.
MIN_ADVERSARIAL_KEY_TERMS = 52
MIN_ADVERSARIAL_CITATION_PRECISION = 0.93


@pytest.mark.integration
def test_full_answers_on_the_adversarial_questions_keep_their_floors(
    corpus_data: Path, tmp_path: Path
) -> None:
    answers = _eval_corpus(
        corpus_data, tmp_path / "adversarial.json", "--answer", questions="adversarial.jsonl"
    )["answers"]
    assert answers["errors"] == 0 and answers["answerable"] >= 90
    assert answers["key_term_matches"] >= MIN_ADVERSARIAL_KEY_TERMS, answers
    assert answers["citation_precision"] >= MIN_ADVERSARIAL_CITATION_PRECISION, answers


def test_eval_names_the_questions_it_missed(services, settings: Settings, tmp_path: Path) -> None:
    """The tables give rates; which questions missed is what one fixes next."""
    path = tmp_path / "q.jsonl"
    questions = [
        {"id": "wrong-doc", "question": "When does the canteen open?",
         "expected_documents": ["bikes"], "answerable": True},
        {"id": "right-doc", "question": "When does the canteen open?",
         "expected_documents": ["canteen"], "answerable": True},
        {"id": "far-away", "question": "What is the capital of Australia?",
         "expected_documents": [], "answerable": False},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    out = tmp_path / "eval.json"
    args = [str(path), "--data-dir", str(settings.data_dir), "--k", "1", "--json", str(out)]
    result = CliRunner().invoke(eval_command, args, obj=_obj())
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert ("answerable, expected document not in the top 1 (1): wrong-doc: When does the "
            "canteen open?") in said  # fmt: skip
    assert "right-doc:" not in said
    rows = {row["id"]: row for row in json.loads(out.read_text())["rows"]}
    refused = [i for i in ("wrong-doc", "right-doc") if rows[i]["below_threshold"]]
    assert ("answerable, evidence below the threshold" in said) is bool(refused)
    assert ("far-away:" in said) is (not rows["far-away"]["below_threshold"])


# -- the benchmark scripts: one line and exit code 2 for input they cannot use ------------------


def _bench_fails(capsys: pytest.CaptureFixture[str], main, *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


def test_eval_retrieval_script_refuses_what_it_cannot_use(
    services, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import eval_retrieval

    beir, data = _beir(tmp_path / "beir"), str(tmp_path / "d")
    said = _bench_fails(capsys, eval_retrieval.main, "--beir", str(tmp_path), "--data-dir", data)
    assert said == f"error: {tmp_path}: no qrels/ folder (a BEIR folder holds corpus.jsonl, " \
        "queries.jsonl and qrels/SPLIT.tsv)"  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = str(blocker / "out.json")
    said = _bench_fails(capsys, eval_retrieval.main, "--beir", str(beir), "--data-dir", data,
                        "--json", out)  # fmt: skip
    assert said.startswith(f"error: --json: cannot write to {blocker}/")
    # the service's own index: refused before any document is added or the embedder loaded
    said = _bench_fails(capsys, eval_retrieval.main, "--beir", str(beir), "--data-dir",
                        str(settings.data_dir))  # fmt: skip
    assert "not part of beir-test: give the benchmark a --data-dir of its own" in said
    assert SQLiteStore(settings.data_dir).document_state_of("d1.txt") is None


def test_eval_abstention_script_refuses_what_it_cannot_use(
    services, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import eval_abstention

    main = eval_abstention.main
    missing = tmp_path / "missing.json"
    assert _bench_fails(capsys, main, "--samples", str(missing)) == (
        f"error: {missing}: No such file or directory"
    )
    eval_json = tmp_path / "eval.json"
    eval_json.write_text(json.dumps({"source": {}, "rows": []}))  # a hearth eval --json
    said = _bench_fails(capsys, main, "--samples", str(eval_json))
    assert said == f"error: {eval_json}: not an eval_abstention samples file (one written by " \
        "its --json)"  # fmt: skip
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Q?"}\n{"question": "R?"}\n')
    dirs = ["--squad-dir", str(tmp_path / "s"), "--corpus-dir", str(tmp_path / "c")]
    said = _bench_fails(capsys, main, "--squad", str(questions), *dirs)
    assert said == f"error: {questions}: not JSON"
    squad = _squad(tmp_path / "s.json")
    said = _bench_fails(capsys, main, "--squad", str(squad), "--squad-dir",
                        str(settings.data_dir), "--corpus-dir", str(tmp_path / "c"))  # fmt: skip
    assert "not part of squad-s-by-article: give the benchmark a --data-dir of its own" in said
    assert not (tmp_path / "c").exists()  # refused before the corpus half
    for limit in ("0", "-3"):
        with pytest.raises(SystemExit) as exited:
            main(["--squad", str(squad), *dirs, "--limit", limit])
        assert exited.value.code == 2 and "is not at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["eval_retrieval", "eval_abstention"])
def test_bench_scripts_help_shows_examples_and_every_default(
    script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    module = importlib.import_module(f"bench.{script}")
    with pytest.raises(SystemExit) as exited:
        module.main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert f"nice -n 10 .venv/bin/python bench/{script}.py" in shown  # the example, whole:
    assert " \\\n        --" in shown  # its continued lines kept as written
    listed = shown.split("options:", 1)[1].split("\n\n")[0]
    options = re.split(r"\n  (?=-)", listed)[2:]  # after -h
    assert options and all("default" in " ".join(o.split()) or "required" in o for o in options), (
        options
    )


def test_questions_files_written_by_eval_abstention_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import eval_abstention

    folder = tmp_path / "questions"
    eval_abstention.main(["--squad", str(_squad(tmp_path / "s.json")), "--questions-out",
                          str(folder)])  # fmt: skip
    inside = load_questions(folder / "squad-in-corpus.jsonl")
    outside = load_questions(folder / "squad-left-out.jsonl")
    assert inside and all(q.answerable and q.expected_documents for q in inside)
    assert len(outside) == len(inside) and not any(q.answerable for q in outside)
