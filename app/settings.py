"""Service settings (pydantic-settings, prefix HEARTH_): every field is described, and the
README's settings table is checked against this class by a test."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.licences import DEFAULT_OPEN_LICENSES

OPEN_LICENSES = ",".join(sorted(DEFAULT_OPEN_LICENSES))


class Settings(BaseSettings):
    """Everything an operator can set, from the environment (HEARTH_*) or a `.env` file."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_", env_file=".env", extra="ignore")

    # Where things live
    data_dir: Path = Field(Path("data"), description="Folder holding the store and vector files.")
    database_url: str | None = Field(
        None,
        repr=False,  # may hold a password
        description="postgresql://… URL: keep the store, keys and conversations in PostgreSQL "
        "with pgvector (shared by replicas) instead of the data folder.",
    )
    host: str = Field("127.0.0.1", description="Address `hearth serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `hearth serve` listens on.")

    # Models
    embedder_path: str | None = Field(
        None, description="Local sentence-transformers folder; default: bundled all-MiniLM-L6-v2."
    )
    embedder_threads: int = Field(
        1,
        ge=1,
        le=256,
        description="CPU threads for query embedding (1: no contention with the LLM's threads).",
    )
    embedder_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="How the embedder runs: onnx-int8 (quantised, fastest), onnx (fp32) or torch; "
        "the ONNX files are built offline from the model folder on first use.",
    )
    embedder_cache: Path | None = Field(
        None, description="Folder for the built ONNX embedder files; default ~/.cache/hearth."
    )
    wiki_max_page_mb: float = Field(
        20.0,
        ge=0.001,
        le=100_000,
        allow_inf_nan=False,
        description="A wiki page with more wikitext (MB) is skipped and reported at ingest.",
    )
    model_path: str | None = Field(
        None, description="GGUF model file; default: bundled SmolLM2-135M-Instruct Q4_1."
    )
    model_sha256: str | None = Field(
        None, description="If set, refuse to start unless the GGUF file has this SHA-256."
    )
    context_size: int | None = Field(
        None, ge=512, description="Context window in tokens; default min(GGUF's, 4096)."
    )
    threads: int = Field(2, ge=1, le=256, description="CPU threads for the LLM reading the prompt.")
    decode_threads: int = Field(
        1,
        ge=1,
        le=256,
        description="CPU threads for the LLM writing the answer, token by token. One: a token's "
        "step is too small to share, and two threads meeting after every operation lost 2.5x to "
        "other work on 2 cores (deploy/OPERATIONS.md, 'CPU threads').",
    )
    queue_size: int = Field(
        4,
        ge=1,
        le=1024,
        description="Answers in progress at once (retrieving, waiting for or running on the "
        "LLM); more get 503 at once.",
    )
    allowed_licenses: str = Field(
        OPEN_LICENSES, description="Comma-separated model licences (GGUF general.license) allowed."
    )
    allow_any_license: bool = Field(
        False, description="Start even if the model's licence is missing or not allowed."
    )
    llm_url: str | None = Field(
        None, description="OpenAI-compatible server (…/v1) to use instead of the local GGUF."
    )
    llm_api_key: str | None = Field(None, description="Bearer key for the remote LLM server.")
    llm_model: str | None = Field(None, description="Model name to request from the remote server.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the remote LLM.")
    llm_license: str | None = Field(
        None, description="Licence of the remote model (shown in /api/info; checked like GGUF's)."
    )

    # Answering
    max_answer_tokens: int = Field(
        200, ge=1, le=4096, description="Default and maximum answer length in model tokens."
    )
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 is greedy.")
    top_k: int = Field(
        4,
        ge=1,
        le=20,
        description="Most passages shown to the model per question (fewer when "
        "`HEARTH_FOCUS_RATIO` drops far-behind ones).",
    )
    candidates: int = Field(
        50, ge=1, le=200, description="Candidates per search list before fusion."
    )
    fusion: Literal["convex", "rrf"] = Field(
        "convex",
        description="How the dense and BM25 lists are merged: `convex` adds their min-max "
        "scaled scores, `rrf` their reciprocal ranks.",
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant (fusion `rrf`).")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense list in fusion.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 list in fusion.")
    per_document: int = Field(2, ge=1, description="Most passages taken from one document.")
    focus_ratio: float = Field(
        0.92,
        ge=0,
        le=1,
        description="Passages shown to the model must score at least this share of the best "
        "one's fused score (0 shows all top_k).",
    )
    prompt_sentences: int = Field(
        3,
        ge=0,
        le=100,
        description="Sentences of the shown passages put in the prompt: those closest to the "
        "question (0 puts the passages whole).",
    )
    quote_unsupported: bool = Field(
        True,
        description="When no sentence of the model's answer is supported by the sources, it "
        "gives no figure where the question asks for one, or it says it does not know although "
        "the evidence passed the threshold, answer with the source sentence closest to the "
        "question (for a figure, a close one that gives it), quoted and cited, instead.",
    )
    openai_stream_drafts: bool = Field(
        False,
        description="Stream the model's draft to OpenAI-compatible clients token by token, "
        "followed by its quote when attribution replaces it. Off, a streamed completion sends "
        "the answer once it is checked, in one chunk, so a client never shows a draft the "
        "sources do not support (the bundled model's whole answer takes ~0.5 s).",
    )
    openai_sources_in_text: bool = Field(
        True,
        description="End an answer to OpenAI-compatible clients with the sources its [n] "
        "markers lead to (title > section (link)), since such clients show the text alone; off, "
        "they come only in the extra `citations` and `sources` fields.",
    )
    abstain_threshold: float = Field(
        0.52, ge=0, le=1, description="Evidence below this answers 'I don't know' (no LLM call)."
    )
    history_turns: int = Field(
        6, ge=0, le=50, description="Most earlier messages of a conversation put in the prompt."
    )

    # Identity and privacy
    require_auth: bool = Field(False, description="Refuse anonymous callers (401).")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated proxy IP addresses or networks (10.0.0.0/8) whose "
        "identity headers are trusted.",
    )
    allowed_origins: str = Field(
        "",
        description="Comma-separated extra origins (https://host[:port]) allowed to send "
        "state-changing requests; Hearth's own origin always is.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins (https://host[:port]) whose web pages may call "
        "Hearth's APIs from a browser (CORS), with an API key: no cookies or sign-on, and "
        "such an origin may send state-changing requests too; empty: no CORS headers. `*` is "
        "refused.",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated host names requests may name in their Host header (* for "
        "any; unset, `hearth serve` on a loopback address allows only 127.0.0.1, localhost and "
        "::1, which stops DNS rebinding, and any other address allows any).",
    )
    proxy_user_header: str = Field("X-Forwarded-User", description="Header naming the user.")
    proxy_groups_header: str = Field(
        "X-Forwarded-Groups", description="Header listing the user's groups (comma-separated)."
    )
    retention_days: int = Field(
        90, ge=0, description="Delete conversations idle this many days (0 keeps them forever)."
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Requests per minute per caller on answer routes (0: no limit)."
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1024, description="Largest request body accepted (413 beyond)."
    )

    @field_validator("llm_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """Refused at start: otherwise /readyz says ready and every answer is a 502."""
        parts = urlsplit(value or "")
        if value and not (value.startswith(("http://", "https://")) and parts.hostname):
            raise ValueError("must be an http(s):// URL of an OpenAI-compatible server (…/v1)")
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
        return value or None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        """Refused at start: a host name or a typo never matched, and single sign-on then
        failed with a 401 that blamed the API key."""
        _networks(value)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        """Refused at start: a browser compares origins exactly, so a path, a typo or a
        missing scheme would never match and the admin would see only "CORS error"."""
        _origins(value, _READ_BY_ANY_PAGE)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _allowed_origins(cls, value: str) -> str:
        """Refused at start, as for CORS: an entry with a path or without its scheme never
        matched, and the page it was meant for got a 403 on every message."""
        _origins(value, _SENT_BY_ANY_PAGE)
        return value

    def cors_origin_list(self) -> list[str]:
        """The CORS origins as browsers send them (lower case, no default port), in order."""
        return list(_origins(self.cors_origins, _READ_BY_ANY_PAGE))

    def license_set(self) -> frozenset[str]:
        """The allowed licences, normalised."""
        return frozenset(x.strip().lower() for x in self.allowed_licenses.split(",") if x.strip())

    def origin_set(self) -> frozenset[str]:
        """Extra allowed origins as browsers send them (lower case, no default port)."""
        return frozenset(_origins(self.allowed_origins, _SENT_BY_ANY_PAGE))

    def host_set(self) -> frozenset[str]:
        """Allowed Host names, normalised (lower case, no brackets); empty: any ("*" too)."""
        names = {x.strip().lower().strip("[]") for x in self.allowed_hosts.split(",")} - {""}
        return frozenset() if "*" in names else frozenset(names)

    def is_trusted_proxy(self, host: str) -> bool:
        """Whether a peer at `host` (an IP address) may assert who the caller is."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in _networks(self.trusted_proxies))


_READ_BY_ANY_PAGE = "read Hearth through their browsers"
_SENT_BY_ANY_PAGE = "send Hearth messages in their name"


def _origins(value: str, risk: str) -> tuple[str, ...]:
    """The origins a comma-separated list names, as a browser's Origin header writes them;
    `risk` says what `*` would let any page do."""
    origins: list[str] = []
    for item in (x.strip() for x in value.split(",")):
        if not item:
            continue
        if item in ("*", "null"):
            raise ValueError(
                f"{item!r} is not accepted: any web page (or, for null, any local file) your "
                f"users open could then {risk}; list the origins (https://chat.example.org)"
            )
        origin = _origin(item)
        if origin is None:
            raise ValueError(
                f"{item!r} is not an origin: write scheme://host[:port] as a browser sends it "
                "(https://chat.example.org, http://localhost:3000), with no path"
            )
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _origin(item: str) -> str | None:
    """`item` as a browser writes the origin (lower case, default port left out), or None."""
    try:
        parts = urlsplit(item)
        port = parts.port
    except ValueError:  # a port that is not a number, or beyond 65535
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "*" in host:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks a comma-separated list of addresses and CIDR networks names."""
    networks = []
    for item in (x.strip() for x in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network (write 10.0.0.5 or 10.0.0.0/8; "
                "host names are not looked up)"
            ) from None
    return tuple(networks)
