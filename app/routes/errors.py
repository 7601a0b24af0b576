"""The error responses routes declare in the OpenAPI schema: one shared body model.

Every error is `{"error": {"code", "message", "type", "param"}}` (see `error_body` below,
OpenAI's shape), so clients and schema-driven tools (schemathesis, generated SDKs) know each
status a route may answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from index.errors import (
    AuthError,
    ConfigurationError,
    ContextOverflowError,
    HearthError,
    InvalidGroupError,
    InvalidRequestError,
    ModelBusyError,
    NotFoundError,
    RateLimitedError,
    StoreUnavailableError,
    UpstreamError,
)

# Domain errors' HTTP statuses, in one place (others: 400)
STATUS: dict[type[HearthError], int] = {
    NotFoundError: 404,
    InvalidRequestError: 400,
    ContextOverflowError: 400,
    InvalidGroupError: 400,
    AuthError: 401,
    RateLimitedError: 429,
    ModelBusyError: 503,
    StoreUnavailableError: 503,
    ConfigurationError: 500,
}


# OpenAI's error categories, by status: clients and their SDKs branch on `type`
ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_body(
    code: str, message: str, status: int = 400, param: str | None = None
) -> dict[str, Any]:
    """The one error shape, OpenAI's: `code` is Hearth's own name, `type` the category."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"code": code, "message": message, "type": kind, "param": param}}


def is_openai_route(path: str) -> bool:
    """OpenAI clients expect 400, not FastAPI's 422, for a body that does not validate."""
    return path == "/v1" or path.startswith("/v1/")


def status_for(exc: HearthError) -> int:
    if isinstance(exc, UpstreamError):
        return exc.status
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


class ErrorDetail(BaseModel):
    code: str = Field(..., description="Stable machine-readable name, e.g. `not_found`.")
    message: str = Field(..., description="What went wrong, safe to show a user.")
    type: str = Field(
        ...,
        description="OpenAI's category for the status: `invalid_request_error`, "
        "`authentication_error`, `permission_error`, `not_found_error`, `rate_limit_error` or "
        "`server_error`.",
    )
    param: str | None = Field(
        None, description="The request field that failed validation (`messages.0.content`)."
    )


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
    422: ("Request body or parameters do not validate (400 under /v1, as OpenAI answers).", None),
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
