"""Read benchmark files of any common shape into records, and records into their strings.

Users bring benchmarks as they have them: JSONL, JSON (an array, an object of records or one
record), CSV/TSV, Parquet or plain text (one item per line), each optionally gzip- or
zstd-compressed. There is no per-benchmark code: a record is one item, and every string in
it (nested objects and lists of strings included, e.g. ARC's `question.choices[].text` or
HellaSwag's `endings`) is text to look for, unless `fields` narrows the choice.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import UserError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
           ".tsv": "tsv", ".parquet": "parquet", ".txt": "text", ".text": "text"}
COMPRESSIONS = (".gz", ".zst")


def format_of(path: str) -> str:
    name = os.path.basename(path).lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    fmt = FORMATS.get(os.path.splitext(name)[1])
    if fmt is None:
        raise UserError(f"benchmark {path}: unknown format (expected one of "
                        f"{', '.join(sorted(FORMATS))}, optionally .gz or .zst)")
    return fmt


def _open_text(path: str) -> io.TextIOBase:
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    if lower.endswith(".zst"):
        import zstandard
        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_records(path: str) -> Iterator[Any]:
    """Every record of a benchmark file, in file order; a user error if it cannot be read."""
    fmt = format_of(path)
    if not os.path.isfile(path):
        raise UserError(f"benchmark file not found: {path}")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
                yield from batch.to_pylist()
            return
        with _open_text(path) as f:
            if fmt == "jsonl":
                for line in f:
                    if line.strip():
                        yield json.loads(line)
            elif fmt == "json":
                yield from _json_records(f.read())
            elif fmt in ("csv", "tsv"):
                csv.field_size_limit(1 << 30)
                yield from csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ",")
            else:
                for line in f:
                    if line.strip():
                        yield line.rstrip("\r\n")
    except (OSError, EOFError, ValueError, csv.Error) as exc:
        raise UserError(f"benchmark {path}: cannot read it as {fmt}: {exc}") from None
    except Exception as exc:  # pyarrow and zstandard raise their own error types
        raise UserError(f"benchmark {path}: cannot read it: {exc}") from None


def _json_records(text: str) -> list:
    """An array of records, JSON Lines saved as .json, an object of records, or one record."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        values = list(data.values())
        if values and all(isinstance(v, dict) for v in values):
            return values                      # {"id1": {...}, "id2": {...}}
        lists = [v for v in values if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            return lists[0]                    # {"version": 1, "data": [{...}, ...]}
    return [data]


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a value, depth first: nested objects and lists are flattened."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)


def _at_path(value: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield value
    elif isinstance(value, dict):
        if parts[0] in value:
            yield from _at_path(value[parts[0]], parts[1:])
    elif isinstance(value, (list, tuple)):   # lists are walked through: choices.text
        for v in value:
            yield from _at_path(v, parts)


def record_strings(record: Any, fields: Iterable[str] | None = None) -> list[str]:
    """The strings of one record: all of them, or those under the named fields.

    A field is a top-level key or a dotted path through nested objects and lists
    (`question.stem`, `question.choices.text`). Plain-text records are their own string.
    """
    if isinstance(record, str) or fields is None:
        return list(strings_in(record))
    found = []
    for field in fields:
        for value in _at_path(record, field.split(".")):
            found.extend(strings_in(value))
    return found
