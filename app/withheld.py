"""What a stored conversation may still show its owner: an answer drew on documents its owner
may read then; when one of them is restricted, removed or the owner's key narrowed since, that
answer's text, its sources and citations are withheld (only their numbers stay), on the page,
in exports and in the history a follow-up puts into the model's prompt. The right to read a
document must not be outlived by copies of its text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from index.protocols import Store
from index.types import Principal

WITHHELD_TITLE = "A source you may no longer read"
WITHHELD_ANSWER = (
    "(This answer drew on a document you may no longer read, so it is withheld. Ask again to "
    "get an answer from what you may read now.)"
)
_CITED = (("sources", "n"), ("citations", "marker"))
# How strongly the withheld answer matched and how long it was: measures of its text.
_MEASURES = (
    "evidence", "prompt_tokens", "completion_tokens", "timings", "quote_reason", "truncated",
    "stopped", "quoted",
)  # fmt: skip


def readability(store: Store, principal: Principal) -> Callable[[str], bool]:
    """Whether `principal` may read a document now, by id (each id looked up once)."""
    known: dict[str, bool] = {}

    def may_read(document_id: str) -> bool:
        if document_id not in known:
            stored = store.get_document(document_id, principal.readable_groups)
            known[document_id] = stored is not None
        return known[document_id]

    return may_read


def drew_on_unreadable(details: dict[str, Any], may_read: Callable[[str], bool]) -> bool:
    """Whether a stored answer's sources or citations name a document no longer readable."""
    return any(
        not may_read(str(item.get("document_id", "")))
        for key, _ in _CITED
        if isinstance(details.get(key), list)
        for item in details[key]
        if isinstance(item, dict) and not item.get("withheld")
    )


def readable_message(message: dict[str, Any], may_read: Callable[[str], bool]) -> dict[str, Any]:
    """A stored message (`Message.as_dict()`) as its owner may see it now."""
    details = message.get("details")
    if message.get("role") != "assistant" or not isinstance(details, dict):
        return message
    if not drew_on_unreadable(details, may_read):
        return message
    kept = dict(details)
    for key, number in _CITED:
        if isinstance(kept.get(key), list):
            kept[key] = [
                item if may_read(str(item.get("document_id", ""))) else _withheld(item, number)
                for item in kept[key]
            ]
    if kept.get("abstained_by") == "retrieval":  # no model ran: "I don't know" holds no text
        kept.pop("evidence", None)  # of them, only the closest matches go, with how close
        return {**message, "details": kept}
    kept["unsupported"] = []  # the draft's sentences came from the same prompt
    for measure in _MEASURES:
        kept.pop(measure, None)
    kept["withheld"] = True
    return {**message, "content": WITHHELD_ANSWER, "details": kept}


def _withheld(item: dict[str, Any], number: str) -> dict[str, Any]:
    """A source or citation kept only as its number: no id, title, text or link."""
    return {
        number: item.get(number),
        "document_id": "",
        "title": WITHHELD_TITLE,
        "url": None,
        "heading": "",
        **({"snippet": ""} if "snippet" in item else {"span": ""}),
        "withheld": True,
    }
