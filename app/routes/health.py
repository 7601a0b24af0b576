"""Liveness, readiness, Prometheus metrics and `/api/info` (what runs, on what corpus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (does not check models)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """200 once models and store are loaded; 503 before."""
    if getattr(request.app.state, "services", None) is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(services: ServicesDep) -> Response:
    services.metrics.queue_depth.set(getattr(services.model, "queue_depth", 0))
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/api/info")
def info(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Model and licence, embedder, the corpus the caller may read, last ingest."""
    manifest = services.store.manifest()
    documents, chunks = services.store.count_readable(principal.readable_groups)
    return {
        "model": services.model.model_id,
        "license": services.model.license,
        "context_size": services.model.context_size,
        "embedder": services.embedder.model_id,
        "documents": documents,
        "chunks": chunks,
        "last_ingest": manifest.get("last_ingest"),
        "network": "Nothing leaves this machine: no third-party API, no telemetry.",
    }
