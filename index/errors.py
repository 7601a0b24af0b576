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


class EmbedderMismatchError(StoreError):
    """The index was built with another embedder than the one configured."""

    code = "embedder_mismatch"


class VectorIndexError(StoreError):
    """A vector file is missing, stale or corrupt (it is rebuilt, never served)."""

    code = "vector_index_error"


class ParseError(HearthError):
    """A source file could not be parsed; the ingest reports it and continues."""

    code = "parse_error"


class InvalidGroupError(HearthError):
    """A group name is empty or holds characters outside [a-z0-9_.:-]."""

    code = "invalid_group"


class NotFoundError(HearthError):
    """The thing does not exist, or the caller may not see it (indistinguishable on purpose)."""

    code = "not_found"
