"""The project's one reader of record files: JSON, JSON Lines, CSV/TSV, Parquet and plain text.

Benchmarks (decontamination), SFT, preference and prompt files (train/data) and classifier
training data (filters) all read records through `read_records`, so each format is read one way
and a broken record is reported one way, naming the line of the file it is on:

    bench.json, line 2: not valid JSON (Expecting ',' delimiter, column 40)

JSON is decided by content, not by name: a `.json` file that does not parse whole is read as
JSON Lines (BELLE's seed tasks are JSONL named .json), and a whole file is an array of records,
an object wrapping one list of records (`{"data": [...]}`), an object of records keyed by id, or
one record. Files may be compressed (.gz, .zst). The pipeline's own readers (corpus/readers/
records.py) stream documents with per-record ledger entries instead; this reader is for the
small record files that a command takes whole.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterator
from typing import Any

from corpus.errors import UserError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
           ".tsv": "tsv", ".parquet": "parquet", ".txt": "text", ".text": "text"}
COMPRESSIONS = (".gz", ".zst")
BROKEN = "__broken__"  # the key of the record `read_records(..., broken="mark")` yields for a bad line


def format_of(path: str) -> str | None:
    """"jsonl", "json", "csv", "tsv", "parquet" or "text" from the file name (compression ignored)."""
    name = os.path.basename(str(path)).lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    return FORMATS.get(os.path.splitext(name)[1])


def open_text(path: str) -> io.TextIOBase:
    """A text stream of the file, decompressed; a UTF-8 byte-order mark is dropped."""
    lower = str(path).lower()
    if lower.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    if lower.endswith(".zst"):
        import zstandard
        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_records(path: str, fmt: str | None = None, broken: str = "raise") -> Iterator[Any]:
    """Every record of one file, in file order. A file that cannot be read as `fmt` (default: from
    its name; unknown names are read as JSON) is a one-line UserError. A JSON Lines line that does
    not parse is an error naming it (`broken="raise"`), or a record {BROKEN: that message} that the
    caller counts and skips (`broken="mark"`)."""
    fmt = fmt or format_of(path) or "json"
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
                yield from batch.to_pylist()
            return
        with open_text(path) as f:
            if fmt in ("csv", "tsv"):
                csv.field_size_limit(1 << 30)
                yield from csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ",")
            elif fmt == "text":
                yield from (line.rstrip("\r\n") for line in f if line.strip())
            elif fmt == "jsonl":
                yield from _json_lines(path, f, broken)
            else:
                yield from _json_records(path, f.read(), broken)
    except UserError:
        raise
    except (OSError, EOFError, ValueError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read it as {fmt}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow and zstandard raise their own error types
        raise UserError(f"{path}: cannot read it: {type(exc).__name__}: {exc}") from None


def _json_lines(path: str, lines, broken: str) -> Iterator[Any]:
    parsed, first_error = 0, None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            message = f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno})"
            if broken == "raise":
                raise UserError(message) from None
            first_error = first_error or message
            yield {BROKEN: message}
            continue
        parsed += 1
        yield record
    if first_error and not parsed:
        raise UserError(f"{path}: not JSON or JSON Lines (first error: {first_error})")


def _json_records(path: str, text: str, broken: str) -> Iterator[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        yield from _json_lines(path, text.splitlines(), broken)  # JSON Lines saved as .json
        return
    if isinstance(data, list):
        yield from data
        return
    if isinstance(data, dict):
        values = list(data.values())
        if values and all(isinstance(v, dict) for v in values):
            yield from values                      # {"id1": {...}, "id2": {...}}
            return
        lists = [v for v in values if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            yield from lists[0]                    # {"version": 1, "data": [{...}, ...]}
            return
    yield data
