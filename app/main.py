"""The FastAPI application factory: `create_app(settings=None, *, services=None)`.

Models and the store load in the lifespan unless `services` is passed in (tests pass fakes).
State lives on `app.state`; there are no module globals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.settings import Settings
from index.errors import HearthError
from index.protocols import Embedder
from index.store import SQLiteStore


@dataclass
class Services:
    """What a request needs: the store and the query embedder."""

    store: SQLiteStore
    embedder: Embedder


def load_services(settings: Settings) -> Services:
    """Open the store (repairing its vector file if needed) and load the embedder."""
    from index.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(settings.embedder_path)
    store = SQLiteStore(settings.data_dir)
    if store.manifest().get("embedder") not in (None, embedder.model_id):
        store.check_embedder(embedder.model_id, embedder.dim)  # raises with a clear message
    store.open_vectors()
    return Services(store=store, embedder=embedder)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app; pass `services` to skip model loading (tests, embedding in other apps)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or load_services(settings)
        yield
        if services is None:
            app.state.services.store.close()

    app = FastAPI(title="Hearth", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings

    @app.exception_handler(HearthError)
    async def hearth_error(_: Request, exc: HearthError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=400)

    from app.routes import health, search

    app.include_router(health.router)
    app.include_router(search.router)
    return app
