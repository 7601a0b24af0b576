"""OpenAI-compatible API: `/v1/models` and `/v1/chat/completions`, so existing clients work.

Chat completions answer the last user message with Hearth's retrieval, abstention and
citations (the earlier messages are the conversation); `sources` and `citations` ride along as
extra fields. Tool calls are refused: Hearth answers from documents, it does not act. The
model listed as `hearth-plain` (or `"retrieval": false`) is the model alone on the messages,
for a chat front-end's own errands: titles, tags, follow-up suggestions.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.deps import LimitedPrincipalDep, PrincipalDep, ServicesDep
from app.engines import MAX_SEED
from app.rag import ABSTAIN_LEAD, ABSTAIN_TEXT, Answer, Event, Question
from app.reader_notes import sources_footer
from app.routes import streaming
from app.routes.errors import ANSWER, AUTH, error_body, errors, event_stream, status_for
from app.routes.fields import JSON_NUMBER, JsonBool
from app.routes.origin import same_origin
from app.routes.streaming import (
    SSE_HEADERS,
    cancelled_when_gone,
    iterate_cancellable,
    start_answer,
    whole_answer,
    with_keep_alives,
)
from index.errors import HearthError, InvalidRequestError, NotFoundError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["openai"])
PLAIN_MODEL = "hearth-plain"  # the model alone, no documents: what `"retrieval": false` does


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    # No length of its own: the request's size is capped (413) and the last user message is
    # the question (4,000 characters); a front-end's long system prompt or an earlier long
    # answer were refused, though retrieval leaves the one out and fits what it can of the other
    content: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_parts(cls, value: Any) -> Any:
        """Content as a list of parts (`[{"type": "text", "text": ...}]`, as the openai client
        and many chat front-ends send it) is their text joined; other parts are refused."""
        if not isinstance(value, list):
            return value
        texts = []
        for part in value:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "refusal"):  # a refusal part: an assistant turn's text
                raise ValueError("only text content parts are supported")
            if not isinstance(part.get(kind), str):
                raise ValueError(f"a {kind} content part needs a `{kind}` string")
            texts.append(part[kind])
        return "\n".join(texts)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=200)
    stream: JsonBool | None = None  # null, as some SDKs send it: not streamed
    max_tokens: Annotated[int, JSON_NUMBER] | None = None
    max_completion_tokens: Annotated[int, JSON_NUMBER] | None = None
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = None
    # the same seed and messages give the same answer at temperature > 0 (app.engines)
    seed: Annotated[int, Field(ge=0, le=MAX_SEED), JSON_NUMBER] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None  # "none": a front-end that always sends its tools turned them off
    # plain mode only: a checked answer from the documents is not cut at a client's string
    stop: str | list[str] | None = None
    n: Annotated[int, Field(ge=1, le=1), JSON_NUMBER] | None = None  # one answer per request
    response_format: dict[str, Any] | None = None  # only {"type": "text"}: answers are prose
    retrieval: JsonBool | None = None  # false: the model alone on the messages, no documents

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, value: str | list[str] | None) -> list[str] | None:
        """Up to 4 non-empty strings, as OpenAI takes them."""
        stops = [value] if isinstance(value, str) else value
        if stops is not None and (len(stops) > 4 or not all(0 < len(s) <= 200 for s in stops)):
            raise ValueError("stop takes up to 4 strings of 1 to 200 characters")
        return stops or None

    @property
    def plain(self) -> bool:
        """The model alone, asked for by the switch or, from a client that sends no extra
        fields (a chat front-end's task model), by the model's name."""
        return self.retrieval is False or self.model == PLAIN_MODEL


def _listed_models(services: ServicesDep) -> list[dict[str, Any]]:
    model = services.model
    entry = {
        "object": "model",
        "created": 0,
        "owned_by": "hearth",
        "license": model.license,
        "context_window": model.context_size,
    }
    return [{"id": model.model_id, **entry}, {"id": PLAIN_MODEL, **entry, "documents": False}]


@router.get("/models", responses=errors(*AUTH))
def models(services: ServicesDep, _principal: PrincipalDep) -> dict[str, Any]:
    """The model answering from the documents, then `hearth-plain`, the same model without
    them; a wrong key is refused here as on every other route."""
    return {"object": "list", "data": _listed_models(services)}


@router.get("/models/{model_id:path}", responses=errors(*AUTH, 404))
def one_model(model_id: str, services: ServicesDep, _principal: PrincipalDep) -> dict[str, Any]:
    """One listed model (clients check the one they were configured with)."""
    for listed in _listed_models(services):
        if listed["id"] == model_id:
            return listed
    raise NotFoundError(f"no model {model_id[:100]!r}: see /v1/models")


def _question(body: ChatRequest, limit: int) -> Question:
    """The question of a chat request. `max_tokens` above Hearth's `limit` is capped, as
    OpenAI-compatible servers do: Continue.dev (4096) and LangChain (1024) send their own
    defaults, and every request of theirs was refused."""
    if (body.tools or body.functions) and body.tool_choice != "none":
        raise InvalidRequestError("tools and function calls are not supported by Hearth")
    if (body.response_format or {}).get("type", "text") != "text":
        raise InvalidRequestError(
            "response_format: Hearth answers in prose with citations, not JSON"
        )
    turns = [(m.role, m.content or "") for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise InvalidRequestError("the last message must be a non-empty user message")
    return Question(
        text=turns[-1][1],
        history=tuple(turns[:-1]),
        max_tokens=_max_tokens(body, limit),
        temperature=body.temperature,
        seed=body.seed,
        store_conversation=False,
    )


def _max_tokens(body: ChatRequest, limit: int) -> int | None:
    """The request's max_tokens (or max_completion_tokens), capped to Hearth's `limit`."""
    max_tokens = (
        body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    )
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequestError("max_tokens must be at least 1")
    return None if max_tokens is None else min(max_tokens, limit)


def _extras(answer: Answer) -> dict[str, Any]:
    return {
        "sources": answer.sources,
        "citations": answer.citations,
        "abstained": answer.abstained,
        "uncited": answer.uncited,
        "quoted": answer.quoted,
        "quote_reason": answer.quote_reason,
    }


def _chat_text(answer: Answer, sources_in_text: bool, fits: Callable[[str], bool]) -> str:
    """The answer as a chat client shows it: such clients do not show `sources`, so an "I
    don't know" names its closest matches in its text instead of pointing at them (when that
    `fits` the client's max_tokens), and a cited answer lists what its [n] markers lead to
    (`sources_footer`, which max_tokens does not count, as it does not count `citations`)."""
    titles = list(dict.fromkeys(source["title"] for source in answer.sources))[:3]
    if answer.abstained_by != "retrieval" or not titles:
        return answer.text + (sources_footer(answer.citations) if sources_in_text else "")
    named = f"{ABSTAIN_LEAD}. The closest matches I found: {'; '.join(titles)}."
    text = answer.text.replace(ABSTAIN_TEXT, named, 1)
    return text if fits(text) else answer.text


def _finish_reason(answer: Answer) -> str:
    """OpenAI's "length" when the model's answer reached max_tokens (a client may ask for
    more), else "stop"."""
    return "length" if answer.truncated else "stop"


def _usage(answer: Answer) -> dict[str, int]:
    """Tokens the model read and wrote (counted with its tokenizer; a remote server's are
    estimated); zero when Hearth abstained without calling it."""
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _plain_events(body: ChatRequest, services: ServicesDep, cancel: threading.Event) -> Any:
    """The model alone on the caller's messages (`"retrieval": false`): no documents involved."""
    settings = services.rag.settings
    question = _question(body, settings.max_answer_tokens)
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.content or ""}
        for m in body.messages
        if m.role in ("system", "developer", "user", "assistant")
    ]
    max_tokens = question.max_tokens or settings.max_answer_tokens
    temperature = settings.temperature if body.temperature is None else body.temperature
    tokens = services.model.stream(
        messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel, seed=body.seed
    )

    def events() -> Any:
        pieces = []
        try:
            for piece in until_stop(tokens, body.stop or ()):
                pieces.append(piece)
                yield Event("token", piece)
        finally:
            tokens.close()  # a client that went away, or a stop string, ends the generation
        text = "".join(pieces)
        model = services.model.model_id
        answer = Answer(text, False, None, False, [], [], None, None, model, 0.0)
        answer.prompt_tokens = services.model.prompt_tokens(messages)
        answer.completion_tokens = services.model.count_tokens(text)
        answer.truncated = tokens.truncated and not cancel.is_set()
        yield Event("done", answer)

    return events()


def until_stop(pieces: Iterator[str], stops: Sequence[str]) -> Iterator[str]:
    """`pieces` up to the first of the `stops` strings (left out, as OpenAI does), which may
    span pieces: the text that could be the start of one is held back until it is not."""
    held = ""
    for piece in pieces:
        held += piece
        found = [i for i in (held.find(stop) for stop in stops) if i >= 0]
        if found:
            if min(found):
                yield held[: min(found)]
            return
        keep = max((_prefix_at_end(held, stop) for stop in stops), default=0)
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    if held:
        yield held


def _prefix_at_end(text: str, stop: str) -> int:
    """How long the end of `text` that begins `stop` is (0: none)."""
    for size in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0


async def _events(
    body: ChatRequest,
    principal: LimitedPrincipalDep,
    services: ServicesDep,
    cancel: threading.Event,
) -> Iterator[Event]:
    """The answer's events, once admitted (a full queue is refused here)."""
    if body.plain:
        with services.admission.hold(services.model):  # places held by others count too
            return _plain_events(body, services, cancel)
    question = _question(body, services.rag.settings.max_answer_tokens)
    return await start_answer(services, principal, question, cancel)


@router.post(
    "/chat/completions",
    dependencies=[Depends(same_origin)],
    responses={
        **event_stream("The completion (JSON), or server-sent chunks when `stream` is true."),
        **errors(*ANSWER),
    },
)
async def chat_completions(
    body: ChatRequest, principal: LimitedPrincipalDep, services: ServicesDep, request: Request
) -> Any:
    """Answer the last user message from the documents (or, with the model `hearth-plain` or
    `"retrieval": false`, pass the messages to the model unchanged, like a plain
    OpenAI-compatible server)."""
    cancel = threading.Event()
    plain = body.plain
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    model = services.model.model_id
    in_text = services.rag.settings.openai_sources_in_text and not plain
    limit = services.rag.settings.max_answer_tokens
    budget = _max_tokens(body, limit) or limit

    def fits(text: str) -> bool:
        return services.model.count_tokens(text) <= budget

    if not body.stream:
        async with cancelled_when_gone(request, cancel):  # nobody waits for it any more
            answer = await whole_answer(await _events(body, principal, services, cancel), cancel)
        services.metrics.record(answer, from_documents=not plain)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _chat_text(answer, in_text, fits)},
                    "finish_reason": _finish_reason(answer),
                }
            ],
            "usage": _usage(answer),
            **_extras(answer),
        }
    events = await _events(body, principal, services, cancel)

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        """One chunk; with `stream_options.include_usage` every chunk has a `usage` field,
        null but on the last, which carries no choice (OpenAI's shape)."""
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish}],
            **({"usage": None} if include_usage else {}),
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    # An answer from the documents is sent once attribution has checked it, unless drafts are
    # wanted: a client shows whatever streams, and a draft replaced by a quote cannot be taken
    # back. The model alone (`"retrieval": false`) has nothing to check against: it streams.
    drafts = plain or services.rag.settings.openai_stream_drafts
    options = (body.model_extra or {}).get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    async def sse() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for event in with_keep_alives(
                iterate_cancellable(events, cancel), streaming.KEEP_ALIVE_S
            ):
                if event is None:  # nothing to send yet: an SSE comment keeps the line open
                    yield ": keep-alive\n\n"
                elif event.kind == "token" and drafts:
                    yield chunk({"content": event.data})
                elif event.kind == "done":
                    services.metrics.record(event.data, from_documents=not plain)
                    if not drafts:
                        yield chunk({"content": _chat_text(event.data, in_text, fits)})
                    else:
                        if event.data.quoted:  # the draft already streamed cannot be taken back
                            yield chunk({"content": f"\n\n{event.data.text}"})
                        if in_text and event.data.citations:
                            yield chunk({"content": sources_footer(event.data.citations)})
                    yield chunk({}, _finish_reason(event.data), **_extras(event.data))
                    if include_usage:
                        yield chunk(None, usage=_usage(event.data))
        except HearthError as exc:
            services.metrics.errors.labels(exc.code).inc()
            yield f"data: {json.dumps(error_body(exc.code, exc.message, status_for(exc)))}\n\n"
        except Exception:  # the stream has begun: a status can no longer say it
            log.exception("chat completion stream failed")
            services.metrics.errors.labels("internal_error").inc()
            yield f"data: {json.dumps(error_body('internal_error', 'internal error', 500))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers=SSE_HEADERS)
