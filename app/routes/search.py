"""`POST /api/search`: retrieval only, restricted to what the caller may read."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from index.search import bm25_top_k, dense_top_k
from index.types import Principal

router = APIRouter()


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=50)


class PassageOut(BaseModel):
    document_id: str
    title: str
    source: str
    url: str | None
    heading: str
    text: str
    score: float


class SearchResponse(BaseModel):
    passages: list[PassageOut]


@router.post("/api/search")
def search(body: SearchRequest, request: Request) -> SearchResponse:
    """Dense results first, then BM25 results not already listed (hybrid fusion comes later)."""
    services = request.app.state.services
    groups = Principal.anonymous().readable_groups
    dense = dense_top_k(services.store, services.embedder, body.query, groups, body.top_k)
    lexical = bm25_top_k(services.store, body.query, groups, body.top_k)
    seen: set[int | None] = set()
    passages = []
    for passage in [*dense, *lexical]:
        if passage.chunk.id in seen:
            continue
        seen.add(passage.chunk.id)
        passages.append(
            PassageOut(
                document_id=passage.document.id,
                title=passage.document.title,
                source=passage.document.kind,
                url=passage.url,
                heading=" > ".join(passage.chunk.heading_path),
                text=passage.chunk.text,
                score=passage.score,
            )
        )
    return SearchResponse(passages=passages[: body.top_k])
