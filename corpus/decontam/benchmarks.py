"""Read benchmark files of any common shape into records, and records into their strings.

Users bring benchmarks as they have them: JSONL, JSON (an array, an object of records or one
record), CSV/TSV, Parquet or plain text (one item per line), each optionally gzip- or
zstd-compressed. There is no per-benchmark code: a record is one item, and every string in
it (nested objects and lists of strings included, e.g. ARC's `question.choices[].text` or
HellaSwag's `endings`) is text to look for, unless `fields` narrows the choice.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import UserError
from ..readers import record_files


def format_of(path: str) -> str:
    fmt = record_files.format_of(path)
    if fmt is None:
        raise UserError(f"benchmark {path}: unknown format (expected one of "
                        f"{', '.join(sorted(record_files.FORMATS))}, optionally .gz or .zst)")
    return fmt


def read_records(path: str) -> Iterator[Any]:
    """Every record of a benchmark file, in file order; a user error if it cannot be read."""
    fmt = format_of(path)
    if not os.path.isfile(path):
        raise UserError(f"benchmark file not found: {path}")
    yield from record_files.read_records(path, fmt)


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
