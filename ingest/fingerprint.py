"""Fingerprints of source files and hashes of documents: what lets a run skip the files and
documents that did not change (a file is not parsed again, a document not embedded again)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

from index.types import Document
from ingest.chunker import CHUNKER_VERSION, ChunkBudget
from ingest.parsers.base import ParseOptions
from ingest.sources import is_wiki_dump

# Bump when parsing or cleaning changes what an unchanged file yields: recorded fingerprints of
# older runs then stop matching and every file is parsed again (nothing is re-embedded unless
# its content hash changed).
# 17: wiki pages (and files) without text are no longer stored as documents without chunks;
# 16: wiki back matter (See also, External links, Further reading, References) dropped;
# 15: wiki rounding templates and spanning table cells, overlaps from a sentence start (the
# chunker's version is in content_hash only, which a file not parsed again never reaches);
# 14: wiki figures ({{val}}, {{frac}}, {{sc}}); 13: wiki templates, PDF compounds, DOCX notes;
# 12: aliases by dump
FINGERPRINT_VERSION = 17


def _hearth_version() -> str:
    try:
        return importlib.metadata.version("hearth-kb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def source_fingerprint(
    path: Path, relative: str, options: ParseOptions, budget: ChunkBudget, embedder_id: str
) -> str:
    """Changes whenever the documents parsed from a file could change: its bytes, its name
    relative to the ingest root (the document id), the parse options (groups included), the
    chunking, the embedder and the parser code's version."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    payload = {
        "bytes": digest.hexdigest(),
        "relative": relative,
        "groups": sorted(options.groups),
        "base_url": options.base_url,
        "namespaces": sorted(options.namespaces),
        "namespace_groups": {str(k): sorted(v) for k, v in options.namespace_groups.items()},
        # only a dump's pages depend on it: other files are not parsed again when it changes
        "wiki_max_page_bytes": options.wiki_max_page_bytes if is_wiki_dump(path) else None,
        "chunking": [budget.max_tokens, budget.target_tokens, budget.overlap_tokens],
        "embedder": embedder_id,
        "version": [FINGERPRINT_VERSION, _hearth_version()],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def content_hash(document: Document, budget: ChunkBudget, embedder_id: str) -> str:
    """Changes whenever anything that ends up in the store would change (groups excepted)."""
    payload = {
        "title": document.title,
        "url": document.url,
        "kind": document.kind,
        "revision": document.revision,
        "categories": list(document.categories),
        "aliases": list(document.aliases),
        "source": document.source,
        "modified": document.modified.isoformat() if document.modified else None,
        "sections": [[list(s.heading_path), s.anchor, s.page, s.text] for s in document.sections],
        # the chunker's version too: its changes reach stored documents whose text did not
        "chunking": [
            budget.max_tokens,
            budget.target_tokens,
            budget.overlap_tokens,
            CHUNKER_VERSION,
        ],
        "embedder": embedder_id,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
