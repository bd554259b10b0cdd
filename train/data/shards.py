"""Read documents back from cleaned shards (or plain .jsonl/.txt files) for the trainer.

The trainer needs only a few columns: `id` (for a stable validation split), `text`, `source`,
and the sampling weight the `tier` step left in `metadata["tier_weight"]`. Reading is
columnar and batched, so a corpus never sits in memory whole.
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

TEXT_SUFFIXES = (".parquet", ".jsonl", ".txt")


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
    """Batches of documents from one file, in file order."""
    if path.endswith(".parquet"):
        yield from _parquet_docs(path, batch_rows)
        return
    stem = os.path.splitext(os.path.basename(path))[0]
    batch: list[Doc] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if path.endswith(".jsonl"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a broken line is not a document; the cleaner counts these, not us
                text = record.get("text") if isinstance(record, dict) else None
                if not isinstance(text, str):
                    continue
                doc_id = str(record.get("id", f"{stem}:{number}"))
            else:
                text, doc_id = line.rstrip("\n"), f"{stem}:{number}"
            batch.append(Doc(doc_id, text, stem))
            if len(batch) >= batch_rows:
                yield batch
                batch = []
    if batch:
        yield batch


def _parquet_docs(path: str, batch_rows: int) -> Iterator[list[Doc]]:
    import pyarrow.parquet as pq
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read {path} as Parquet: {exc}") from None
    columns = [c for c in ("id", "text", "source", "metadata") if c in file.schema_arrow.names]
    if "text" not in columns:
        raise UserError(f"{path} has no `text` column")
    stem = os.path.splitext(os.path.basename(path))[0]
    row = 0
    for table in file.iter_batches(batch_size=batch_rows, columns=columns):
        data = table.to_pydict()
        docs = []
        for i, text in enumerate(data["text"]):
            meta = _metadata(data["metadata"][i]) if "metadata" in data else {}
            weight = meta.get("tier_weight", 1.0)
            docs.append(Doc(
                id=data["id"][i] if "id" in data else f"{stem}:{row + i}",
                text=text or "",
                source=(data["source"][i] if "source" in data else None) or stem,
                tier=meta.get("tier"),
                tier_weight=float(weight) if isinstance(weight, (int, float)) else 1.0))
        row += len(docs)
        yield docs


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
    parts, total, n_bytes = [], 0, 0
    for path in files:
        for batch in read_docs(path):
            texts = [d.text for d in batch if d.text.strip()]
            for text, ids in zip(texts, tokenizer.encode_batch(texts)):
                parts.append(np.asarray(ids + [tokenizer.eos_id], np.int64))
                total += len(ids) + 1
                n_bytes += len(text.encode("utf-8"))
                if total >= max_tokens:
                    return np.concatenate(parts), n_bytes
    return (np.concatenate(parts) if parts else np.empty(0, np.int64)), n_bytes
