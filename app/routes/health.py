"""Liveness and corpus information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/api/info")
def info(request: Request) -> dict[str, Any]:
    """What runs: embedder, corpus counts, last ingest."""
    store = request.app.state.services.store
    manifest = store.manifest()
    stats = store.stats()
    return {
        "embedder": manifest.get("embedder"),
        "documents": stats["documents"],
        "chunks": stats["chunks"],
        "last_ingest": manifest.get("last_ingest"),
    }
