"""The unit every step passes along: one document, plus what the steps learned about it."""
from __future__ import annotations

from dataclasses import dataclass, field

HTML = "text/html"
PLAIN = "text/plain"


@dataclass
class Document:
    """A document on its way through the pipeline.

    `media_type` says whether `text` is still raw HTML (the extract step turns it into
    plain text) or already plain text (JSONL, WET, .txt inputs).
    """

    id: str
    text: str
    url: str | None = None
    source: str = ""
    date: str | None = None
    media_type: str = PLAIN
    language: str | None = None
    language_score: float | None = None
    license: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


@dataclass
class Unreadable:
    """A record a reader could not turn into a document; it goes to the ledger as step `read`."""

    id: str
    reason: str
    url: str | None = None
    source: str = ""
    text: str = ""
