"""Replies to a message that is only thanks, a greeting or a goodbye: searched like a question,
"thanks!" got "I don't know" and four unrelated documents as its closest matches (a helper's
conversations, session 18). Nothing is retrieved and the model is not called; a message that
asks anything besides ("Hi, how much leave do I get?") is a question as usual."""

from __future__ import annotations

import re

_POLITE = (
    r"(?:[\s,.!]+(?:a lot|so much|very much|again|there|hearth|all|everyone|a bunch|anyway"
    r"|for (?:the|your) (?:help|answer)|for now|tomorrow|later|soon))*"
)
_LEAD = r"(?:(?:great|ok|okay|perfect|cool|nice|awesome|brilliant|no|got it)[\s,.!]+)?"
_KINDS = (
    (
        "thanks",
        r"(?:thanks?(?: you)?|thank you|many thanks|thx|ty|cheers|great|ok|okay|perfect|cool"
        r"|nice|awesome|brilliant|got it)",
        "You're welcome.",
    ),
    (
        "greeting",
        r"(?:hi|hello|hey|good (?:morning|afternoon|evening))",
        "Hello! Ask me about anything the documents you may read could answer: a policy, a "
        "process, a contact or a figure.",
    ),
    ("goodbye", r"(?:bye|goodbye|see you|see ya)", "Goodbye!"),
)
_PATTERNS = [
    (re.compile(rf"\W*{_LEAD}{words}{_POLITE}[\s.!?:)]*", re.IGNORECASE), reply)
    for _, words, reply in _KINDS
]


def reply_to(message: str) -> str | None:
    """The reply to a message that is only thanks, a greeting or a goodbye; else None."""
    for pattern, reply in _PATTERNS:
        if pattern.fullmatch(message.strip()):
            return reply
    return None
