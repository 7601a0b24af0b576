"""Liveness, readiness, Prometheus metrics and `/api/info` (what runs, on what corpus)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from app.deps import PrincipalDep, ServicesDep
from app.routes.errors import AUTH, errors, plain_text
from index.types import PROXY_USER_PREFIX, Principal

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (does not check models)."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    reason: str | None = None  # why the inference server cannot answer (never its address)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "Loading, the store is down, or the inference server named by "
            "HEARTH_LLM_URL cannot answer.",
        }
    },
)
def readyz(request: Request) -> Response:
    """200 once models and store are loaded and both the store and, with HEARTH_LLM_URL, the
    inference server answer; 503 before, and while either cannot be reached (a load balancer
    then sends no traffic here). /healthz checks neither: a process waiting for its inference
    server is alive and must not be restarted."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    if not services.store.reachable():
        return JSONResponse({"status": "store unreachable"}, status_code=503)
    problem = inference_problem(services.model)
    if problem:
        body = {"status": "inference server unavailable", "reason": problem}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})


def inference_problem(model: object) -> str | None:
    """Why the model cannot answer now: the remote inference server (short timeout, cached
    briefly: `OpenAICompatChatModel.readiness_problem`) or the in-process engine's worker
    thread (`LlamaCppChatModel.readiness_problem`)."""
    check = getattr(model, "readiness_problem", None)
    return check() if callable(check) else None


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses=plain_text("Prometheus metrics (text exposition format)."),
)
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics: requests, latency, answers, tokens, queue depth."""
    services.metrics.queue_depth.set(services.model.queue_depth)
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/api/info", responses=errors(*AUTH))
def info(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Model and licence, embedder, the corpus the caller may read and when it last changed."""
    documents, chunks = services.store.count_readable(principal.readable_groups)
    return {
        "model": services.model.model_id,
        "license": services.model.license,
        "context_size": services.model.context_size,
        "embedder": services.embedder.model_id,
        "documents": documents,
        "chunks": chunks,
        # of what the caller may read: the store-wide time told anyone when restricted
        # documents arrived
        "last_ingest": services.store.last_ingested(principal.readable_groups),
        "network": network_note(services.model),
        "identity": identity(principal),
    }


def identity(principal: Principal) -> dict[str, Any]:
    """Who the service takes the caller for and what they may read: the page said "Signed in:
    no" to everyone signed in through the proxy, who could not tell whether it worked."""
    via = principal.via
    return {
        "via": via,
        "user": None if via == "anonymous" else principal.user.removeprefix(PROXY_USER_PREFIX),
        "groups": sorted(principal.readable_groups),
    }


def network_note(model: object) -> str:
    """What leaves the machine, said truthfully: with HEARTH_LLM_URL, questions and passages go
    to the inference server the operator named (its host only: no path, no credentials)."""
    url = getattr(model, "base_url", None)
    if not isinstance(url, str):
        return "Nothing leaves this machine: no third-party API, no telemetry."
    host = urlsplit(url).hostname or "?"
    return (
        f"Questions and passages go to the inference server at {host}, which the operator "
        "runs; no third-party API, no telemetry."
    )
