"""Read documents back from cleaned shards (or plain .jsonl/.txt files) for the trainer.

The trainer needs only a few columns: `id` (for a stable validation split), `text`, `source`,
and the sampling weight the `tier` step left in `metadata["tier_weight"]`. Files are read by
the project's one record reader (only those columns of a Parquet file, in batches), so a
corpus never sits in memory whole.
"""
from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import xxhash

from corpus.errors import UserError
from corpus.output_layout import SHARDS_DIR
from corpus.readers import record_files

TEXT_SUFFIXES = (".parquet", ".jsonl", ".txt")
SHARD_COLUMNS = ["id", "text", "source", "metadata"]  # what the trainer reads of a shard


@dataclass
class Doc:
    id: str
    text: str
    source: str
    tier: str | None = None
    tier_weight: float = 1.0


def find_files(paths: list[str]) -> list[str]:
    """Shard files named by the user: files, folders (a clean output's `shards/` found inside), globs."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            inner = os.path.join(path, SHARDS_DIR)
            root = inner if os.path.isdir(inner) else path
            files = [f for suffix in TEXT_SUFFIXES
                     for f in glob.glob(os.path.join(root, "**", "*" + suffix), recursive=True)]
        elif os.path.isfile(path):
            files = [path]
        else:
            files = glob.glob(path, recursive=True)
        files = sorted(f for f in files if f.endswith(TEXT_SUFFIXES))
        if not files:
            raise UserError(f"no .parquet, .jsonl or .txt files at {path}")
        found.extend(files)
    return found


def read_docs(path: str, batch_rows: int = 2048) -> Iterator[list[Doc]]:
    """Batches of documents from one file, in file order, read by the project's record reader
    (corpus/readers/record_files.py). A JSON Lines line that does not parse or has no text is
    not a document (the cleaner counts those, not us); a document without an id is named by
    its file and line (its row from 0 in Parquet), so the validation split stays put."""
    stem = os.path.splitext(os.path.basename(path))[0]
    fmt = record_files.format_of(path)
    to_doc = {"parquet": _shard_row, "jsonl": _json_record, "text": _text_line}[fmt]
    batch: list[Doc] = []
    for number, record in record_files.read_numbered(path, fmt, broken="mark", columns=SHARD_COLUMNS):
        doc = to_doc(record, f"{stem}:{number - 1 if fmt == 'parquet' else number}", stem, path)
        if doc is not None:
            batch.append(doc)
            if len(batch) >= batch_rows:
                yield batch
                batch = []
    if batch:
        yield batch


def _shard_row(row: dict, fallback_id: str, stem: str, path: str) -> Doc:
    """A row of cleaned shards: the tier and weight the `tier` step left in its metadata."""
    if "text" not in row:
        raise UserError(f"{path} has no `text` column")
    meta = _metadata(row.get("metadata"))
    weight = meta.get("tier_weight", 1.0)
    return Doc(id=row["id"] if "id" in row else fallback_id, text=row["text"] or "",
               source=row.get("source") or stem, tier=meta.get("tier"),
               tier_weight=float(weight) if isinstance(weight, (int, float)) else 1.0)


def _json_record(record, fallback_id: str, stem: str, path: str) -> Doc | None:
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str):
        return None
    return Doc(str(record.get("id", fallback_id)), text, stem)


def _text_line(line: str, fallback_id: str, stem: str, path: str) -> Doc:
    return Doc(fallback_id, line, stem)


def _metadata(value) -> dict:
    if not value:
        return {}
    try:
        meta = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def unit_hash(text: str, seed: int = 0) -> float:
    """A stable number in [0, 1) from a string: which documents are sampled or held out."""
    return xxhash.xxh64_intdigest(text.encode("utf-8"), seed=seed) / 2.0 ** 64


def iter_sample(files: list[str], max_bytes: int, seed: int = 0) -> Iterator[str]:
    """Texts of a stable sample of about `max_bytes` UTF-8 bytes spread over all files.

    A document is in the sample when the hash of its id falls below the wanted fraction, so
    the sample covers every shard and source instead of the first few files.
    """
    total = sum(_text_bytes(f) for f in files)
    fraction = 1.0 if total <= max_bytes else max_bytes / total
    for path in files:
        for batch in read_docs(path):
            for doc in batch:
                if fraction >= 1.0 or unit_hash(doc.id, seed) < fraction:
                    yield doc.text


def _text_bytes(path: str) -> int:
    """Uncompressed size of the text in a file, from Parquet metadata where possible."""
    if not path.endswith(".parquet"):
        return os.path.getsize(path)
    import pyarrow.parquet as pq
    meta = pq.ParquetFile(path).metadata
    names = meta.schema.names
    column = names.index("text") if "text" in names else None
    if column is None:
        return 0
    return sum(meta.row_group(g).column(column).total_uncompressed_size
               for g in range(meta.num_row_groups))


def read_token_stream(files: list[str], tokenizer, max_tokens: int) -> tuple["np.ndarray", int]:
    """Documents joined by end-of-text tokens, up to `max_tokens`, and their UTF-8 size: the
    stream a model is scored on (`xiulian eval --data`, a pretraining run's --heldout text)."""
    import numpy as np
    documents, sizes = read_documents(files, tokenizer, max_tokens)
    return (np.concatenate(documents) if documents else np.empty(0, np.int64)), int(sizes.sum())


def read_documents(files: list[str], tokenizer, max_tokens: int) -> tuple[list, "np.ndarray"]:
    """Each document's tokens with an end-of-text token after them, up to `max_tokens` in all,
    and each document's UTF-8 size (intervals over documents need them apart)."""
    import numpy as np
    documents, sizes, total = [], [], 0
    for path in files:
        for batch in read_docs(path):
            texts = [d.text for d in batch if d.text.strip()]
            for text, ids in zip(texts, tokenizer.encode_batch(texts)):
                documents.append(np.asarray(ids + [tokenizer.eos_id], np.int64))
                sizes.append(len(text.encode("utf-8")))
                total += len(ids) + 1
                if total >= max_tokens:
                    return documents, np.asarray(sizes, np.int64)
    return documents, np.asarray(sizes, np.int64)
