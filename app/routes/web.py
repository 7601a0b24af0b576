"""The chat page at `/` and its static files (packaged; no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from index.errors import NotFoundError

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
         ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}  # fmt: skip


@router.get("/")
def index() -> Response:
    return FileResponse(str(STATIC / "index.html"), media_type=TYPES[".html"])


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in TYPES or not path.is_file():
        raise NotFoundError("no such file")
    return FileResponse(str(path), media_type=TYPES[suffix])
