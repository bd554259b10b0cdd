"""Readers: stream the records of one input file as Documents (or Unreadable ledger entries).

Every reader yields one item per record and never holds a whole file in memory; a record it
cannot read becomes an `Unreadable` with a reason, so the books always balance.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..document import Document, Unreadable
from ..inputs import InputFile
from .common import ReadOptions
from .files import read_single_document
from .records import read_json, read_jsonl, read_parquet
from . import spans
from .spans import Span
from .warc import read_warc

READERS = {
    "warc": read_warc,
    "jsonl": read_jsonl,
    "json": read_json,
    "parquet": read_parquet,
    "html": read_single_document,
    "text": read_single_document,
}


def read_file(f: InputFile, options: ReadOptions, span: Span | None = None
              ) -> Iterator[Document | Unreadable]:
    """The records of `f`, or of one span of it (only formats spans.py splits get one)."""
    if span is None:
        return READERS[f.format](f, options)
    return READERS[f.format](f, options, span)


__all__ = ["ReadOptions", "Span", "read_file"]
