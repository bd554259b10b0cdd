"""Exact dedup: documents whose normalised text is identical (NFKC, casefold, whitespace
collapsed) keep only their first copy in input order.

Phases in the step's scratch folder, each resumable:
  keys/TTTTT.npy   per task (parallel): xxh3_128 of each kept document's normalised text
  dups/PPPP.npy    per hash partition (parallel): (duplicate, first copy) global numbers
then the drops (`duplicate_of:<id of the first copy>`) and OUT/dedup/clusters.parquet
(clusters.py). Memory: a partition sort holds ~55 bytes per key of its partition (at most
KEYS_PER_PARTITION; the parent runs it when there is one partition, so this also bounds the
parent); the clusters step holds the duplicate pairs in the parent, 16 bytes each
(docs/dedup.md).
"""
from __future__ import annotations

import numpy as np

from .. import fs
from ..corpus_steps import CorpusStep
from . import against, clusters
from .hashing import text_key
from .scratch_files import (array_files, batches, load_array, partition_of, partitions_for,
                     save_array, task_offsets)

KEYS_PER_PARTITION = 4_000_000  # 16-byte keys, ~55 bytes each while sorted: ~210 MiB a partition


class ExactDedup(CorpusStep):
    """Remove documents whose normalised text equals an earlier document's.

    128-bit xxh3 keys make an accidental collision (two different texts, one key) about as
    likely as 2^-64 for a billion documents; the first copy in input order survives, as in
    datatrove's and text-dedup's exact dedup.
    """

    name = "exact_dedup"

    def run_corpus(self, corpus) -> None:
        counts = corpus.map(_hash_task, [(*a, corpus.step_dir) for a in corpus.task_args()])
        offsets = task_offsets(counts)
        n_parts = partitions_for(int(offsets[-1]), KEYS_PER_PARTITION)
        earlier = against.exact_duplicates(corpus, offsets, _keys_path)
        corpus.map(_find_duplicates, [(corpus.step_dir, offsets, p, n_parts) for p in range(n_parts)])
        pairs = [load_array(f) for f in array_files(fs.join(corpus.step_dir, "dups"))]
        pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
        if earlier is not None:  # a copy of an earlier document: its whole group goes with it
            pairs = pairs[~earlier.holds(pairs[:, 0])]
        clusters.apply(corpus, self.name, pairs[:, 0], pairs[:, 1], offsets, earlier)


def task_keys(step_dir: str, task: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept row numbers, 16-byte keys) of the documents this step hashed in one task: what
    the output's index (index.py) keeps."""
    rows = clusters.doc_rows(step_dir, task)
    return rows.to_numpy(), load_array(_keys_path(step_dir, task))


def _keys_path(step_dir: str, task: int) -> str:
    return fs.join(step_dir, "keys", f"{task:05d}.npy")


def _hash_task(args) -> int:
    out, task, step_dirs, step_dir = args
    path = _keys_path(step_dir, task)
    if fs.exists(path):
        return len(load_array(path, mmap=True))
    rows, ids, keys = [], [], []
    for batch_rows, records in batches(out, task, step_dirs, ["id"]):
        rows += batch_rows
        ids += [r["id"] for r in records]
        keys += [text_key(r["text"]) for r in records]
    clusters.save_docs(step_dir, task, rows, ids)
    array = np.frombuffer(b"".join(keys), dtype=">u8").astype(np.uint64).reshape(-1, 2)
    save_array(path, array)
    return len(array)


def _find_duplicates(args) -> None:
    step_dir, offsets, part, n_parts = args
    path = fs.join(step_dir, "dups", f"{part:04d}.npy")
    if fs.exists(path):
        return
    keys, docs = [], []
    for task in range(len(offsets) - 1):
        task_keys = load_array(_keys_path(step_dir, task), mmap=True)
        mine = np.flatnonzero(partition_of(task_keys[:, 0], n_parts) == part)
        keys.append(task_keys[mine])
        docs.append(mine + offsets[task])
    del task_keys
    keys = np.concatenate(keys) if keys else np.zeros((0, 2), np.uint64)
    docs = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    # documents are in ascending order already, and lexsort is stable: equal keys keep it
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    keys, doc = keys[order], docs[order].astype(np.int64)
    del order, docs
    new_group = np.ones(len(doc), dtype=bool)
    new_group[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    del keys
    first = doc[np.maximum.accumulate(np.where(new_group, np.arange(len(doc)), 0))]
    dup = ~new_group
    save_array(path, np.stack([doc[dup], first[dup]], axis=1).astype(np.int64))
