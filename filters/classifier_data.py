"""Labelled data for the fastText classifiers: read CSV/JSONL/Parquet rows into examples,
split off a stable holdout, guess the language."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from corpus.errors import UserError
from corpus.readers import record_files

# Han (incl. extension A/B+ and compatibility ideographs) and kana: scripts written without spaces.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\U00020000-\U0002fa1f"


@dataclass(frozen=True)
class Example:
    text: str
    positive: bool


def load_examples(path: str, text_field: str, label_field: str, positive: list[str]) -> list[Example]:
    """Labelled rows from CSV (a BOM is fine), JSONL or Parquet; a row is positive iff its label,
    as a string, is one of `positive`. Rows with an empty text or label are skipped."""
    records = _read_records(path)
    if not records:
        raise UserError(f"{path}: no rows")
    if not all(isinstance(r, dict) for r in records):
        raise UserError(f"{path}: every row must be an object with fields")
    for name in (text_field, label_field):
        if name not in records[0]:
            raise UserError(f"{path}: no field {name!r} (fields: {', '.join(map(str, records[0]))})")
    wanted = {str(p) for p in positive}
    examples = [Example(str(r[text_field]), _label_text(r[label_field]) in wanted)
                for r in records
                if r.get(text_field) not in (None, "") and r.get(label_field) not in (None, "")]
    if not any(e.positive for e in examples):
        seen = sorted({_label_text(r.get(label_field)) for r in records})[:10]
        raise UserError(f"{path}: no row has {label_field!r} in {sorted(wanted)} "
                        f"(values seen: {', '.join(seen)})")
    return examples


def _label_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Parquet/pandas often store integer labels as floats
    return str(value)


def _read_records(path: str) -> list[dict]:
    if not os.path.isfile(path):
        raise UserError(f"file not found: {path}")
    fmt = record_files.format_of(path)
    if fmt not in ("csv", "tsv", "jsonl", "json", "parquet"):
        raise UserError(f"{path}: unknown format (use .csv, .tsv, .jsonl, .json or .parquet)")
    return list(record_files.read_records(path, fmt))


def is_holdout(text: str, percent: int = 10) -> bool:
    """A stable split: the same text lands on the same side on every machine and run."""
    digest = hashlib.sha1(("holdout:" + text).encode("utf-8")).hexdigest()
    return int(digest, 16) % 100 < percent


def guess_language(examples: list[Example]) -> str:
    """'zh' when over 30% of the letters in (the first 2000 rows of) the data are CJK, else 'en'."""
    sample = "".join(e.text for e in examples[:2000])
    cjk = len(re.findall(f"[{CJK}]", sample))
    letters = sum(ch.isalpha() for ch in sample)
    return "zh" if letters and cjk / letters > 0.3 else "en"
