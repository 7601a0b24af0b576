"""What a request depends on: the app's services and the caller's identity.

Identity, in order: an API key (`Authorization: Bearer hk_...`, stored hashed); identity
headers from a configured reverse proxy (only from its addresses); otherwise anonymous with the
`public` group. An anonymous browser may send a random `X-Hearth-Session` id so that its
conversations are kept apart from every other anonymous caller's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request

from app.admission import Admission
from app.conversations import ConversationStore
from app.engines import ChatModel
from app.keys import KeyStore
from app.metrics import Metrics
from app.rag import RagPipeline
from app.ratelimit import RateLimiter
from app.settings import Settings
from index.errors import AuthError, InvalidGroupError
from index.protocols import Embedder, Store
from index.types import ANONYMOUS_USER, PUBLIC_GROUP, Principal, normalize_group

log = logging.getLogger(__name__)

SESSION_HEADER = "X-Hearth-Session"


@dataclass
class Services:
    """Everything the routes use; built in the lifespan, or passed in by tests."""

    store: Store
    embedder: Embedder
    model: ChatModel
    conversations: ConversationStore
    keys: KeyStore
    rag: RagPipeline
    metrics: Metrics
    limiter: RateLimiter
    admission: Admission = field(default_factory=Admission)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _proxy_groups(value: str) -> frozenset[str]:
    groups = set()
    for item in value.split(","):
        try:
            if item.strip():
                groups.add(normalize_group(item))
        except InvalidGroupError as exc:
            _unusable_group(item.strip()[:100], exc.message)  # it grants nothing
    return frozenset(groups | {PUBLIC_GROUP})


@lru_cache(maxsize=256)
def _unusable_group(name: str, reason: str) -> None:
    """Said once per name (the cache's key): a proxy sending "Human Resources" or an LDAP DN
    left its users reading public documents only, with nothing in the log to say why."""
    log.warning("a group in the proxy's groups header is ignored: %s", reason)


def get_principal(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Principal:
    """The caller: key holder, proxy-asserted user, or anonymous (401 if auth is required)."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        principal = services.keys.verify(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            # a placeholder ("EMPTY", "sk-no-key-required") is what local-server guides say
            # to put in a client's key field: say what a Hearth key looks like
            raise AuthError(
                "invalid or revoked API key (a Hearth key starts with hk_; "
                "`hearth keys create` makes one)"
            )
        return principal
    client = request.client.host if request.client else ""
    user = request.headers.get(settings.proxy_user_header, "").strip()
    if user and settings.is_trusted_proxy(client):
        for header in (settings.proxy_user_header, settings.proxy_groups_header):
            if len(request.headers.getlist(header)) > 1:  # a proxy that appends, not replaces:
                raise AuthError(f"the proxy sent {header} more than once")  # the client chose one
        groups = _proxy_groups(request.headers.get(settings.proxy_groups_header, ""))
        return Principal.from_proxy(user, groups)
    if settings.require_auth:
        raise AuthError("this Hearth requires an API key (Authorization: Bearer ...)")
    session = request.headers.get(SESSION_HEADER, "")
    if 16 <= len(session) <= 200:
        digest = hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return Principal.anonymous(session=digest)
    return Principal.anonymous()


def get_limited_principal(
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    services: Annotated[Services, Depends(get_services)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Principal:
    """The caller, after taking one token from their rate-limit bucket (429 when empty).
    Anonymous callers share their address's bucket: the session header that keeps their
    conversations apart is theirs to choose, so a new one per request escaped the limit."""
    bucket = principal.user
    if principal.via == "anonymous":
        bucket = f"{ANONYMOUS_USER}@{_caller_address(request, settings)}"
    services.limiter.check(bucket)
    return principal


def _caller_address(request: Request, settings: Settings) -> str:
    """The caller's address: the peer's, or behind a trusted proxy the client it names last
    in X-Forwarded-For (else every anonymous caller shared the proxy's one limit); an IPv6
    address stands for its /64, which one host can rotate through."""
    address = request.client.host if request.client else ""
    if settings.is_trusted_proxy(address):  # HAProxy appends a line: the last line's last
        lines = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
        address = lines[-1].strip() or address
    try:
        parsed = ipaddress.ip_address(_without_port(address))
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(getattr(parsed, "ipv4_mapped", None) or parsed)


def _without_port(address: str) -> str:
    """ "203.0.113.9:41234" and "[2001:db8::1]:443" without their ports."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    host, colon, port = address.rpartition(":")
    return host if colon and port.isdigit() and "." in host else address


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
LimitedPrincipalDep = Annotated[Principal, Depends(get_limited_principal)]
