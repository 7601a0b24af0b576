"""Question (+ conversation) -> retrieve -> abstain or prompt -> stream -> attributed answer.

Retrieval is restricted to the caller's groups inside both searches, so everything downstream
(prompt, sources, citations, stored messages) only ever holds text the caller may read.
A follow-up is searched both alone and joined to the previous question, and the two rankings
are fused, so "and in Berlin?" after a question about leave in Paris finds the Berlin section.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.answer_budget import fit
from app.attribution import Attribution, attribute, without_markers
from app.conversations import ConversationStore
from app.engines import ChatModel, ChatStream
from app.prompt import build_prompt, condense, focus, without_scaffolding
from app.qualifiers import Rows, asked_qualifiers
from app.quote import (
    QUOTE_REASON_CODES,
    UNCOUNTED_NOTE,
    embedder_alike,
    quote,
    quote_reason,
    reader_note,
    says_nothing_asked,
)  # fmt: skip
from app.reader_notes import FOLLOW_UP_NOTE, READER_NOTES, UNCITED_NOTE, without_notes
from app.settings import Settings
from app.smalltalk import reply_to
from app.snippets import SNIPPET_CHARS, source_view
from app.withheld import drew_on_unreadable, readability
from index.errors import InvalidRequestError, NotFoundError
from index.protocols import Embedder, Store
from index.search import Retrieval, RetrievalSettings, hybrid_search
from index.terms import is_elliptical
from index.types import Passage, Principal

ABSTAIN_LEAD = "I don't know. Nothing in the documents you can read answers this"
ABSTAIN_TEXT = f"{ABSTAIN_LEAD}; the closest matches I found are listed as sources."
NOTHING_CLOSE_TEXT = f"{ABSTAIN_LEAD}, and nothing in them comes close."  # no passage at all
MAX_QUESTION_CHARS = 4000


@dataclass(frozen=True)
class Question:
    """One request to answer."""

    text: str
    conversation_id: str | None = None
    top_k: int | None = None
    exclude_document_ids: frozenset[str] = frozenset()
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None  # sampling seed (OpenAI's `seed`); None: the engine's own
    history: tuple[tuple[str, str], ...] | None = None  # given by stateless clients (/v1)
    store_conversation: bool = True

    def __post_init__(self) -> None:
        # Documents are stored in NFC (ingest); a question typed or pasted in decomposed form
        # ("cafe" + a combining accent) would otherwise match none of their words.
        object.__setattr__(self, "text", unicodedata.normalize("NFC", self.text))


@dataclass
class Answer:
    """The finished answer: text with [n] markers, how it was reached, and where it came from."""

    text: str
    abstained: bool
    abstained_by: str | None
    uncited: bool
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    conversation_id: str | None
    message_id: str | None
    model: str
    evidence: float
    timings: dict[str, float] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    stopped: bool = False
    # the model's answer reached max_tokens and may be cut short, or Hearth's text that took
    # its place (a quote, an "I don't know") was cut to max_tokens (app.answer_budget)
    truncated: bool = False
    quoted: bool = False  # the model's answer gave way to a quote (app.quote.quote_reason)
    quote_reason: str | None = None  # why, as app.quote.QUOTE_REASON_CODES names it
    # tokens the model read and wrote (none when retrieval abstained), for OpenAI's `usage`
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def last(items: Sequence[Any], count: int) -> list[Any]:
    """The last `count` items: none for 0, where `items[-0:]` would give them all."""
    return list(items[-count:]) if count > 0 else []


@dataclass(frozen=True)
class Event:
    """A step of a streamed answer: "sources", "token" or "done"."""

    kind: str
    data: Any


def retrieval_settings(settings: Settings, top_k: int | None) -> RetrievalSettings:
    """The RetrievalSettings derived from the service's Settings for `top_k` passages."""
    return RetrievalSettings(
        k=top_k or settings.top_k,
        candidates=max(settings.candidates, top_k or 0),
        fusion=settings.fusion,
        rrf_k=settings.rrf_k,
        dense_weight=settings.dense_weight,
        lexical_weight=settings.lexical_weight,
        per_document=settings.per_document,
    )


class RagPipeline:
    """Answers questions for principals; one instance per app."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        model: ChatModel,
        conversations: ConversationStore,
        settings: Settings,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.model = model
        self.conversations = conversations
        self.settings = settings

    def retrieval_settings(self, top_k: int | None) -> RetrievalSettings:
        return retrieval_settings(self.settings, top_k)

    def retrieve(
        self,
        principal: Principal,
        question: str,
        history: list[tuple[str, str]],
        top_k: int | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> Retrieval:
        """Hybrid search for the question, and for it joined to the previous question (whose
        evidence a follow-up that leans on it may borrow: index.search.hybrid_search)."""
        queries = [(question, 1.0)]
        # "thanks!" between two questions is nothing a follow-up leans on
        previous = [c for role, c in history if role == "user" and reply_to(c) is None]
        if previous:
            queries.append((f"{previous[-1]} {question}", 1.0))
        return hybrid_search(
            self.store, self.embedder, queries, principal.readable_groups,
            self.retrieval_settings(top_k), exclude,
            borrow_evidence=bool(previous) and is_elliptical(question),
        )  # fmt: skip

    def _history(self, principal: Principal, question: Question) -> list[tuple[str, str]]:
        if question.history is not None:
            history = last(question.history, self.settings.history_turns)
        elif question.conversation_id is None:
            return []
        else:
            history = self._stored_history(principal, question.conversation_id)
        return [(role, without_notes(content) if role == "assistant" else content)
                for role, content in history]  # fmt: skip

    def _stored_history(self, principal: Principal, conversation_id: str) -> list[tuple[str, str]]:
        """The conversation's last turns as its owner may read them now: an answer that drew
        on a document they may no longer read is not put into the prompt (app/withheld.py)."""
        conversation = self.conversations.get(conversation_id, principal.user)
        if conversation is None:
            raise NotFoundError("conversation not found")
        may_read = readability(self.store, principal)
        return [
            (m.role, m.content)
            for m in last(conversation.messages, self.settings.history_turns)
            if m.role != "assistant" or not drew_on_unreadable(m.details, may_read)
        ]

    def stream(
        self, principal: Principal, question: Question, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Answer as a stream of events. Validation errors and a full queue raise before the
        first event, so HTTP routes can still answer 4xx/503."""
        text = question.text.strip()
        if not text or len(text) > MAX_QUESTION_CHARS:
            raise InvalidRequestError(f"a question needs 1 to {MAX_QUESTION_CHARS} characters")
        max_tokens = self._budget(question)
        if not 1 <= max_tokens <= self.settings.max_answer_tokens:
            raise InvalidRequestError(
                f"max_tokens must be between 1 and {self.settings.max_answer_tokens}"
            )
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        history = self._history(principal, question)
        reply = reply_to(text)
        if reply is not None:  # thanks or hello: nothing to look up (app/smalltalk.py)
            answer = Answer(reply, False, None, False, [], [], question.conversation_id, None,
                            "", 0.0, {"retrieval_ms": 0.0})  # fmt: skip
            return self._without_model(principal, question, answer, started)
        retrieval = self.retrieve(
            principal, text, history, question.top_k, question.exclude_document_ids
        )
        retrieved_at = time.perf_counter()
        timings = {"retrieval_ms": round((retrieved_at - started) * 1000, 1)}
        conversation_id = question.conversation_id
        if retrieval.evidence < self.settings.abstain_threshold or not retrieval.passages:
            sources = [
                source_view(i, p, retrieval.sentences)
                for i, p in enumerate(retrieval.passages, start=1)
            ]
            follows = any(role == "user" for role, _ in history) and is_elliptical(text)
            lead = ABSTAIN_TEXT if sources else NOTHING_CLOSE_TEXT
            answer = Answer(
                lead + (reader_note(FOLLOW_UP_NOTE) if follows else ""), True,
                "retrieval", False, [], sources, conversation_id, None, self.model.model_id,
                retrieval.evidence, timings,
            )  # fmt: skip
            return self._without_model(principal, question, answer, started)
        shown = condense(
            focus(retrieval.passages, self.settings.focus_ratio, retrieval.carriers),
            retrieval.sentences, self.settings.prompt_sentences, retrieval.carriers, text,
        )  # fmt: skip
        prompt = build_prompt(self.model, text, shown, history, max_tokens)
        temperature = (
            self.settings.temperature if question.temperature is None else question.temperature
        )
        # raises ModelBusyError / ContextOverflowError now, before anything streams
        tokens = self.model.stream(
            prompt.messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel,
            seed=question.seed,
        )  # fmt: skip
        read = self.model.prompt_tokens(prompt.messages)
        return self._generate(
            principal, question, prompt.passages, tokens, retrieval, timings, started, cancel,
            read,
        )  # fmt: skip

    def _budget(self, question: Question) -> int:
        """The answer's length in model tokens: the client's max_tokens, else the default."""
        return question.max_tokens or self.settings.max_answer_tokens

    def _within_budget(self, answer: Answer, question: Question) -> bool:
        """Cut Hearth's own text in `answer` to max_tokens, as the engines cut the model's
        (app.answer_budget); whether it had to be cut."""
        count = self.model.count_tokens
        answer.text, cut = fit(answer.text, self._budget(question), count, READER_NOTES)
        return cut

    def _without_model(
        self, principal: Principal, question: Question, answer: Answer, started: float
    ) -> Iterator[Event]:
        """The events of an answer made without the model (an abstention, a reply to thanks),
        kept with the conversation like any other."""
        answer.truncated = self._within_budget(answer, question)
        yield Event("sources", answer.sources)
        yield Event("token", answer.text)
        answer.timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        self._remember(principal, question, answer)
        yield Event("done", answer)

    def _generate(
        self, principal: Principal, question: Question, passages: list[Passage],
        tokens: ChatStream, retrieval: Retrieval, timings: dict[str, float],
        started: float, cancel: threading.Event, prompt_tokens: int,
    ) -> Iterator[Event]:  # fmt: skip
        sources = [source_view(i, p, retrieval.sentences) for i, p in enumerate(passages, start=1)]
        pieces: list[str] = []
        try:
            yield Event("sources", sources)  # a consumer that stops here closes the stream too
            for piece in tokens:
                if not pieces:
                    timings["ttft_ms"] = round((time.perf_counter() - started) * 1000, 1)
                pieces.append(piece)
                yield Event("token", piece)
        finally:
            tokens.close()  # a client that went away stops the generation
        drafted = "".join(pieces).strip()
        raw = without_scaffolding(drafted) or drafted  # all echo: checked as it is (a quote)
        asked = question.text.strip()
        attribution = attribute(raw, passages, self.embedder, asked)
        # which office, level or tier each passage's rows are (only if the question names one)
        rows = Rows.of_passages(retrieval.passages) if asked_qualifiers(asked) else None
        whole = retrieval.passages
        alike = embedder_alike(self.embedder)  # "1,200 workers" counts employees
        reason, denied = quote_reason(attribution, asked, passages, rows, whole, alike)
        quoted = None
        if self.settings.quote_unsupported and reason and not cancel.is_set():
            quoted = quote(
                passages, retrieval.sentences, SNIPPET_CHARS, attribution.corrections, asked,
                reason, rows, denied,
            )  # fmt: skip
        # a quote with no moment for "when", or of another year than the one asked
        empty = quoted is not None and says_nothing_asked(quoted, asked)
        quoted = None if empty else quoted
        unanswered = (empty or reason == UNCOUNTED_NOTE) and quoted is None
        if unanswered and not cancel.is_set() and self.settings.quote_unsupported:
            # a count of something else, and no sentence of the best-ranked source counts what
            # was asked, or the quote answers nothing asked: the sources do not say (the draft
            # is kept with the conversation)
            nothing = Attribution("", [], [], False, False)
            answer = self._answer_from(nothing, sources, question, retrieval, timings)
            answer.abstained_by = "attribution"
            answer.unsupported = [without_markers(attribution.text)]
        else:
            answer = self._answer_from(quoted or attribution, sources, question, retrieval, timings)
        if quoted is not None and reason:
            # the draft's unchecked sentences are kept with the conversation
            answer.quoted, answer.unsupported = True, attribution.unsupported
            answer.quote_reason = QUOTE_REASON_CODES[reason]
        answer.stopped = cancel.is_set()
        # a quote, or "I don't know" for a quote that answers nothing: Hearth's text, not cut
        # as it was generated
        hearths = quoted is not None or answer.abstained_by == "attribution"
        cut = hearths and self._within_budget(answer, question)
        answer.truncated = cut or (
            tokens.truncated and quoted is None and not answer.stopped and not answer.abstained
        )
        answer.prompt_tokens = prompt_tokens
        answer.completion_tokens = self.model.count_tokens(drafted)  # all it wrote, echo too
        answer.timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        self._remember(principal, question, answer)
        yield Event("done", answer)

    def _answer_from(
        self, attribution: Attribution, sources: list[dict[str, Any]], question: Question,
        retrieval: Retrieval, timings: dict[str, float],
    ) -> Answer:  # fmt: skip
        text = attribution.text or ABSTAIN_TEXT
        if attribution.uncited and not attribution.model_abstained:
            text = f"{text}{reader_note(UNCITED_NOTE)}"
        return Answer(
            text=text,
            abstained=attribution.model_abstained or not attribution.text,
            abstained_by="model" if attribution.model_abstained else None,
            uncited=attribution.uncited and not attribution.model_abstained,
            citations=[c.__dict__ for c in attribution.citations],
            sources=sources,
            conversation_id=question.conversation_id,
            message_id=None,
            model=self.model.model_id,
            evidence=retrieval.evidence,
            timings=timings,
            unsupported=attribution.unsupported,
        )

    def _remember(self, principal: Principal, question: Question, answer: Answer) -> None:
        """Store the exchange in the caller's conversation (created on the first question)."""
        if not question.store_conversation or principal.user == Principal.anonymous().user:
            return  # callers without a key or session share one identity: keep nothing
        conversation_id = question.conversation_id or self.conversations.create(
            principal.user, question.text
        )
        self.conversations.add_message(
            conversation_id, principal.user, "user", question.text.strip(), {}
        )
        answer.conversation_id = conversation_id  # before the details: the first answer's too
        details = {k: v for k, v in answer.as_dict().items() if k not in ("text", "message_id")}
        answer.message_id = self.conversations.add_message(
            conversation_id, principal.user, "assistant", answer.text, details
        )

    def answer(self, principal: Principal, question: Question) -> Answer:
        """The whole answer at once (non-streaming clients)."""
        for event in self.stream(principal, question):
            if event.kind == "done":
                result: Answer = event.data
                return result
        raise RuntimeError("answer stream ended without a result")
