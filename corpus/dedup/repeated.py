"""Repeated paragraphs (CCNet style): lines that occur in more than `max_docs` documents across
the corpus (boilerplate, adverts, cookie notices) are cut from every document; a document
left with fewer than `min_chars` characters is removed as `mostly_repeated`.

Run it after exact and near-dedup: then a line's count is the number of *distinct*
documents holding it, and the copies of one popular article do not vote its paragraphs out
(before dedup, 50 mirrors of a story would make each of its lines "repeated").

A line is also cut when at least `fuzzy_containment` of its character 5-grams belong to
repeated lines: the same advert with typos or another phone number is still the advert.
(Character grams, not word grams: a typo costs a word n-gram set several whole words.)

Phases in the step's scratch folder, each resumable:
  lines/TTTTT.npy      per task: the distinct line hashes of each document
  freq/PPPP.npy        per hash partition: (hash, documents, of them in this batch) of lines
                       above max_docs (documents include earlier outputs', see against.py)
  grams/TTTTT.npy      per task: 5-gram hashes of repeated lines (the fuzzy index)
  texts/TTTTT.json     per task: the text of the most repeated lines (for the report)
  cut/TTTTT.done       per task: drops and edits written
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from .. import fs
from ..corpus_steps import CorpusStep, CorpusView
from ..output_layout import DEDUP_DIR, REPEATED_REPORT
from ..steps import require
from . import against
from .hashing import line_key, seed_key, shingle_hashes
from .scratch_files import (array_files, batches, load_array, load_json, partition_of,
                     partitions_for, save_array, save_json, save_table)
from .text import lines, normalize

LINES_PER_PARTITION = 32_000_000
GRAM = 5  # characters
REPORT_TOP = 1000
BLANK_RUNS = re.compile(r"\n{3,}")


class RepeatedParagraphs(CorpusStep):
    """Cut lines repeated across many documents; drop documents that were mostly such lines.

    Defaults: CCNet (Wenzek et al. 2020) removes every paragraph seen twice in a 5 GB shard;
    across a whole corpus that would cut common quotations, so a line must appear in more
    than 10 distinct documents. 200 characters left is the `length` step's own minimum.
    """

    name = "repeated_paragraphs"

    def __init__(self, *, max_docs: int = 10, min_chars: int = 200, min_line_chars: int = 1,
                 fuzzy: bool = True, fuzzy_containment: float = 0.7, fuzzy_min_chars: int = 40):
        require(isinstance(max_docs, int) and max_docs >= 1, "max_docs must be an integer >= 1")
        require(isinstance(min_chars, int) and min_chars >= 0, "min_chars must be an integer >= 0")
        require(isinstance(min_line_chars, int) and min_line_chars >= 1, "min_line_chars must be an integer >= 1")
        require(isinstance(fuzzy, bool), "fuzzy must be true or false")
        require(isinstance(fuzzy_containment, (int, float)) and 0 < fuzzy_containment <= 1,
                "fuzzy_containment must be in (0, 1]")
        require(isinstance(fuzzy_min_chars, int) and fuzzy_min_chars >= GRAM,
                f"fuzzy_min_chars must be an integer >= {GRAM}")
        self.max_docs, self.min_chars, self.min_line_chars = max_docs, min_chars, min_line_chars
        self.fuzzy, self.fuzzy_containment = fuzzy, float(fuzzy_containment)
        self.fuzzy_min_chars = fuzzy_min_chars

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("max_docs", "min_chars", "min_line_chars", "fuzzy",
                                             "fuzzy_containment", "fuzzy_min_chars")}

    def run_corpus(self, corpus) -> None:
        step_dir, p = corpus.step_dir, self.params()
        tasks = corpus.task_args()
        counts = corpus.map(_line_task, [(*a, step_dir, p) for a in tasks])
        n_parts = partitions_for(int(sum(counts)), LINES_PER_PARTITION)
        corpus.map(_count_task, [(step_dir, corpus.n_tasks, q, n_parts, p, corpus.earlier)
                                 for q in range(n_parts)])
        freq = [load_array(f) for f in array_files(fs.join(step_dir, "freq"))]
        freq = np.concatenate(freq) if freq else np.zeros((0, 3), np.uint64)
        if corpus.earlier:
            against.write_summary(corpus.out, corpus.earlier, self.name, {
                "lines_repeated_only_with_earlier": int((freq[:, 2] <= self.max_docs).sum())})
        freq = freq[:, :2]
        freq = freq[np.argsort(freq[:, 0], kind="stable")]
        save_array(fs.join(step_dir, "frequent.npy"), freq[:, 0])
        top = freq[np.lexsort((freq[:, 0], -freq[:, 1].astype(np.int64)))][:REPORT_TOP]
        corpus.map(_gram_task, [(*a, step_dir, p, top[:, 0]) for a in tasks])
        if not fs.exists(fs.join(step_dir, "grams.npy")):
            grams = [load_array(f) for f in array_files(fs.join(step_dir, "grams"))]
            grams += against.grams(corpus.earlier)
            save_array(fs.join(step_dir, "grams.npy"),
                       np.unique(np.concatenate(grams)) if grams else np.zeros(0, np.uint64))
        corpus.map(_cut_task, [(*a, corpus.n_tasks, step_dir, p) for a in tasks])
        _write_report(corpus.out, step_dir, top, corpus.n_tasks)


def _keys(text: str, min_line_chars: int) -> tuple[list[str], list[str], list[int | None]]:
    """A document's lines, their normalised forms and hashes (None: too short to count)."""
    parts = lines(text)
    norms = [normalize(x) for x in parts]
    return parts, norms, [line_key(n) if len(n) >= min_line_chars else None for n in norms]


def _line_task(args) -> int:
    out, task, step_dirs, step_dir, p = args
    path = fs.join(step_dir, "lines", f"{task:05d}.npy")
    if fs.exists(path):
        return len(load_array(path, mmap=True))
    found: list[int] = []
    for _, records in batches(out, task, step_dirs, []):
        for r in records:
            found += distinct_line_keys(r["text"], p["min_line_chars"])
    save_array(path, np.array(found, dtype=np.uint64))
    return len(found)


def distinct_line_keys(text: str, min_line_chars: int) -> set[int]:
    """The hashes of a document's lines, each counted once (what the document votes for)."""
    return {k for k in _keys(text, min_line_chars)[2] if k is not None}


def task_line_hashes(step_dir: str, task: int) -> np.ndarray:
    """Every document's distinct line hashes in one task, back to back (for the index)."""
    return load_array(fs.join(step_dir, "lines", f"{task:05d}.npy"))


def step_grams(step_dir: str) -> np.ndarray:
    """The 5-gram hashes of the repeated lines (for the index)."""
    return load_array(fs.join(step_dir, "grams.npy"))


def _count_task(args) -> None:
    """Documents per line hash in one partition, plus those earlier outputs counted; keeps
    (hash, documents, documents in this batch) of the lines above max_docs."""
    step_dir, n_tasks, part, n_parts, p, earlier = args
    path = fs.join(step_dir, "freq", f"{part:04d}.npy")
    if fs.exists(path):
        return
    keys = []
    for t in range(n_tasks):
        k = load_array(fs.join(step_dir, "lines", f"{t:05d}.npy"), mmap=True)
        keys.append(np.asarray(k[partition_of(k, n_parts) == part]))
    values, own = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.uint64), return_counts=True)
    counts = own.astype(np.uint64) + against.line_counts(earlier, values)
    over = counts > p["max_docs"]
    save_array(path, np.stack([values[over], counts[over], own[over].astype(np.uint64)], axis=1))


def line_grams(norm: str) -> np.ndarray:
    """Hashes of the character 5-grams of a normalised line."""
    chars = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    grams, _ = shingle_hashes(chars, np.array([0, len(chars)]), GRAM, seed_key(0, 4))
    return grams


def _gram_task(args) -> None:
    """5-gram hashes of this task's repeated lines, and the text of the most repeated ones."""
    out, task, step_dirs, step_dir, p, top = args
    path = fs.join(step_dir, "grams", f"{task:05d}.npy")
    if fs.exists(path):
        return
    frequent = set(load_array(fs.join(step_dir, "frequent.npy")).tolist())
    wanted, texts, norms = set(top.tolist()), {}, []
    records = (r["text"] for _, batch in batches(out, task, step_dirs, []) for r in batch)
    for line, norm, k in _frequent_lines(records, frequent, p["min_line_chars"]):
        if k in wanted:
            texts[str(k)] = line
        norms.append(norm)
    save_json(fs.join(step_dir, "texts", f"{task:05d}.json"), texts)
    save_array(path, _fuzzy_grams(norms, p))


def frequent_line_grams(texts: Iterable[str], frequent: set[int], p: dict) -> np.ndarray:
    """The 5-gram hashes that the step keeps for the fuzzy cut, of the lines of `texts` whose
    hashes are in `frequent` (sorted, distinct); `p`: the step's params (`xiulian index`)."""
    return _fuzzy_grams([norm for _, norm, _ in _frequent_lines(texts, frequent, p["min_line_chars"])], p)


def _frequent_lines(texts: Iterable[str], frequent: set[int], min_line_chars: int
                    ) -> Iterator[tuple[str, str, int]]:
    """(line, normalised line, hash) of each frequent line, at its first occurrence."""
    seen: set[int] = set()
    for text in texts:
        for line, norm, k in zip(*_keys(text, min_line_chars)):
            if k is not None and k in frequent and k not in seen:
                seen.add(k)
                yield line, norm, k


def _fuzzy_grams(norms: list[str], p: dict) -> np.ndarray:
    grams = [line_grams(n) for n in norms if p["fuzzy"] and len(n) >= p["fuzzy_min_chars"]]
    return np.unique(np.concatenate(grams)) if grams else np.zeros(0, np.uint64)


def _cut_task(args) -> None:
    out, task, step_dirs, n_tasks, step_dir, p = args
    done = fs.join(step_dir, "cut", f"{task:05d}.done")
    if fs.exists(done):
        return
    frequent = set(load_array(fs.join(step_dir, "frequent.npy")).tolist())
    grams = load_array(fs.join(step_dir, "grams.npy"))
    drops, edits, cut = {}, {}, 0
    for rows, records in batches(out, task, step_dirs, []):
        for row, r in zip(rows, records):
            parts, norms, keys = _keys(r["text"], p["min_line_chars"])
            keep = [k is None or (k not in frequent and not _near_repeated(norm, grams, p))
                    for norm, k in zip(norms, keys)]
            if all(keep):
                continue
            cut += len(keep) - sum(keep)
            text = BLANK_RUNS.sub("\n\n", "\n".join(x for x, k in zip(parts, keep) if k)).strip()
            if len(text) < p["min_chars"]:
                drops[row] = "mostly_repeated"
            else:
                edits[row] = text
    CorpusView(out, n_tasks, step_dir, None).write_decisions(task, drops, edits)
    save_json(done, {"lines_cut": cut, "dropped": len(drops), "edited": len(edits)})


def _near_repeated(norm: str, grams: np.ndarray, p: dict) -> bool:
    if not p["fuzzy"] or len(grams) == 0 or len(norm) < p["fuzzy_min_chars"]:
        return False
    mine = np.unique(line_grams(norm))
    at = np.minimum(np.searchsorted(grams, mine), len(grams) - 1)
    return float((grams[at] == mine).mean()) >= p["fuzzy_containment"]


def _write_report(out: str, step_dir: str, top: np.ndarray, n_tasks: int) -> None:
    """OUT/dedup/repeated.parquet: the most repeated lines, with how many documents held them."""
    texts: dict[str, str] = {}
    for t in range(n_tasks):
        for k, v in load_json(fs.join(step_dir, "texts", f"{t:05d}.json")).items():
            texts.setdefault(k, v)
    save_table(fs.join(out, DEDUP_DIR, REPEATED_REPORT), pa.table({
        "paragraph": pa.array([texts.get(str(k), "") for k in top[:, 0].tolist()], pa.string()),
        "documents": pa.array(top[:, 1].astype(np.int64), pa.int64()),
        "hash": pa.array(top[:, 0], pa.uint64()),
    }))
