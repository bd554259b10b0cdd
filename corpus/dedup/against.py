"""Dedup against earlier outputs (`xiulian clean NEW -o OUT2 --against OUT1 --against OUT0`).

A new batch loses its exact and near duplicates of documents the earlier outputs kept, and its
repeated-line counts include theirs, all through the earlier outputs' indexes (index.py): their
text is never read again. The dedup steps call in here with their own per-task files; matches
come back as `EarlierDuplicates`, which `clusters.apply` writes as drops with the reason
`duplicate_in:<earlier output>#<document id>`.

A new document that matches an earlier one takes no part in the batch's own groups: the earlier
document already stands for it, and it cannot become a survivor that others are dropped for
(the same no-chaining rule as graph.stars). When it matches several earlier documents, the
most similar one wins (ties: the first --against output, then the lowest document number), so
the result does not depend on the worker count.
"""
from __future__ import annotations

import json

import numpy as np

from .. import fs
from ..output_layout import AGAINST_REPORT, DEDUP_DIR
from .index import Index
from .shared_index import SharedIndex, is_shared
from .scratch_files import array_files, load_array, save_array

REASON = "duplicate_in"
VERIFY_CHUNK = 50_000


class EarlierDuplicates:
    """New documents (global numbers) matched in earlier outputs, with the reason for each."""

    def __init__(self, docs: np.ndarray, which: np.ndarray, reasons: list[str], labels: list[str]):
        order = np.argsort(docs, kind="stable")
        self.docs, self.which = docs[order], which[order]
        self.reasons = [reasons[i] for i in order]
        self.labels = labels

    @classmethod
    def from_indexes(cls, docs: np.ndarray, which: np.ndarray, earlier_docs: np.ndarray,
                     labels: list[str]) -> "EarlierDuplicates":
        """Matches given as (index number, document number): the ids come from the indexes."""
        reasons = [""] * len(docs)
        for w, label in enumerate(labels):
            where = np.nonzero(which == w)[0]
            if len(where):
                for i, doc_id in zip(where, Index(label).ids(earlier_docs[where])):
                    reasons[i] = f"{REASON}:{label}#{doc_id}"
        return cls(docs, which, reasons, labels)

    def holds(self, docs: np.ndarray) -> np.ndarray:
        return np.isin(docs, self.docs)

    def in_task(self, task: int, offsets: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(document numbers within the task, reasons) of one task's matches."""
        lo, hi = np.searchsorted(self.docs, [offsets[task], offsets[task + 1]])
        return self.docs[lo:hi] - offsets[task], self.reasons[lo:hi]

    def counts(self) -> dict[str, int]:
        return {label: int((self.which == w).sum()) for w, label in enumerate(self.labels)}


def _gather(folder: str, columns: int) -> np.ndarray:
    found = [load_array(f) for f in array_files(folder)]
    return np.concatenate(found) if found else np.zeros((0, columns), np.int64)


# Exact duplicates ----------------------------------------------------------------------------

def exact_duplicates(corpus, offsets: np.ndarray, keys_path) -> EarlierDuplicates | None:
    """New documents whose exact-dedup key an earlier output kept. `keys_path(step_dir, task)`
    names the step's (documents, 2) uint64 key file of a task."""
    if not corpus.earlier:
        return None
    corpus.map(_exact_task, [(corpus.step_dir, t, corpus.earlier, keys_path)
                             for t in range(corpus.n_tasks)])
    found = _gather(fs.join(corpus.step_dir, "earlier"), 3)
    task_of = found[:, 0] >> 32
    docs = offsets[task_of] + (found[:, 0] & 0xFFFFFFFF)
    files = _files(corpus.earlier)
    matches = EarlierDuplicates.from_indexes(docs, found[:, 1], found[:, 2], files)
    write_summary(corpus.out, corpus.earlier, "exact_dedup", matches.counts())
    return matches


def _exact_task(args) -> None:
    step_dir, task, earlier, keys_path = args
    path = fs.join(step_dir, "earlier", f"{task:05d}.npy")
    if fs.exists(path):
        return
    earlier = _files(earlier)
    keys = load_array(keys_path(step_dir, task))
    which = np.full(len(keys), -1, np.int64)
    earlier_doc = np.zeros(len(keys), np.int64)
    for w, label in enumerate(earlier):
        at, doc = Index(label).exact_matches(keys)
        new = which[at] == -1
        which[at[new]], earlier_doc[at[new]] = w, doc[new]
    local = np.nonzero(which >= 0)[0]
    save_array(path, np.stack([(task << 32) + local, which[local], earlier_doc[local]], axis=1))


# Near duplicates -----------------------------------------------------------------------------

def near_duplicates(corpus, offsets: np.ndarray, n_parts: int, params: dict, band_path,
                    signature_store) -> EarlierDuplicates | None:
    """New documents whose signature agrees with an earlier kept document's in at least
    `threshold` of the bins, found through shared LSH buckets. `band_path(step_dir, task,
    part)` names a task's (bucket key, document) entries of one partition; `signature_store(
    step_dir, offsets).take(docs)` gives new signatures by global document number."""
    if not corpus.earlier:
        return None
    files, shared = _files(corpus.earlier), [e for e in corpus.earlier if is_shared(e)]
    corpus.map(_near_task, [(corpus.step_dir, offsets, q, files, params, band_path,
                             signature_store) for q in range(n_parts)] if files else [])
    found = _gather(fs.join(corpus.step_dir, "earlier"), 4)
    # best match per new document: most agreeing bins, then first output, then lowest number
    order = np.lexsort((found[:, 2], found[:, 1], -found[:, 3], found[:, 0]))
    found = found[order]
    first = np.ones(len(found), bool)
    first[1:] = found[1:, 0] != found[:-1, 0]
    found = found[first]
    matches = EarlierDuplicates.from_indexes(found[:, 0], found[:, 1], found[:, 2], files)
    if shared:  # documents the file indexes did not match, looked up in the shared index
        results = corpus.map(_shared_task, [(corpus.step_dir, offsets, t, shared[0], params,
                                             signature_store) for t in range(corpus.n_tasks)])
        matched = set(matches.docs.tolist())
        hits = [(doc, reason) for task in results for doc, reason in task if doc not in matched]
        matches = EarlierDuplicates(
            np.concatenate([matches.docs, np.array([d for d, _ in hits], np.int64)]),
            np.concatenate([matches.which, np.full(len(hits), len(files), np.int64)]),
            matches.reasons + [r for _, r in hits], files + shared)
    write_summary(corpus.out, corpus.earlier, "minhash_dedup", matches.counts())
    return matches


def _near_task(args) -> None:
    step_dir, offsets, part, earlier, p, band_path, signature_store = args
    path = fs.join(step_dir, "earlier", f"{part:04d}.npy")
    if fs.exists(path):
        return
    entries = [load_array(band_path(step_dir, t, part)) for t in range(len(offsets) - 1)]
    entries = np.concatenate(entries) if entries else np.zeros((0, 2), np.uint64)
    store = signature_store(step_dir, offsets)
    found = []
    for w, label in enumerate(earlier):
        index = Index(label)
        at, earlier_doc = index.bucket_members(entries[:, 0])
        packed = np.unique((entries[at, 1] << np.uint64(32)) | earlier_doc.astype(np.uint64))
        new, old = (packed >> np.uint64(32)).astype(np.int64), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
        for i in range(0, len(new), VERIFY_CHUNK):
            agree = index.agreement(store.take(new[i:i + VERIFY_CHUNK]), old[i:i + VERIFY_CHUNK])
            keep = agree / p["num_perm"] >= p["threshold"]  # as signatures.similarity
            found.append(np.stack([new[i:i + VERIFY_CHUNK][keep], np.full(int(keep.sum()), w),
                                   old[i:i + VERIFY_CHUNK][keep], agree[keep]], axis=1))
    save_array(path, np.concatenate(found).astype(np.int64) if found else np.zeros((0, 4), np.int64))


def _shared_task(args) -> list[tuple[int, str]]:
    """One task's documents looked up in the shared index (shared_index.py)."""
    step_dir, offsets, task, url, p, signature_store = args
    path = fs.join(step_dir, "earlier", f"shared-{task:05d}.json")
    if not fs.exists(path):
        docs = np.arange(offsets[task], offsets[task + 1])
        index = SharedIndex(url, p, p["threshold"])
        found = index.near_duplicates(signature_store(step_dir, offsets).take(docs), p["threshold"])
        fs.make_dirs(fs.parent(path))
        fs.write_bytes(path, json.dumps([[int(docs[row]), f"{REASON}:{key}"]
                                         for row, key, _ in found]).encode())
    return [tuple(x) for x in json.loads(fs.read_bytes(path))]


def _files(earlier: list[str]) -> list[str]:
    """The earlier outputs with a file index (the shared index is not one)."""
    return [e for e in earlier if not is_shared(e)]


# Repeated lines ------------------------------------------------------------------------------

def line_counts(earlier: list[str], hashes: np.ndarray) -> np.ndarray:
    """Documents holding each line hash, summed over the earlier outputs."""
    total = np.zeros(len(hashes), np.uint64)
    for label in _files(earlier):
        total += Index(label).line_counts(hashes)
    return total


def grams(earlier: list[str]) -> list[np.ndarray]:
    """The 5-gram hashes of the earlier outputs' repeated lines (for the fuzzy cut)."""
    return [Index(label).grams() for label in _files(earlier)]


# The report ----------------------------------------------------------------------------------

def write_summary(out: str, earlier: list[str], step: str, found) -> None:
    """OUT/dedup/against.json: per step, what this batch lost to each earlier output. Each step
    replaces its own entry (resume-safe)."""
    path = fs.join(out, DEDUP_DIR, AGAINST_REPORT)
    report = json.loads(fs.read_bytes(path)) if fs.exists(path) else {}
    report["earlier"] = earlier
    report.setdefault("steps", {})[step] = found
    fs.make_dirs(fs.parent(path))
    fs.write_bytes(path, json.dumps(report, indent=1, sort_keys=True).encode())
