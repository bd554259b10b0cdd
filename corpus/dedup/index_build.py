"""Building a clean output's dedup index (index.py): at the end of `xiulian clean`, from what its
dedup steps computed (no text is read again), or with `xiulian index OUT` from the shards of
an output cleaned before outputs kept one.

Only documents the output kept are indexed: a later batch's copy of a document that this run
removed is a copy of the survivor that replaced it, and the survivor is in the index.
"""
from __future__ import annotations

import os

import numpy as np

from .. import fs
from ..corpus_steps import Decisions, stage_folders
from ..errors import UserError
from ..output_layout import MANIFEST_FILE, RUN_FILE, SHARDS_DIR
from ..pipeline import task_folder
from . import exact, minhash, repeated
from .hashing import TokenHasher, text_key
from .index import (INDEX_FILE, NO_SIGNATURE, PART_STEPS, Index, assemble, has_stored_signature,
                    index_folder, part_settings, save_task)
from .stages import BATCH_DOCS, load_json


def build_for_run(out: str, n_tasks: int, corpus_steps, executor) -> dict | None:
    """The index of a finished run's kept documents (before finalize deletes the scratch);
    None when the run had no dedup step. Skipped when already complete (a resumed run)."""
    settings = part_settings(corpus_steps)
    final = index_folder(out)
    if not settings:
        return None
    if fs.exists(fs.join(final, INDEX_FILE)):
        return load_json(fs.join(final, INDEX_FILE))
    stages = stage_folders(out)
    stage_of = {part: folder for part in settings for folder in stages
                if fs.name(folder).split("-", 1)[1] == PART_STEPS[part]}
    grams = repeated.stage_grams(stage_of["lines"]) if "lines" in settings else None
    work = fs.staging_folder(final, ".work", fresh=True)
    counts = executor.map(_run_task, [(out, t, stages, stage_of, work) for t in range(n_tasks)])
    meta = assemble(work, counts, settings, executor, grams)
    fs.publish_folder(work, final)
    return meta


def _kept_rows(out: str, task: int, stages: list[str]) -> np.ndarray:
    n_rows = fs.parquet_file(fs.join(task_folder(out, task), "kept.parquet")).metadata.num_rows
    dropped = Decisions(out, task, stages).dropped
    return np.array([r for r in range(n_rows) if r not in dropped], np.int64)


def _pick(rows: np.ndarray, values: np.ndarray, wanted: np.ndarray, fill=None) -> np.ndarray:
    """values[i] for each wanted row (rows: sorted row numbers of values); `fill` where absent."""
    at = np.minimum(np.searchsorted(rows, wanted), max(len(rows) - 1, 0))
    present = (rows[at] == wanted) if len(rows) else np.zeros(len(wanted), bool)
    if fill is None:
        if not present.all():
            raise RuntimeError("a kept document is missing from a dedup step's files")
        return values[at]
    out = np.full((len(wanted), *values.shape[1:]), fill, values.dtype)
    out[present] = values[at[present]]
    return out


def _run_task(args) -> int:
    out, task, stages, stage_of, work = args
    kept = _kept_rows(out, task, stages)
    ids = fs.read_parquet(fs.join(task_folder(out, task), "kept.parquet"), columns=["id"])["id"]
    ids = ids.take(kept).to_pylist()
    keys = sig = line_hashes = None
    if "exact" in stage_of:
        rows, keys = exact.task_keys(stage_of["exact"], task)
        keys = _pick(rows, keys, kept)
    if "minhash" in stage_of:
        rows, sig = minhash.task_signatures(stage_of["minhash"], task)
        sig = _pick(rows, sig, kept, fill=NO_SIGNATURE)
    if "lines" in stage_of:
        line_hashes = repeated.task_line_hashes(stage_of["lines"], task)
    return save_task(work, task, ids, keys, sig, line_hashes)


def publish(out: str, shared, chunk: int = 20_000) -> int:
    """Add an output's indexed documents to a shared index (shared_index.py), named
    `<output>#<id>`; returns how many."""
    index = Index(out)
    label = out if fs.is_uri(out) else os.path.abspath(out)
    docs = fs.parquet_file(fs.join(index.folder, "docs.parquet"))
    done = 0
    for batch in docs.iter_batches(batch_size=chunk, columns=["id"]):
        rows = np.arange(done, done + batch.num_rows)
        sig = index.signatures(rows)
        keep = has_stored_signature(sig)
        shared.insert([f"{label}#{i}" for i, k in zip(batch.column("id").to_pylist(), keep) if k],
                      sig[keep])
        done += batch.num_rows
    return done


# `xiulian index OUT` -------------------------------------------------------------------------

def settings_for(out: str, config: dict | None) -> list:
    """The dedup steps whose settings the index takes: from `config`, else from the output's
    own run, each missing one with its defaults."""
    from ..steps import REGISTRY, build_step
    run_file = fs.join(out, RUN_FILE)
    if config is None and fs.exists(run_file):
        config = load_json(run_file).get("config")
    steps = [build_step(spec) for spec in (config or {}).get("steps", [])
             if spec.get("use") in PART_STEPS.values()]
    present = {s.name for s in steps}
    return steps + [REGISTRY[name]() for name in PART_STEPS.values() if name not in present]


def build_from_shards(out: str, corpus_steps, executor) -> dict:
    """The index of an existing output, computed from its shards' text (every part)."""
    if not fs.exists(fs.join(out, MANIFEST_FILE)):
        raise UserError(f"{out}: not a clean output (no {MANIFEST_FILE})")
    shards = fs.join(out, SHARDS_DIR)
    files = [fs.join(shards, n) for n in fs.list_names(shards) if n.endswith(".parquet")
             and not n.startswith(".")]
    if not files:
        raise UserError(f"{out}: not a clean output (no {SHARDS_DIR}/*.parquet)")
    settings = part_settings(corpus_steps)
    final = index_folder(out)
    fs.delete_file(fs.join(final, INDEX_FILE))
    work = fs.staging_folder(final, ".work", fresh=True)
    counts = executor.map(_shard_task, [(path, t, work, settings) for t, path in enumerate(files)])
    meta = assemble(work, counts, settings, executor)  # no grams: the cut lines are gone
    fs.publish_folder(work, final)
    return meta


def _shard_task(args) -> int:
    path, task, work, settings = args
    s, lines = settings["minhash"], settings["lines"]
    hasher = TokenHasher()
    ids, keys, sigs, line_hashes = [], [], [], []
    for batch in fs.parquet_file(path).iter_batches(batch_size=BATCH_DOCS, columns=["id", "text"]):
        texts = batch.column("text").to_pylist()
        ids += batch.column("id").to_pylist()
        keys += [text_key(t) for t in texts]
        sigs.append(minhash.document_signatures(texts, s["ngram"], s["num_perm"], s["seed"], hasher))
        for t in texts:
            line_hashes += repeated.distinct_line_keys(t, lines["min_line_chars"])
    keys = np.frombuffer(b"".join(keys), dtype=">u8").astype(np.uint64).reshape(-1, 2)
    sig = np.concatenate(sigs) if sigs else np.zeros((0, s["num_perm"]), np.uint32)
    return save_task(work, task, ids, keys, sig, np.array(line_hashes, np.uint64))
