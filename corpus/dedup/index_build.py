"""Building a clean output's dedup index (index.py): at the end of `xiulian clean`, from what its
dedup steps computed (no text is read again), or with `xiulian index OUT` from the shards of
an output cleaned before outputs kept one.

Only documents the output kept are indexed: a later batch's copy of a document that this run
removed is a copy of the survivor that replaced it, and the survivor is in the index.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import fs
from ..corpus_steps import Decisions, step_folders
from ..errors import UserError
from ..output_layout import MANIFEST_FILE, RUN_FILE, SHARDS_DIR
from ..pipeline import task_folder
from . import exact, minhash, repeated
from .hashing import text_key
from .index import (FORMAT, INDEX_FILE, MATCHING, NO_SIGNATURE, PART_STEPS, STORED_BITS, Index,
                    fingerprint, has_stored_signature, index_folder, part_settings, stored)
from .lsh import band_keys
from .signatures import has_signature
from .scratch_files import (BATCH_DOCS, load_array, load_json, partition_of, partitions_for, save_array,
                     save_json, save_table)

DOCS_PER_ROW_GROUP = 65_536
ENTRIES_PER_PARTITION = 4_000_000     # 12-16 byte entries: ~64 MB per partition file


# Writing the tables ------------------------------------------------------------------------
#
# Builders hand in, per task, the ids of the documents to index with their exact keys,
# signatures and line hashes (`save_task`); `assemble` then numbers the documents in task
# order and writes the tables partition by partition, each partition sorted in one process.

def _piece(work: str, kind: str, task: int) -> str:
    return fs.join(work, "build", kind, f"{task:05d}.npy")


def save_task(work: str, task: int, ids: list[str], exact: np.ndarray | None,
              signatures: np.ndarray | None, line_hashes: np.ndarray | None) -> int:
    """One task's share of the index, in its build folder; returns its document count."""
    save_table(fs.join(work, "build", "docs", f"{task:05d}.parquet"),
               pa.table({"id": pa.array(ids, pa.string())}))
    for kind, array in (("exact", exact), ("sig", signatures), ("lines", line_hashes)):
        if array is not None:
            save_array(_piece(work, kind, task), array)
    return len(ids)


def assemble(work: str, counts: list[int], settings: dict[str, dict], executor,
             grams: np.ndarray | None = None) -> dict:
    """Number the documents, write every table and index.json; returns index.json's content.
    `grams`: the 5-gram hashes of the batch's repeated lines (part "lines")."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    _concat_docs(work, len(counts))
    tables = {}
    if "exact" in settings:
        tables["exact"] = partitions_for(total, ENTRIES_PER_PARTITION)
    if "minhash" in settings:
        _concat_signatures(work, counts, settings["minhash"]["num_perm"])
        tables["bands"] = partitions_for(total * settings["minhash"]["bands"], ENTRIES_PER_PARTITION)
    if "lines" in settings:
        entries = sum(len(load_array(_piece(work, "lines", t), mmap=True)) for t in range(len(counts)))
        tables["lines"] = partitions_for(entries, ENTRIES_PER_PARTITION)
    executor.map(_scatter_task, [(work, t, int(offsets[t]), tables, settings) for t in range(len(counts))])
    executor.map(_gather_task, [(work, table, q, len(counts)) for table, n in tables.items()
                                for q in range(n)])
    if "lines" in settings:
        save_array(fs.join(work, "grams.npy"), grams if grams is not None else np.zeros(0, np.uint64))
    fs.delete_dir(fs.join(work, "build"))
    meta = {"format": FORMAT, "documents": total, "tables": tables, "signature_bits": STORED_BITS,
            "parts": {part: {"settings": {k: s[k] for k in MATCHING[part]},
                             "fingerprint": fingerprint(part, s)}
                      for part, s in settings.items()}}
    save_json(fs.join(work, INDEX_FILE), meta)
    return meta


def _concat_docs(work: str, n_tasks: int) -> None:
    with fs.AtomicFile(fs.join(work, "docs.parquet")) as f:
        writer = pq.ParquetWriter(f, pa.schema([("id", pa.string())]), compression="zstd")
        pending: list[pa.Table] = []
        rows = 0
        for t in range(n_tasks):
            pending.append(fs.read_parquet(fs.join(work, "build", "docs", f"{t:05d}.parquet")))
            rows += pending[-1].num_rows
            if rows >= DOCS_PER_ROW_GROUP or t == n_tasks - 1:
                writer.write_table(pa.concat_tables(pending), row_group_size=DOCS_PER_ROW_GROUP)
                pending, rows = [], 0
        writer.close()


def _concat_signatures(work: str, counts: list[int], num_perm: int) -> None:
    """One (documents, num_perm) file, streamed task by task (never all in memory). A task's
    piece (`counts[task]` rows) is read whole and let go: read through memory maps, every
    piece stayed mapped in this process's RSS (1.5 GB at 3 M documents)."""
    rows = int(sum(counts))
    with fs.AtomicFile(fs.join(work, "signatures.npy")) as f:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint16)),
                  "fortran_order": False, "shape": (rows, num_perm)}
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        f.write(buffer.getvalue())
        for t in range(len(counts)):
            p = load_array(_piece(work, "sig", t))
            for i in range(0, len(p), 65_536):
                f.write(stored(p[i:i + 65_536]).tobytes())


def _entries(work: str, task: int, offset: int, table: str, settings: dict) -> tuple[np.ndarray, dict]:
    """(keys, payload columns) of one task's entries in a table."""
    if table == "exact":
        keys = load_array(_piece(work, "exact", task))
        docs = np.arange(offset, offset + len(keys), dtype=np.uint32)
        return keys[:, 0], {"lo": keys[:, 1], "doc": docs}
    if table == "bands":
        sig = load_array(_piece(work, "sig", task))
        docs = np.nonzero(has_signature(sig))[0]
        s = settings["minhash"]
        keys = band_keys(sig[docs], s["bands"], s["rows"], s["seed"])
        return keys.ravel(), {"doc": np.repeat((docs + offset).astype(np.uint32), s["bands"])}
    hashes = load_array(_piece(work, "lines", task))
    return hashes, {}


def _scatter_task(args) -> None:
    work, task, offset, tables, settings = args
    for table, n_parts in tables.items():
        keys, payload = _entries(work, task, offset, table, settings)
        part = partition_of(keys, n_parts)
        for q in range(n_parts):
            mine = part == q
            save_array(fs.join(work, "build", table, f"{task:05d}-{q:04d}.key.npy"), keys[mine])
            for column, values in payload.items():
                save_array(fs.join(work, "build", table, f"{task:05d}-{q:04d}.{column}.npy"), values[mine])


def _gather_task(args) -> None:
    """One partition of one table: its entries from every task, sorted (and counted, for lines)."""
    work, table, q, n_tasks = args
    columns = {"exact": ("lo", "doc"), "bands": ("doc",), "lines": ()}[table]

    def load(column):
        parts = [load_array(fs.join(work, "build", table, f"{t:05d}-{q:04d}.{column}.npy"))
                 for t in range(n_tasks)]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)

    keys = load("key")
    payload = {c: load(c) for c in columns}
    if table == "lines":
        keys, counts = np.unique(keys, return_counts=True)
        payload = {"count": counts.astype(np.uint32)}
    else:
        order = np.lexsort((payload["doc"], *(payload[c] for c in columns if c != "doc"), keys))
        keys = keys[order]
        payload = {c: v[order] for c, v in payload.items()}
        if table == "exact":  # one document per text: the first (an index built from shards
            new = np.ones(len(keys), bool)  # that were never exact-deduplicated may repeat)
            new[1:] = (keys[1:] != keys[:-1]) | (payload["lo"][1:] != payload["lo"][:-1])
            keys, payload = keys[new], {c: v[new] for c, v in payload.items()}
    save_array(fs.join(work, table, f"{q:04d}.key.npy"), keys)
    for column, values in payload.items():
        save_array(fs.join(work, table, f"{q:04d}.{column}.npy"), values)


# From a finished run -----------------------------------------------------------------------

def build_for_run(out: str, n_tasks: int, corpus_steps, executor) -> dict | None:
    """The index of a finished run's kept documents (before finalize deletes the scratch);
    None when the run had no dedup step. Skipped when already complete (a resumed run)."""
    settings = part_settings(corpus_steps)
    final = index_folder(out)
    if not settings:
        return None
    if fs.exists(fs.join(final, INDEX_FILE)):
        return load_json(fs.join(final, INDEX_FILE))
    step_dirs = step_folders(out)
    step_of = {part: folder for part in settings for folder in step_dirs
               if fs.name(folder).split("-", 1)[1] == PART_STEPS[part]}
    grams = repeated.step_grams(step_of["lines"]) if "lines" in settings else None
    work = fs.staging_folder(final, ".work", fresh=True)
    counts = executor.map(_run_task, [(out, t, step_dirs, step_of, work) for t in range(n_tasks)])
    meta = assemble(work, counts, settings, executor, grams)
    fs.publish_folder(work, final)
    return meta


def _kept_rows(out: str, task: int, step_dirs: list[str]) -> np.ndarray:
    n_rows = fs.parquet_file(fs.join(task_folder(out, task), "kept.parquet")).metadata.num_rows
    dropped = Decisions(out, task, step_dirs).dropped
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
    out, task, step_dirs, step_of, work = args
    kept = _kept_rows(out, task, step_dirs)
    ids = fs.read_parquet(fs.join(task_folder(out, task), "kept.parquet"), columns=["id"])["id"]
    ids = ids.take(kept).to_pylist()
    keys = sig = line_hashes = None
    if "exact" in step_of:
        rows, keys = exact.task_keys(step_of["exact"], task)
        keys = _pick(rows, keys, kept)
    if "minhash" in step_of:
        rows, sig = minhash.task_signatures(step_of["minhash"], task)
        sig = _pick(rows, sig, kept, fill=NO_SIGNATURE)
    if "lines" in step_of:
        line_hashes = repeated.task_line_hashes(step_of["lines"], task)
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
    """The index of an existing output, computed from its shards' text (every part): the index
    a run of the dedup steps over those shards leaves when it removes nothing."""
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
    meta = assemble(work, counts, settings, executor)
    if "lines" in settings:
        step = next(s for s in corpus_steps if s.name == PART_STEPS["lines"])
        save_array(fs.join(work, "grams.npy"), _repeated_grams(work, files, meta, step.params(), executor))
    fs.publish_folder(work, final)
    return meta


def _repeated_grams(work: str, files: list[str], meta: dict, p: dict, executor) -> np.ndarray:
    """The grams repeated_paragraphs would keep over these shards: of the lines in more than
    `max_docs` of their documents (the lines table just written counts them). Lines that the
    output's own run cut are not in its shards, so only a run over the shards is matched."""
    frequent = []
    for q in range(meta["tables"]["lines"]):
        keys, counts = (load_array(fs.join(work, "lines", f"{q:04d}.{c}.npy")) for c in ("key", "count"))
        frequent.append(keys[counts > p["max_docs"]])
    frequent = np.concatenate(frequent) if frequent else np.zeros(0, np.uint64)
    if not p["fuzzy"] or not len(frequent):
        return np.zeros(0, np.uint64)
    grams = executor.map(_shard_grams_task, [(path, frequent, p) for path in files])
    return np.unique(np.concatenate(grams))


def _shard_grams_task(args) -> np.ndarray:
    path, frequent, p = args
    texts = (t for batch in fs.parquet_file(path).iter_batches(batch_size=BATCH_DOCS, columns=["text"])
             for t in batch.column("text").to_pylist())
    return repeated.frequent_line_grams(texts, set(frequent.tolist()), p)


def _shard_task(args) -> int:
    path, task, work, settings = args
    s, lines = settings["minhash"], settings["lines"]
    ids, keys, sigs, line_hashes = [], [], [], []
    for batch in fs.parquet_file(path).iter_batches(batch_size=BATCH_DOCS, columns=["id", "text"]):
        texts = batch.column("text").to_pylist()
        ids += batch.column("id").to_pylist()
        keys += [text_key(t) for t in texts]
        sigs.append(minhash.document_signatures(texts, s["ngram"], s["num_perm"], s["seed"]))
        for t in texts:
            line_hashes += repeated.distinct_line_keys(t, lines["min_line_chars"])
    keys = np.frombuffer(b"".join(keys), dtype=">u8").astype(np.uint64).reshape(-1, 2)
    sig = np.concatenate(sigs) if sigs else np.zeros((0, s["num_perm"]), np.uint32)
    return save_task(work, task, ids, keys, sig, np.array(line_hashes, np.uint64))
