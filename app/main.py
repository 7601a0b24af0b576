"""The FastAPI application factory: `create_app(settings=None, *, services=None)`.

Models and the store load in the lifespan unless `services` is passed in (tests pass fakes).
State lives on `app.state`; there are no module globals. Domain errors map to HTTP statuses in
one place (`app.routes.errors.STATUS`); every error body is `{"error": {"code", "message",
"type", "param"}}` (`app.routes.errors.error_body`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.conversations import ConversationStore
from app.deps import Services
from app.engines import ChatModel
from app.keys import KeyStore
from app.metrics import Metrics
from app.rag import RagPipeline
from app.ratelimit import RateLimiter
from app.routes.errors import error_body, is_openai_route, status_for
from app.service_db import service_database
from app.settings import Settings
from index.errors import (
    AuthError,
    HearthError,
    ModelBusyError,
    RateLimitedError,
    StoreUnavailableError,
)
from index.open_store import open_store
from index.protocols import Store

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def is_page_asset(path: str) -> bool:
    """The page and its files, the only responses a browser or proxy may cache: every other
    one may hold a conversation, an answer or a restricted document, and a cached copy would
    outlive Delete and sign-out (Chromium kept conversations in its disk cache)."""
    return path == "/" or path.startswith("/static/")


def _validation_place(error: Any) -> str:
    """Which field failed ("messages.0.content"), or "body" for the body as a whole."""
    if error.get("type") == "json_invalid":
        return "body"
    return ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"


def _validation_message(error: Any) -> str:
    """Pydantic's message, except for a body that is not JSON ("JSON decode error" said
    neither what nor where)."""
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'unreadable')})"
    return str(error.get("msg", ""))


def load_model(settings: Settings) -> ChatModel:
    """The local GGUF engine, or the remote OpenAI-compatible one when HEARTH_LLM_URL is set."""
    if settings.llm_url:
        from app.remote_engine import OpenAICompatChatModel

        remote = OpenAICompatChatModel(
            settings.llm_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            timeout=settings.llm_timeout,
            context_size=settings.context_size or 4096,
            license=settings.llm_license,
            queue_size=settings.queue_size,
        )
        # Not fatal: the inference server may start after Hearth (compose, k8s).
        problem = remote.problem()
        if problem:
            log.warning(
                "the inference server at %s cannot answer now (%s); answers fail until it can",
                settings.llm_url, problem,
            )  # fmt: skip
        return remote
    from app.engines import LlamaCppChatModel, bundled_gguf_path

    return LlamaCppChatModel(
        settings.model_path or bundled_gguf_path(),
        n_ctx=settings.context_size,
        threads=settings.threads,
        decode_threads=settings.decode_threads,
        queue_size=settings.queue_size,
        allowed_licenses=settings.license_set(),
        allow_any_license=settings.allow_any_license,
        sha256=settings.model_sha256,
    )


def build_services(settings: Settings, store: Store, embedder: Any, model: Any) -> Services:
    """Wire the services around a store, an embedder and a chat model (real or fake)."""
    database = service_database(settings.data_dir, store=store)  # next to the store
    conversations = ConversationStore(database=database, retention_days=settings.retention_days)
    conversations.purge(settings.retention_days)  # at start, waiting if it must
    rag = RagPipeline(store, embedder, model, conversations, settings)
    return Services(
        store=store,
        embedder=embedder,
        model=model,
        conversations=conversations,
        keys=KeyStore(database=database),
        rag=rag,
        metrics=Metrics(),
        limiter=RateLimiter(settings.rate_limit_per_minute),
    )


def load_services(settings: Settings) -> Services:
    """Open the store (repairing its vector file if needed), load the embedder and the model."""
    if not settings.llm_url:
        # before the embedder: torch brings a libgomp of its own, which llama.cpp then shares
        from app.engines import wait_without_spinning

        wait_without_spinning()
    from index.embedder import SentenceTransformerEmbedder

    # One thread: a short query takes ~8 ms either way, but two torch threads competing with
    # llama.cpp's for 2 cores measured ~420 ms per query (OpenMP threads waiting on each other).
    embedder = SentenceTransformerEmbedder(
        settings.embedder_path,
        threads=settings.embedder_threads,
        backend=settings.embedder_backend,
        cache_dir=settings.embedder_cache,
    )
    store = open_store(settings.data_dir, settings.database_url)
    if "embedder" in store.manifest():
        store.check_embedder(embedder.model_id, embedder.dim)
    store.open_vectors()
    return build_services(settings, store, embedder, load_model(settings))


def close_services(services: Services) -> None:
    """Release the model and the store that `load_services` opened."""
    services.model.close()
    services.store.close()


class BodyLimit:
    """Refuse request bodies over the limit with 413, counting streamed (chunked) bytes too.

    The 413 is sent from here, not raised: an exception out of `receive` would reach FastAPI's
    body parsing, which reports any read error as a 400. Once the 413 is sent, the app sees a
    client disconnect (it stops reading) and whatever it tries to send is dropped.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, error_body("too_large", "request body too large", 413))
            return
        received = 0
        refused = False
        started = False

        async def limited() -> Any:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await _send_json(
                            send, 413, error_body("too_large", "request body too large", 413)
                        )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if refused:
                return  # the 413 already answered this request
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited, guarded_send)


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    import json

    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app; pass `services` to skip model loading (tests, embedding in other apps)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or load_services(settings)
        yield
        if services is None:
            close_services(app.state.services)

    app = FastAPI(
        title="Hearth",
        version="0.1.0",
        description="Answers from your organisation's documents, with sources.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads scripts from a CDN: not on a machine that stays offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.services = None

    @app.exception_handler(HearthError)
    async def hearth_error(request: Request, exc: HearthError) -> JSONResponse:
        services = getattr(request.app.state, "services", None)  # None while loading
        if services is not None:
            services.metrics.errors.labels(exc.code).inc()
        status = status_for(exc)
        headers = {}
        if isinstance(exc, ModelBusyError | RateLimitedError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, StoreUnavailableError):
            headers["Retry-After"] = "5"
        if isinstance(exc, AuthError):
            headers["WWW-Authenticate"] = "Bearer"
        body = error_body(exc.code, exc.message, status)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()[:5]
        places = [_validation_place(e) for e in found]
        problems = "; ".join(
            f"{place}: {_validation_message(e)}" for place, e in zip(places, found, strict=True)
        )
        status = 400 if is_openai_route(request.url.path) else 422
        body = error_body("invalid_request", problems[:500], status, places[0] if places else None)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            from app.routes.errors import allowed_methods

            headers["Allow"] = allowed_methods(request.app.routes, request.url.path) or ""
        message = str(exc.detail)
        if exc.status_code == 404 and is_openai_route(request.url.path):
            message = (
                "Hearth's OpenAI-compatible API serves /v1/models and /v1/chat/completions "
                f"only, not {request.url.path}"
            )
        return JSONResponse(
            error_body(code, message, exc.status_code),
            status_code=exc.status_code,
            headers=headers or None,
        )

    def internal_error() -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "internal error", 500), status_code=500)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return internal_error()  # a middleware's own error: past the middlewares below

    @app.middleware("http")
    async def answered_errors(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """A route's unexpected error as Hearth's JSON 500, made here rather than by
        Starlette's outermost error handler, so that it passes the middlewares around this
        one: counted in the metrics, with the security headers, and readable by a page that
        HEARTH_CORS_ORIGINS allows (not shown to it as a "CORS error")."""
        try:
            return await call_next(request)
        except Exception:
            return internal_error()

    allowed_hosts = settings.host_set()

    @app.middleware("http")
    async def known_host(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse a Host header not allowed (HEARTH_ALLOWED_HOSTS): a web page whose name
        was rebound to 127.0.0.1 would otherwise read this Hearth through a visitor's browser,
        its own origin passing the same-origin check. No exemption for a trusted proxy: on the
        same host, the rebound browser connects from the proxy's own address."""
        host = request.url.hostname or ""
        if allowed_hosts and host.lower() not in allowed_hosts:
            return JSONResponse(
                error_body(
                    "unknown_host",
                    f"this Hearth does not answer as {host!r}: "
                    "HEARTH_ALLOWED_HOSTS names the ones it does (a reverse proxy that "
                    "passes its public name on: add that name)",
                ),
                status_code=400,
            )
        return await call_next(request)

    @app.middleware("http")
    async def headers_and_metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if not is_page_asset(request.url.path):
            response.headers.setdefault("Cache-Control", "no-store")
        route = request.scope.get("route")
        services_now = request.app.state.services
        if services_now is not None and route is not None:
            path = getattr(route, "path", "other")
            services_now.metrics.requests.labels(path, str(response.status_code)).inc()
            services_now.metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    from app.routes import conversations, health, openai, query, web

    app.include_router(health.router)
    app.include_router(query.router)
    app.include_router(conversations.router)
    app.include_router(openai.router)
    app.include_router(web.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    add_cors(app, settings.cors_origin_list())
    return app


def add_cors(app: FastAPI, origins: list[str]) -> None:
    """Let web pages on `origins` (HEARTH_CORS_ORIGINS) call Hearth from a browser; none by
    default. Outermost, so a preflight is answered before anything else runs, and the
    answers Hearth refuses (413, 429, 503 with its Retry-After) reach the page as themselves
    rather than as a "CORS error". No credentials: a sign-on proxy's cookie is never honoured
    for another origin's page, which calls with an API key (any request header may be sent:
    the openai JavaScript client sends its own x-stainless-* ones)."""
    if not origins:
        return
    from starlette.middleware.cors import CORSMiddleware

    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["*"],
        allow_credentials=False,
        expose_headers=["Retry-After"],
        max_age=600,
    )
