"""REST: `/api/query` (answers, optionally streamed as server-sent events), `/api/search`
(retrieval only) and `/api/documents/{id}`; all restricted to what the caller may read."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.deps import LimitedPrincipalDep, PrincipalDep, ServicesDep
from app.rag import Answer, Event, Question
from app.routes.errors import ANSWER, AUTH, BODY, errors, event_stream
from app.routes.fields import JSON_NUMBER, JsonBool
from app.routes.origin import same_origin
from app.routes.streaming import (
    SSE_HEADERS,
    cancelled_when_gone,
    iterate_cancellable,
    start_answer,
    whole_answer,
)
from index.errors import HearthError, NotFoundError

router = APIRouter(tags=["answers"])


class QueryRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=4000)
    conversation_id: str | None = Field(None, max_length=64)
    top_k: Annotated[int, Field(ge=1, le=20), JSON_NUMBER] | None = None
    exclude_document_ids: list[str] = Field(default_factory=list, max_length=100)
    # capped by HEARTH_MAX_ANSWER_TOKENS, checked with the rest of the question (400 beyond)
    max_tokens: Annotated[int, Field(ge=1), JSON_NUMBER] | None = None
    stream: JsonBool = False


class QueryResponse(BaseModel):
    answer: str
    abstained: bool
    abstained_by: str | None = Field(
        description='Who said "I don\'t know": `retrieval` (the evidence was below the '
        "threshold; no model ran), `model` (the model said so), `attribution` (the model's "
        "answer counted something other than what the question counts, and no sentence of the "
        "best-ranked source counts that)."
    )
    uncited: bool
    quoted: bool
    quote_reason: str | None = Field(
        None,
        description="Why the answer is a quote: `unsupported` (nothing the model wrote was "
        "supported), `no_figure` (it gave no figure the question asks for), `model_declined` "
        "(it said it did not know where the sources scored as likely to hold the answer), "
        "`other_row` (its cited sentences name another office, level or tier than the one "
        "the question names, where a source names that one), `negated` (it states a name, "
        "number or term that the passages it cites mention only to deny or exclude it), "
        "`contradicted` (asked for a figure, it denies a number the passages it cites state) or "
        "`other_count` (it counted something other than what the question counts).",
    )
    truncated: bool = Field(
        description="The model's answer reached `max_tokens` and may be cut short."
    )
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    conversation_id: str | None
    message_id: str | None
    model: str
    evidence: float
    timings: dict[str, float]


def _response(answer: Answer) -> QueryResponse:
    data = answer.as_dict()
    return QueryResponse(
        answer=answer.text, **{k: data[k] for k in QueryResponse.model_fields if k != "answer"}
    )


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/api/query",
    response_model=QueryResponse,
    dependencies=[Depends(same_origin)],
    responses={
        **event_stream(
            "The answer (JSON), or server-sent events when `stream` is true.",
            ("sources", "token", "done", "error"),
        ),
        **errors(*ANSWER, 404),
    },
)
async def query(
    body: QueryRequest, principal: LimitedPrincipalDep, services: ServicesDep, request: Request
) -> Any:
    """Answer a question from the documents the caller may read, with citations and sources.

    With `stream: true` the answer arrives as server-sent events: `sources`, then `token`s,
    then `done` (the full answer) or `error`.
    """
    question = Question(
        text=body.question,
        conversation_id=body.conversation_id,
        top_k=body.top_k,
        exclude_document_ids=frozenset(body.exclude_document_ids),
        max_tokens=body.max_tokens,
    )
    cancel = threading.Event()
    if not body.stream:
        async with cancelled_when_gone(request, cancel):  # nobody waits for it any more
            events = await start_answer(services, principal, question, cancel)
            services.metrics.queue_depth.set(services.model.queue_depth)
            answer = await whole_answer(events, cancel)
        services.metrics.record(answer)
        return _response(answer)
    events = await start_answer(services, principal, question, cancel)
    services.metrics.queue_depth.set(services.model.queue_depth)

    async def sse() -> AsyncIterator[str]:
        try:
            async for event in iterate_cancellable(events, cancel):
                yield _event_text(services, event)
        except HearthError as exc:
            services.metrics.errors.labels(exc.code).inc()
            yield _sse("error", {"code": exc.code, "message": exc.message})

    return StreamingResponse(sse(), media_type="text/event-stream", headers=SSE_HEADERS)


def _event_text(services: ServicesDep, event: Event) -> str:
    if event.kind == "token":
        return _sse("token", {"text": event.data})
    if event.kind == "done":
        services.metrics.record(event.data)
        return _sse("done", _response(event.data).model_dump())
    return _sse(event.kind, event.data)


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    top_k: Annotated[int, Field(ge=1, le=50), JSON_NUMBER] = 5


@router.post("/api/search", dependencies=[Depends(same_origin)], responses=errors(*BODY, 429))
def search(
    body: SearchRequest, principal: LimitedPrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Hybrid retrieval only (no LLM): the passages the caller may read, best first."""
    retrieval = services.rag.retrieve(principal, body.query, [], body.top_k)
    return {
        "passages": [
            {
                "document_id": p.document.id,
                "title": p.document.title,
                "source": p.document.kind,
                "url": p.url,
                "heading": " > ".join(p.chunk.heading_path),
                "text": p.chunk.text,
                "score": round(p.score, 4),
            }
            for p in retrieval.passages
        ],
        "evidence": round(retrieval.evidence, 4),
    }


@router.get("/api/documents/{document_id:path}", responses=errors(*AUTH, 404, 422))
def document(document_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """A document's metadata and chunks, if the caller may read it (404 otherwise)."""
    stored = services.store.get_document(document_id, principal.readable_groups)
    if stored is None:
        raise NotFoundError("document not found")
    chunks = services.store.document_chunks(document_id, principal.readable_groups)
    return {
        "id": stored.id,
        "title": stored.title,
        "kind": stored.kind,
        "url": stored.url,
        "modified": stored.modified.isoformat() if stored.modified else None,
        "revision": stored.revision,
        "categories": list(stored.categories),
        "chunks": [
            {"heading": " > ".join(p.chunk.heading_path), "text": p.chunk.text, "url": p.url}
            for p in chunks
        ],
    }
