"""The columns of kept shards and of the removed ledger (DESIGN.md, "The document and its shards")."""
from __future__ import annotations

import json

import pyarrow as pa

from .document import Document

# The removed ledger keeps the text for inspection, capped so that one 20 MB page that timed
# out cannot bloat it; the cap is noted in the row (`...[truncated]`).
LEDGER_TEXT_CHARS = 100_000

BASE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("date", pa.string()),
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float32()),
    pa.field("license", pa.string()),
]
REMOVED_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("step", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("text", pa.string()),
])


def kept_schema(score_columns: list[str]) -> pa.Schema:
    scores = [pa.field(c, pa.float32()) for c in score_columns]
    return pa.schema([*BASE_FIELDS, *scores, pa.field("metadata", pa.string(), nullable=False)])


def kept_row(doc: Document, score_columns: list[str]) -> dict:
    row = {
        "id": doc.id, "text": doc.text, "url": doc.url, "source": doc.source, "date": doc.date,
        "language": doc.language, "language_score": doc.language_score, "license": doc.license,
        "metadata": json.dumps(doc.metadata, ensure_ascii=False, sort_keys=True, default=str),
    }
    for column in score_columns:
        row[column] = doc.scores.get(column)
    return row


def removed_row(doc_id: str, url: str | None, source: str, step: str, reason: str, text: str) -> dict:
    if len(text) > LEDGER_TEXT_CHARS:
        text = text[:LEDGER_TEXT_CHARS] + "...[truncated]"
    return {"id": doc_id, "url": url, "source": source, "step": step, "reason": reason, "text": text}
