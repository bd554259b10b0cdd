"""Resumable sub-stages inside a corpus step's scratch folder.

A corpus step is marked done only when it returns, so a long dedup splits its work into
sub-stages whose outputs are files written atomically (temp name, then rename). A file that
exists is complete; a re-run after a crash redoes only what is missing, and because every
sub-stage is a pure function of its inputs, it rewrites the same bytes.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..corpus_steps import iter_kept

BATCH_DOCS = 512  # documents per vectorised batch: big enough for numpy, small for memory


def atomic_path(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return f"{path}.tmp-{os.getpid()}"


def save_array(path: str, array: np.ndarray) -> None:
    tmp = atomic_path(path)
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def load_array(path: str, mmap: bool = False) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def save_table(path: str, table: pa.Table) -> None:
    tmp = atomic_path(path)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def save_json(path: str, data) -> None:
    tmp = atomic_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


def load_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def batches(out: str, task: int, stages: list[str], columns: list[str], size: int = BATCH_DOCS
            ) -> Iterator[tuple[list[int], list[dict]]]:
    """A task's kept rows as (row numbers, records) in batches of `size`."""
    rows, records = [], []
    for row, record in iter_kept(out, task, stages, columns):
        rows.append(row)
        records.append(record)
        if len(rows) == size:
            yield rows, records
            rows, records = [], []
    if rows:
        yield rows, records


def partitions_for(entries: int, per_partition: int) -> int:
    """A power of two number of partitions so one holds at most ~`per_partition` entries."""
    n = 1
    while entries > n * per_partition:
        n *= 2
    return n


def partition_of(keys: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition by the top bits of a well-mixed 64-bit key."""
    if n_partitions == 1:
        return np.zeros(len(keys), dtype=np.int64)
    bits = n_partitions.bit_length() - 1
    return (keys >> np.uint64(64 - bits)).astype(np.int64)


def task_offsets(counts: list[int]) -> np.ndarray:
    """Global document numbers: task t's documents are offsets[t] .. offsets[t+1]-1."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets

