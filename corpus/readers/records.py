"""Record files: JSONL, JSON arrays and Parquet, one document per record.

Formats are parsed by the project's one record reader (record_files.py: `json_line`,
`parquet_rows`); this module adds the pipeline's side: spans of a file, a size cap per record,
JSON arrays streamed, and a ledger entry (Unreadable) for each record it cannot read.

A record keeps its own `id` and `url` when it has them; the text comes from `--text-field`,
and every other field goes to `metadata`.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import ijson

from .. import fs
from ..document import Document, Unreadable
from ..inputs import InputFile
from .common import (READ_ERRORS, ReadOptions, open_binary, read_at_most, read_error_reason,
                     stable_id)
from .record_files import BrokenLine, json_line, parquet_rows
from .spans import Span

DATE_FIELDS = ("date", "created", "timestamp")


def _not_utf8(value: str) -> bool:
    """Holds a lone UTF-16 surrogate (JSON can spell one, \\ud800): not a character, so neither
    UTF-8 nor a Parquet writer takes it. Encoding is the test: ~4x faster than a regex scan."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def record_to_document(record: Any, f: InputFile, position: int,
                       options: ReadOptions) -> Document | Unreadable:
    fallback_id = stable_id(f, position)
    if not isinstance(record, dict):
        return Unreadable(fallback_id, "not_an_object", source=f.source, text=str(record)[:1000])
    text = record.get(options.text_field)
    raw_id = record.get(options.id_field)
    doc_id = str(raw_id) if raw_id not in (None, "") else fallback_id
    url = record.get(options.url_field)
    url = str(url) if url not in (None, "") else None
    if not isinstance(text, str):
        reason = f"missing_field:{options.text_field}" if text is None else f"not_text:{options.text_field}"
        return Unreadable(doc_id, reason, url=url, source=f.source, text=json.dumps(record, default=str)[:1000])
    date = next((str(record[k]) for k in DATE_FIELDS if record.get(k) not in (None, "")), None)
    if any(_not_utf8(v) for v in (text, doc_id, url or "", date or "")):
        return Unreadable(doc_id.encode("utf-8", "replace").decode("utf-8"), "invalid_unicode",
                          source=f.source, text=text.encode("utf-8", "replace").decode("utf-8")[:1000])
    if _is_xiulian_row(record):
        return _from_xiulian_row(record, doc_id, text, url, date)
    taken = {options.text_field, options.id_field, options.url_field}
    metadata = {k: v for k, v in record.items() if k not in taken}
    metadata["file"] = f.rel
    return Document(doc_id, text, url=url, source=f.source, date=date, metadata=metadata)


def _is_xiulian_row(record: dict) -> bool:
    """A row of our own shards (re-read by `xiulian dedup`/`decontam`): restore it as it was."""
    return isinstance(record.get("metadata"), str) and "language_score" in record and "source" in record


def _from_xiulian_row(record: dict, doc_id: str, text: str, url: str | None, date: str | None) -> Document:
    try:
        metadata = json.loads(record["metadata"])
    except ValueError:
        metadata = {"metadata": record["metadata"]}
    scores = {k: v for k, v in record.items() if k.startswith("score_") and v is not None}
    return Document(doc_id, text, url=url, source=record["source"], date=date,
                    language=record.get("language"), language_score=record.get("language_score"),
                    license=record.get("license"), scores=scores, metadata=metadata)


def _lines(f: InputFile, span: Span | None) -> io.BufferedIOBase:
    if span is None:
        return open_binary(f)
    if span.data is not None:  # a piece the parent cut from a compressed stream
        return io.BytesIO(span.data)
    return fs.open_range(f.path, span.start, span.end)


def read_jsonl(f: InputFile, options: ReadOptions, span: Span | None = None
               ) -> Iterator[Document | Unreadable]:
    """One record per line; a span (spans.py) reads its lines only, numbered as in the file."""
    line_no = span.before if span else 0
    try:
        with _lines(f, span) as fh:
            for line_no, line in enumerate(fh, line_no + 1):
                if not line.strip():
                    continue
                if len(line) > options.max_bytes:
                    yield Unreadable(stable_id(f, line_no), "too_large", source=f.source,
                                     text=f"{f.rel}:{line_no}")
                    continue
                try:
                    record = json_line(line)
                except BrokenLine as exc:
                    yield Unreadable(stable_id(f, line_no), exc.reason, source=f.source,
                                     text=line[:1000].decode("utf-8", "replace"))
                    continue
                yield record_to_document(record, f, line_no, options)
    except READ_ERRORS as exc:
        yield Unreadable(stable_id(f, line_no + 1), read_error_reason(exc), source=f.source,
                         text=f"{f.rel} after line {line_no}: {exc}")
        return
    if span is not None and span.error:  # the parent's read of the stream broke here
        reason, detail = span.error
        yield Unreadable(stable_id(f, line_no + 1), reason, source=f.source, text=detail)
    elif line_no == 0:
        yield Unreadable(stable_id(f, 0), "empty_file", source=f.source, text=f.rel)


def _json_layout(f: InputFile) -> str:
    """'array', 'lines' or 'object' (one pretty-printed record), judged from the file's start."""
    with open_binary(f) as fh:
        first_line = fh.readline(1 << 20).strip()
        while not first_line and (line := fh.readline(1 << 20)):
            first_line = line.strip()
    if first_line.startswith(b"["):
        return "array"
    try:
        json.loads(first_line)
        return "lines"
    except ValueError:
        return "object"


def read_json(f: InputFile, options: ReadOptions) -> Iterator[Document | Unreadable]:
    """A JSON array of records (streamed), JSON Lines, or one pretty-printed record."""
    try:
        layout = _json_layout(f)
    except READ_ERRORS as exc:
        yield Unreadable(stable_id(f, 0), read_error_reason(exc), source=f.source, text=f"{f.rel}: {exc}")
        return
    if layout == "lines":
        yield from read_jsonl(f, options)
        return
    position = 0
    try:
        with open_binary(f) as fh:
            if layout == "object":
                raw = read_at_most(fh, options.max_bytes + 1)
                if len(raw) > options.max_bytes:
                    yield Unreadable(stable_id(f, 0), "too_large", source=f.source, text=f.rel)
                else:
                    yield record_to_document(json.loads(raw), f, 0, options)
                return
            for position, record in enumerate(ijson.items(fh, "item", use_float=True), 1):
                yield record_to_document(record, f, position, options)
    except (ijson.JSONError, *READ_ERRORS) as exc:
        reason = "invalid_json" if isinstance(exc, (ijson.JSONError, ValueError)) else read_error_reason(exc)
        yield Unreadable(stable_id(f, position + 1), reason, source=f.source,
                         text=f"{f.rel} after record {position}: {exc}")


def read_parquet(f: InputFile, options: ReadOptions, span: Span | None = None
                 ) -> Iterator[Document | Unreadable]:
    """All rows, or a span's row groups (positions counted from the file's first row)."""
    position = span.before if span else 0
    groups = list(range(span.start, span.end)) if span else None
    try:
        for record in parquet_rows(f.path, row_groups=groups, batch_size=1024):
            position += 1
            yield record_to_document(record, f, position, options)
    except Exception as exc:  # pyarrow raises its own zoo of errors for a broken file
        yield Unreadable(stable_id(f, position + 1), "unreadable_parquet", source=f.source,
                         text=f"{f.rel} after record {position}: {exc}")
