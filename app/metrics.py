"""Prometheus metrics on a registry owned by the app (no module-level globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from app.rag import Answer


class Metrics:
    """Requests, latency, queue depth, time to first token, tokens, abstentions and errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hearth_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "hearth_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "hearth_llm_queue_depth",
            "Requests waiting for or using the LLM",
            registry=self.registry,
        )
        self.ttft = Histogram(
            "hearth_ttft_seconds",
            "Time to first answer token",
            buckets=(0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 20, 40),
            registry=self.registry,
        )
        self.tokens = Counter(
            "hearth_tokens", "Tokens the model wrote for answers", registry=self.registry
        )
        self.answers = Counter(
            "hearth_answers", "Answers by outcome", ["outcome"], registry=self.registry
        )
        # A stream that fails midway was logged "200" and counted nowhere: an inference server
        # gone down showed in no metric (its answers are upstream_error here).
        self.errors = Counter(
            "hearth_errors",
            "Requests and answer streams that ended in an error, by error code",
            ["code"],
            registry=self.registry,
        )

    def record(self, answer: Answer, from_documents: bool = True) -> None:
        """A finished answer, whichever API asked for it; one from the model alone (/v1 with
        `"retrieval": false`) counts its tokens but is not an answer from the documents."""
        # counted from the answer, not from the events sent: /v1 sends a checked answer in one
        # event, and an abstention's single event wrote no token
        self.tokens.inc(answer.completion_tokens)
        if not from_documents:
            return
        outcome = (
            "abstained" if answer.abstained
            else "uncited" if answer.uncited
            else "quoted" if answer.quoted
            else "answered"
        )  # fmt: skip
        self.answers.labels(outcome).inc()
        if "ttft_ms" in answer.timings:
            self.ttft.observe(answer.timings["ttft_ms"] / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
