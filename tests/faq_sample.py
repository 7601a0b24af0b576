"""An FAQ passage's sentences, scored as retrieval would against "What's the name of the guest
Wi-Fi network in the Lisbon office?" (shared by the index and app tests)."""

from __future__ import annotations

from index.search import ScoredSentence

FAQ = [
    ("LISBON OFFICE - PRACTICAL FAQ", 0.51),
    ("Q: What is the Wi-Fi?", 0.55),
    ('A: Laptops connect to "Emberline-Staff".', 0.29),
    ('Visitors use "Emberline-Guest".', 0.42),
    ("The guest password is on the board.", 0.38),
    ("Q: Where can I leave my things?", 0.02),
    ("A: There are 30 lockers.", 0.06),
]


def faq_sentences(chunk_id: int = 1) -> list[ScoredSentence]:
    return [
        ScoredSentence(chunk_id, position, text, cosine, cosine)
        for position, (text, cosine) in enumerate(FAQ)
    ]
