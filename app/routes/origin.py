"""Refuse state-changing requests sent by another site's page (CSRF), on top of JSON-only bodies.

Hearth sets no cookie, but behind a single-sign-on proxy the browser attaches the proxy's cookie
to any request, including one a hostile page makes. Browsers say where a request comes from
(`Origin`, `Sec-Fetch-Site`); a POST/PUT/PATCH/DELETE is accepted only when that is Hearth's own
origin (the request's `Host`, a trusted proxy's `X-Forwarded-Host`, HEARTH_ALLOWED_ORIGINS or
HEARTH_CORS_ORIGINS).
Clients that send neither header (curl, SDKs, servers) are not browsers and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.exceptions import HTTPException

from app.deps import SettingsDep

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _host_of(origin: str) -> str | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.lower()


def same_origin(request: Request, settings: SettingsDep) -> None:
    """A dependency: 403 for a state-changing request a browser made from another origin."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:
        # Older browsers omit Origin on same-origin POSTs; Sec-Fetch-Site still tells.
        if request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none"):
            return
        raise HTTPException(403, "cross-origin request refused")
    if origin.strip().lower().rstrip("/") in settings.origin_set() | set(
        settings.cors_origin_list()
    ):
        return  # HEARTH_ALLOWED_ORIGINS, or a page HEARTH_CORS_ORIGINS lets read the answer
    host = _host_of(origin.strip())
    own = {request.headers.get("host", "").lower()}
    client = request.client.host if request.client else ""
    if settings.is_trusted_proxy(client):
        own.add(request.headers.get("x-forwarded-host", "").split(",")[0].strip().lower())
    if host is None or host not in own - {""}:
        raise HTTPException(403, "cross-origin request refused")
