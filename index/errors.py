"""The HearthError tree: every domain error, with a message safe to show a user.

Messages never contain stack traces, file system paths of the server or document text; the HTTP
layer maps each class to a status code in one place.
"""

from __future__ import annotations


class HearthError(Exception):
    """Base of every error Hearth raises on purpose. `code` is a stable machine-readable name."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(HearthError):
    """A setting or model file is missing or unusable."""

    code = "configuration_error"


class StoreError(HearthError):
    """The store cannot be opened or written."""

    code = "store_error"


class NoIndexError(StoreError):
    """There is no index to read yet (an empty database): a command that only reads says so
    rather than create one."""

    code = "no_index"


class StoreUnavailableError(StoreError):
    """The store's server cannot be reached (PostgreSQL down, or no connection free in time):
    a 503 the caller may retry, and /readyz says so."""

    code = "store_unavailable"


class EmbedderMismatchError(StoreError):
    """The index was built with another embedder than the one configured."""

    code = "embedder_mismatch"


class VectorIndexError(StoreError):
    """A vector file is missing, stale or corrupt (it is rebuilt, never served)."""

    code = "vector_index_error"


class ParseError(HearthError):
    """A source file could not be parsed; the ingest reports it and continues."""

    code = "parse_error"


class NotAWikiExportError(ParseError):
    """An `.xml` file that is not a MediaWiki export (a sitemap, a build file): skipped, unless
    pages were stored from it before (then it is a dump replaced by something else: failed)."""

    code = "not_a_wiki_export"


class EmptyDocumentError(ParseError):
    """A source file holds no text (a placeholder, a blank page): skipped and listed, not failed."""

    code = "empty_document"


class InvalidGroupError(HearthError):
    """A group name is empty or holds characters outside [a-z0-9_.:-]."""

    code = "invalid_group"


class NotFoundError(HearthError):
    """The thing does not exist, or the caller may not see it (indistinguishable on purpose)."""

    code = "not_found"


class ModelBusyError(HearthError):
    """The generation queue is full; the caller should retry after `retry_after` seconds."""

    code = "busy"

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContextOverflowError(HearthError):
    """The prompt (or the requested answer length) cannot fit the model's context window."""

    code = "context_overflow"


class InvalidRequestError(HearthError):
    """The request is well-formed JSON but asks for something Hearth will not do."""

    code = "invalid_request"


class UpstreamError(HearthError):
    """A remote inference server failed (502), is unavailable (503) or timed out (504)."""

    code = "upstream_error"

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class LicenseError(ConfigurationError):
    """The model's licence is missing or not in the allowed list."""

    code = "license_not_allowed"


class AuthError(HearthError):
    """Missing or invalid credentials where they are required."""

    code = "unauthorized"


class RateLimitedError(HearthError):
    """Too many requests for this key; retry after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
