"""The error responses routes declare in the OpenAPI schema: one shared body model.

Every error is `{"error": {"code", "message", "type"}}` (see `app.main.error_body`), so clients
and schema-driven tools (schemathesis, generated SDKs) know each status a route may answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(..., description="Stable machine-readable name, e.g. `not_found`.")
    message: str = Field(..., description="What went wrong, safe to show a user.")
    type: str = Field(..., description="Same as `code` (the OpenAI error shape).")


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorDetail


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}

_DESCRIPTIONS = {
    400: (
        "Invalid request: a body that is not UTF-8 JSON, or a request Hearth will not "
        "serve (e.g. a prompt that cannot fit the model's context).",
        None,
    ),
    401: ("Missing, invalid or revoked API key.", None),
    403: ("Cross-origin request refused.", None),
    404: ("Not found, or not yours (indistinguishable on purpose).", None),
    413: ("Request body too large.", None),
    422: ("Request body or parameters do not validate.", None),
    429: ("Rate limit reached for this caller.", _RETRY_AFTER),
    502: ("The remote language model server failed.", None),
    503: ("The language model is busy (queue full) or unavailable.", _RETRY_AFTER),
    504: ("The remote language model server timed out.", None),
}

AUTH = (401,)
"""What any route that identifies its caller may answer."""
BODY = (400, 401, 403, 413, 422)
"""What a route taking a JSON body (a state-changing one) may answer."""
ANSWER = (400, 401, 403, 413, 422, 429, 502, 503, 504)
"""What the answer routes (they call the language model) may answer."""


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the shared error body (and headers)."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        description, headers = _DESCRIPTIONS[status]
        entry: dict[str, Any] = {"model": ErrorResponse, "description": description}
        if headers:
            entry["headers"] = headers
        declared[status] = entry
    return declared


def plain_text(description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 whose body is text/plain (e.g. Prometheus metrics)."""
    return {
        200: {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
    }


def event_stream(
    description: str, events: tuple[str, ...] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A 200 that may also be server-sent events (when the request asks to stream).

    The schema describes one event (OpenAPI < 3.2 reads `schema` of an event stream that way):
    its `event` name, from `events` when given, and its `data` line(s), JSON text.
    """
    name: dict[str, Any] = {"type": "string"}
    if events:
        name["enum"] = list(events)
    event = {
        "type": "object",
        "properties": {"event": name, "data": {"type": "string"}, "id": {"type": "string"}},
        "required": ["data"],
    }
    return {200: {"description": description, "content": {"text/event-stream": {"schema": event}}}}


def allowed_methods(routes: Any, path: str) -> str | None:
    """The `Allow` header for a 405 on `path`: the methods of every route serving that path.

    Starlette answers 405 from the first route whose path matches, listing only its own
    methods; a path served by several routes (GET, PATCH and DELETE of one conversation)
    would advertise too few.
    """
    methods: set[str] = set()
    for route in routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and getattr(route, "methods", None) and regex.match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods)) if methods else None
