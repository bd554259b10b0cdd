"""The project's one reader of record files: JSON, JSON Lines, CSV/TSV, Parquet and plain text.

Benchmarks (decontamination), SFT, preference and prompt files (train/data) and classifier
training data (filters) all read records through `read_records`, so each format is read one way
and a broken record is reported one way, naming the line of the file it is on:

    bench.json, line 2: not valid JSON (Expecting ',' delimiter, column 40)

JSON is decided by content, not by name: a `.json` file that does not parse whole is read as
JSON Lines (BELLE's seed tasks are JSONL named .json), and a whole file is an array of records,
an object wrapping one list of records (`{"data": [...]}`), an object of records keyed by id, or
one record. Files may be compressed (.gz, .zst).

The trainer's text files (train/data/shards.py) read through `read_numbered`, which adds the
line each record is on. The pipeline's streaming readers (corpus/readers/records.py) read
Parquet through `parquet_rows` and parse a JSON line with `json_line`, and add what a pipeline
needs on top: byte ranges of a file, a size cap per record, and a ledger entry per broken record
instead of an error.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterator
from typing import Any

from corpus import fs
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


def read_records(path: str, fmt: str | None = None, broken: str = "raise",
                 columns: list[str] | None = None) -> Iterator[Any]:
    """Every record of one file, in file order. A file that cannot be read as `fmt` (default: from
    its name; unknown names are read as JSON) is a one-line UserError. A JSON Lines line that does
    not parse is an error naming it (`broken="raise"`), or a record {BROKEN: that message} that the
    caller counts and skips (`broken="mark"`). `columns`: for Parquet, read only those the file
    has (a record lacks the others)."""
    return (record for _, record in read_numbered(path, fmt, broken, columns))


def read_numbered(path: str, fmt: str | None = None, broken: str = "raise",
                  columns: list[str] | None = None) -> Iterator[tuple[int, Any]]:
    """(number, record) for every record of `read_records`: the line it is on for JSON Lines and
    text (blank lines count), else its position from 1 (a stable name for a record without id)."""
    fmt = fmt or format_of(path) or "json"
    try:
        if fmt == "parquet":
            yield from enumerate(parquet_rows(path, columns), 1)
            return
        with open_text(path) as f:
            if fmt in ("csv", "tsv"):
                csv.field_size_limit(1 << 30)
                yield from enumerate(csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ","), 1)
            elif fmt == "text":
                yield from ((n, line.rstrip("\r\n")) for n, line in enumerate(f, 1) if line.strip())
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


def parquet_rows(path: str, columns: list[str] | None = None, row_groups: list[int] | None = None,
                 batch_size: int = 4096) -> Iterator[dict]:
    """The rows of a Parquet file (local or on an object store) as dicts, in file order, read in
    batches: only `columns` the file has, only `row_groups`. pyarrow's own errors pass through."""
    parquet = fs.parquet_file(path)
    if columns is not None:
        columns = [c for c in columns if c in parquet.schema_arrow.names]
    for batch in parquet.iter_batches(batch_size=batch_size, row_groups=row_groups, columns=columns):
        yield from batch.to_pylist()


class BrokenLine(ValueError):
    """A line that is not a JSON record: `reason` is the removed ledger's word for it."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def json_line(line: bytes | str) -> Any:
    """The record on one JSON Lines line; BrokenLine ("invalid_utf8" or "invalid_json", with a
    message naming the column) when it is not one."""
    try:
        return json.loads(line)
    except UnicodeDecodeError as exc:
        raise BrokenLine("invalid_utf8", f"not valid UTF-8 ({exc.reason}, byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise BrokenLine("invalid_json", f"not valid JSON ({exc.msg}, column {exc.colno})") from None


def _json_lines(path: str, lines, broken: str) -> Iterator[tuple[int, Any]]:
    parsed, first_error = 0, None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json_line(line)
        except BrokenLine as exc:
            message = f"{path}, line {number}: {exc}"
            if broken == "raise":
                raise UserError(message) from None
            first_error = first_error or message
            yield number, {BROKEN: message}
            continue
        parsed += 1
        yield number, record
    if first_error and not parsed:
        raise UserError(f"{path}: not JSON or JSON Lines (first error: {first_error})")


def _json_records(path: str, text: str, broken: str) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        yield from _json_lines(path, text.splitlines(), broken)  # JSON Lines saved as .json
        return
    yield from enumerate(_unwrap(data), 1)


def _unwrap(data: Any) -> list:
    """The records of a whole JSON document."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        values = list(data.values())
        if values and all(isinstance(v, dict) for v in values):
            return values                          # {"id1": {...}, "id2": {...}}
        lists = [v for v in values if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            return lists[0]                        # {"version": 1, "data": [{...}, ...]}
    return [data]
