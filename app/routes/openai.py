"""OpenAI-compatible API: `/v1/models` and `/v1/chat/completions`, so existing clients work.

Chat completions answer the last user message with Hearth's retrieval, abstention and
citations (the earlier messages are the conversation); `sources` and `citations` ride along as
extra fields. Tool calls are refused: Hearth answers from documents, it does not act.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.deps import LimitedPrincipalDep, PrincipalDep, ServicesDep
from app.rag import ABSTAIN_LEAD, ABSTAIN_TEXT, Answer, Event, Question, sources_footer
from app.routes import streaming
from app.routes.errors import ANSWER, errors, event_stream
from app.routes.fields import JSON_NUMBER, JsonBool
from app.routes.origin import same_origin
from app.routes.streaming import iterate_cancellable, start_answer, with_keep_alives
from index.errors import HearthError, InvalidRequestError

router = APIRouter(prefix="/v1", tags=["openai"])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | None = Field(None, max_length=20_000)

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
    stream: JsonBool = False
    max_tokens: Annotated[int, JSON_NUMBER] | None = None
    max_completion_tokens: Annotated[int, JSON_NUMBER] | None = None
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    n: Annotated[int, Field(ge=1, le=1), JSON_NUMBER] | None = None  # one answer per request
    response_format: dict[str, Any] | None = None  # only {"type": "text"}: answers are prose
    retrieval: JsonBool | None = None  # false: the model alone on the messages, no documents


@router.get("/models")
def models(services: ServicesDep, _principal: PrincipalDep) -> dict[str, Any]:
    """The model answering; a wrong key is refused here as on every other route."""
    model = services.model
    return {
        "object": "list",
        "data": [
            {
                "id": model.model_id,
                "object": "model",
                "created": 0,
                "owned_by": "hearth",
                "license": model.license,
                "context_window": model.context_size,
            }
        ],
    }


def _question(body: ChatRequest, limit: int) -> Question:
    """The question of a chat request. `max_tokens` above Hearth's `limit` is capped, as
    OpenAI-compatible servers do: Continue.dev (4096) and LangChain (1024) send their own
    defaults, and every request of theirs was refused."""
    if body.tools or body.functions:
        raise InvalidRequestError("tools and function calls are not supported by Hearth")
    if (body.response_format or {}).get("type", "text") != "text":
        raise InvalidRequestError(
            "response_format: Hearth answers in prose with citations, not JSON"
        )
    turns = [(m.role, m.content or "") for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise InvalidRequestError("the last message must be a non-empty user message")
    max_tokens = (
        body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    )
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequestError("max_tokens must be at least 1")
    if max_tokens is not None:
        max_tokens = min(max_tokens, limit)
    return Question(
        text=turns[-1][1],
        history=tuple(turns[:-1]),
        max_tokens=max_tokens,
        temperature=body.temperature,
        store_conversation=False,
    )


def _extras(answer: Answer) -> dict[str, Any]:
    return {
        "sources": answer.sources,
        "citations": answer.citations,
        "abstained": answer.abstained,
        "uncited": answer.uncited,
        "quoted": answer.quoted,
        "quote_reason": answer.quote_reason,
    }


def _chat_text(answer: Answer, sources_in_text: bool) -> str:
    """The answer as a chat client shows it: such clients do not show `sources`, so an "I
    don't know" names its closest matches in its text instead of pointing at them, and a
    cited answer lists what its [n] markers lead to (`sources_footer`)."""
    titles = list(dict.fromkeys(source["title"] for source in answer.sources))[:3]
    if answer.abstained_by != "retrieval" or not titles:
        return answer.text + (sources_footer(answer.citations) if sources_in_text else "")
    named = f"{ABSTAIN_LEAD}. The closest matches I found: {'; '.join(titles)}."
    return answer.text.replace(ABSTAIN_TEXT, named, 1)


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
        messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel
    )

    def events() -> Any:
        pieces = []
        try:
            for piece in tokens:
                pieces.append(piece)
                yield Event("token", piece)
        finally:
            tokens.close()  # a client that went away stops the generation
        text = "".join(pieces)
        model = services.model.model_id
        answer = Answer(text, False, None, False, [], [], None, None, model, 0.0)
        answer.prompt_tokens = services.model.prompt_tokens(messages)
        answer.completion_tokens = services.model.count_tokens(text)
        answer.truncated = tokens.truncated and not cancel.is_set()
        yield Event("done", answer)

    return events()


@router.post(
    "/chat/completions",
    dependencies=[Depends(same_origin)],
    responses={
        **event_stream("The completion (JSON), or server-sent chunks when `stream` is true."),
        **errors(*ANSWER),
    },
)
async def chat_completions(
    body: ChatRequest, principal: LimitedPrincipalDep, services: ServicesDep
) -> Any:
    """Answer the last user message from the documents (or, with `"retrieval": false`, pass
    the messages to the model unchanged, like a plain OpenAI-compatible server)."""
    cancel = threading.Event()
    plain = body.retrieval is False
    if plain:
        with services.admission.hold(services.model):  # places held by others count too
            events = _plain_events(body, services, cancel)
    else:
        question = _question(body, services.rag.settings.max_answer_tokens)
        events = await start_answer(services, principal, question, cancel)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    model = services.model.model_id
    in_text = services.rag.settings.openai_sources_in_text and not plain
    if not body.stream:
        answer: Answer | None = None
        async for event in iterate_cancellable(events, cancel):
            if event.kind == "done":
                answer = event.data
        if answer is None:
            raise HearthError("the answer was interrupted")
        services.metrics.record(answer, from_documents=not plain)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _chat_text(answer, in_text)},
                    "finish_reason": _finish_reason(answer),
                }
            ],
            "usage": _usage(answer),
            **_extras(answer),
        }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
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
                        yield chunk({"content": _chat_text(event.data, in_text)})
                    else:
                        if event.data.quoted:  # the draft already streamed cannot be taken back
                            yield chunk({"content": f"\n\n{event.data.text}"})
                        if in_text and event.data.citations:
                            yield chunk({"content": sources_footer(event.data.citations)})
                    usage = {"usage": _usage(event.data)} if include_usage else {}
                    yield chunk({}, _finish_reason(event.data), **usage, **_extras(event.data))
        except HearthError as exc:
            services.metrics.errors.labels(exc.code).inc()
            error = {"error": {"message": exc.message, "type": exc.code, "code": exc.code}}
            yield f"data: {json.dumps(error)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream")
