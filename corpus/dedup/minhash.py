"""MinHash near-dedup across the whole corpus.

Phases in the step's scratch folder, each resumable (a file that exists is complete):
  sig/TTTTT.npy          per task (parallel): uint32 signatures of each document's shingles
  bands/TTTTT-PPPP.npy   per task (parallel): (bucket key, document) per band, by partition
  pairs/PPPP.npy         per partition (parallel): candidate pairs sharing a bucket whose
                         estimated Jaccard similarity reaches the threshold
then, in one process, groups (graph.stars: no chaining), the drops
(`duplicate_of:<survivor id>`) and OUT/dedup/clusters.parquet (clusters.py). Memory is
bounded by one partition of bucket entries plus the verified pairs (16 bytes each, in the
parent).
"""
from __future__ import annotations

import numpy as np

from .. import fs
from ..corpus_steps import CorpusStep
from ..errors import UserError
from ..heap import release_heap
from ..steps import require
from . import against, clusters
from .graph import stars
from .hashing import seed_key, shingle_hashes, token_hashes
from .lsh import band_keys, bands_for
from .signatures import has_signature, signatures, similarity
from .scratch_files import (array_files, batches, load_array, load_rows, partition_of,
                            partitions_for, save_array, save_json, task_offsets)
from .text import token_stream

ENTRIES_PER_PARTITION = 4_000_000   # 16-byte bucket entries: ~64 MB (x4 while sorting)
ALL_PAIRS_UP_TO = 16                # buckets this small give every pair; larger: pairs with the first
VERIFY_CHUNK = 50_000               # pairs compared at once: 2 x 50k signatures, ~50 MB


class MinHashDedup(CorpusStep):
    """Remove near-duplicates: documents whose token n-gram sets overlap (Jaccard) at least
    `threshold` with a surviving document.

    Defaults, measured on our labelled set (docs/dedup.md): 3-token shingles (a token is a
    word, or one character of Chinese/Japanese/Thai) keep 3 % word edits at Jaccard >= 0.70
    while unrelated templated pages stay <= 0.5; threshold 0.6 sits between. 128 bins is
    datasketch's default; bands x rows come from the threshold (lsh.bands_for). Signatures
    are one-permutation MinHash (signatures.py).
    """

    name = "minhash_dedup"

    def __init__(self, *, ngram: int = 3, num_perm: int = 128, threshold: float = 0.6,
                 bands: int | None = None, rows: int | None = None, seed: int = 0):
        require(isinstance(ngram, int) and 1 <= ngram <= 32, "ngram must be an integer in 1..32")
        require(isinstance(num_perm, int) and 8 <= num_perm <= 1024, "num_perm must be an integer in 8..1024")
        require(isinstance(threshold, (int, float)) and 0 < threshold <= 1, "threshold must be in (0, 1]")
        require((bands is None) == (rows is None), "give both bands and rows, or neither")
        require(bands is None or (isinstance(bands, int) and isinstance(rows, int) and bands >= 1
                                  and rows >= 1 and bands * rows <= num_perm),
                "bands and rows must be positive integers with bands * rows <= num_perm")
        require(isinstance(seed, int), "seed must be an integer")
        self.ngram, self.num_perm, self.threshold, self.seed = ngram, num_perm, float(threshold), seed
        self.bands, self.rows = (bands, rows) if bands else bands_for(self.threshold, num_perm)

    def run_corpus(self, corpus) -> None:
        step_dir = corpus.step_dir
        counts = corpus.map(_signature_task, [(*a, step_dir, self.params()) for a in corpus.task_args()])
        offsets = task_offsets(counts)
        if offsets[-1] >= 1 << 32:
            raise UserError("minhash_dedup: more than 2^32 documents in one run; dedup in parts")
        n_parts = partitions_for(int(offsets[-1]) * self.bands, ENTRIES_PER_PARTITION)
        corpus.map(_band_task, [(step_dir, t, int(offsets[t]), self.params(), n_parts)
                                for t in range(corpus.n_tasks)])
        corpus.map(_candidate_task, [(step_dir, offsets, p, self.params()) for p in range(n_parts)])
        earlier = against.near_duplicates(corpus, offsets, n_parts, self.params(), _band_path, _Signatures)
        # packed as they are read: 8 bytes a pair file's row, not 16 twice (found, concatenated)
        found = [_packed(load_array(f)) for f in array_files(fs.join(step_dir, "pairs"))]
        pairs = _unpacked(np.unique(np.concatenate(found))) if found else np.zeros((0, 2), np.int64)
        del found
        if earlier is not None:  # found in an earlier output: no part in this batch's groups
            pairs = pairs[~(earlier.holds(pairs[:, 0]) | earlier.holds(pairs[:, 1]))]
        duplicates, survivors = stars(pairs[:, 0], pairs[:, 1])
        del pairs
        release_heap(collect=False)  # stars' scratch (≈ 120 MiB per million pairs: arrays, no cycles)
        clusters.apply(corpus, self.name, duplicates, survivors, offsets, earlier)

    def params(self) -> dict:
        return {"ngram": self.ngram, "num_perm": self.num_perm, "threshold": self.threshold,
                "bands": self.bands, "rows": self.rows, "seed": self.seed}


def document_signatures(texts: list[str], ngram: int, num_perm: int, seed: int) -> np.ndarray:
    """(len(texts), num_perm) uint32 signatures; see signatures.has_signature for empty texts."""
    flat, starts = token_hashes([token_stream(t) for t in texts])
    shingles, shingle_starts = shingle_hashes(flat, starts, ngram, seed_key(seed))
    return signatures(shingles, shingle_starts, num_perm, seed)


def _sig_path(step_dir: str, task: int) -> str:
    return fs.join(step_dir, "sig", f"{task:05d}.npy")


def _band_path(step_dir: str, task: int, part: int) -> str:
    return fs.join(step_dir, "bands", f"{task:05d}-{part:04d}.npy")


def task_signatures(step_dir: str, task: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept row numbers, signatures) of the documents this step signed in one task (those
    with at least one token): what the output's index (index.py) keeps."""
    rows = clusters.doc_rows(step_dir, task)
    return rows.to_numpy(), load_array(_sig_path(step_dir, task))


def _signature_task(args) -> int:
    out, task, step_dirs, step_dir, p = args
    path = _sig_path(step_dir, task)
    if fs.exists(path):
        return len(load_array(path, mmap=True))
    rows, ids, parts = [], [], []
    for batch_rows, records in batches(out, task, step_dirs, ["id"]):
        sig = document_signatures([r["text"] for r in records], p["ngram"], p["num_perm"], p["seed"])
        keep = has_signature(sig)  # a text without a single token has nothing to compare
        rows += [r for r, k in zip(batch_rows, keep) if k]
        ids += [r["id"] for r, k in zip(records, keep) if k]
        parts.append(sig[keep])
    clusters.save_docs(step_dir, task, rows, ids)
    save_array(path, np.concatenate(parts) if parts else np.zeros((0, p["num_perm"]), np.uint32))
    return len(rows)


def _band_task(args) -> None:
    step_dir, task, offset, p, n_parts = args
    done = fs.join(step_dir, "bands", f"{task:05d}.done")
    if fs.exists(done):
        return
    sig = load_array(_sig_path(step_dir, task))
    keys = band_keys(sig, p["bands"], p["rows"], p["seed"]).ravel()
    docs = np.repeat(np.arange(len(sig), dtype=np.uint64) + np.uint64(offset), p["bands"])
    part = partition_of(keys, n_parts)
    for q in range(n_parts):
        mine = part == q
        save_array(_band_path(step_dir, task, q), np.stack([keys[mine], docs[mine]], axis=1))
    save_json(done, {"partitions": n_parts})


def _candidate_task(args) -> None:
    step_dir, offsets, part, p = args
    path = fs.join(step_dir, "pairs", f"{part:04d}.npy")
    if fs.exists(path):
        return
    entries = [load_array(_band_path(step_dir, t, part)) for t in range(len(offsets) - 1)]
    entries = np.concatenate(entries) if entries else np.zeros((0, 2), np.uint64)
    a, b = _bucket_pairs(entries[:, 0], entries[:, 1].astype(np.int64))
    store = _Signatures(step_dir, offsets)
    keep = np.zeros(len(a), dtype=bool)
    for i in range(0, len(a), VERIFY_CHUNK):
        j = min(i + VERIFY_CHUNK, len(a))
        keep[i:j] = similarity(store.take(a[i:j]), store.take(b[i:j])) >= p["threshold"]
    save_array(path, np.stack([a[keep], b[keep]], axis=1))


def _bucket_pairs(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (a < b) document pairs that share a bucket key."""
    order = np.lexsort((docs, keys))
    keys, docs = keys[order], docs[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    starts = np.nonzero(new)[0]
    sizes = np.diff(np.append(starts, len(keys)))
    pa_, pb_ = [], []
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= ALL_PAIRS_UP_TO)]).tolist():
        first = starts[sizes == size]
        i, j = np.triu_indices(size, k=1)
        pa_.append(docs[first[:, None] + i].ravel())
        pb_.append(docs[first[:, None] + j].ravel())
    big = np.nonzero(sizes > ALL_PAIRS_UP_TO)[0]
    for s, n in zip(starts[big].tolist(), sizes[big].tolist()):
        pa_.append(np.full(n - 1, docs[s]))
        pb_.append(docs[s + 1:s + n])
    if not pa_:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = _unique_pairs(np.stack([np.concatenate(pa_), np.concatenate(pb_)], axis=1))
    return pairs[:, 0], pairs[:, 1]


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Sorted distinct rows of an (n, 2) array of document numbers below 2^32."""
    return _unpacked(np.unique(_packed(pairs)))


def _packed(pairs: np.ndarray) -> np.ndarray:
    """(n, 2) document numbers below 2^32 -> n uint64, ordered as the rows."""
    return (pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1].astype(np.uint64)


def _unpacked(packed: np.ndarray) -> np.ndarray:
    pairs = np.empty((len(packed), 2), np.int64)
    pairs[:, 0], pairs[:, 1] = packed >> np.uint64(32), packed & np.uint64(0xFFFFFFFF)
    return pairs


class _Signatures:
    """Signature rows by global document number, read from the per-task files as asked for
    (scratch_files.load_rows): a worker holds one chunk's rows, 4 x num_perm bytes each,
    however many documents the run has. Memory-mapped, every signature file ended up in each
    candidate worker's RSS (1.5 GB at 3 M documents)."""

    def __init__(self, step_dir: str, offsets: np.ndarray):
        self.step_dir, self.offsets = step_dir, offsets

    def take(self, docs: np.ndarray) -> np.ndarray:
        if len(self.offsets) < 2:
            return np.zeros((0, 0), np.uint32)
        unique, inverse = np.unique(docs, return_inverse=True)
        tasks = np.searchsorted(self.offsets, unique, side="right") - 1
        starts = np.searchsorted(tasks, np.arange(len(self.offsets)))  # each task's run in `unique`
        rows = [load_rows(_sig_path(self.step_dir, t), unique[starts[t]:starts[t + 1]] - self.offsets[t])
                for t in (np.unique(tasks).tolist() or [0])]
        return np.concatenate(rows)[inverse.ravel()]
