"""From "document m duplicates survivor s" pairs to the engine's drop decisions and the
OUT/dedup/clusters.parquet report. Shared by exact and near-duplicate dedup.

Documents are numbered globally in input order (task order, then row); each step's first
phase stores, per task, the kept row number and id of every document it numbered
(docs/TTTTT.arrow).

Memory: no Python object per duplicate. The parent sorts the pairs twice (int64 arrays: 16
bytes a pair, ~40 while sorting) into two files and copies every task's ids, one task at a
time, into one uncompressed Arrow file (a record batch per task) that workers memory-map, so a
lookup reads only the pages it needs. Then, per task and in parallel, a worker writes the drops
of that task's duplicates and the report rows of the clusters whose survivor it holds, keeping
only those pairs and their ids; the parent copies the report parts into one file, one part at
a time. Phases, in the step's scratch folder:
  clusters/by_member.npy, by_survivor.npy   the pairs, sorted by duplicate, and by survivor
  clusters/ids.arrow                        every numbered document's id, batch t = task t
  drops-TTTTT.parquet                       per task, as every corpus step writes them
  clusters/report/TTTTT.parquet             per task: the clusters whose survivor is in it
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import fs
from ..corpus_steps import DROPS_SCHEMA, decisions_done, write_decision_table
from ..output_layout import CLUSTERS_REPORT, DEDUP_DIR
from .scratch_files import (array_files, arrow_reader, load_array, parquet_writer, save_array,
                     save_arrow, save_table)

CLUSTERS_SCHEMA = pa.schema([
    ("step", pa.string()), ("cluster", pa.int64()), ("size", pa.int64()),
    ("survivor", pa.string()), ("members", pa.list_(pa.string())),
])


def docs_path(step_dir: str, task: int) -> str:
    return fs.join(step_dir, "docs", f"{task:05d}.arrow")


def save_docs(step_dir: str, task: int, rows: list[int], ids: list[str]) -> None:
    table = pa.table({"row": pa.array(rows, pa.int64()), "id": pa.array(ids, pa.string())})
    with save_arrow(docs_path(step_dir, task), table.schema) as writer:
        writer.write_table(table)


def _pairs_path(step_dir: str, order: str) -> str:
    return fs.join(step_dir, "clusters", f"by_{order}.npy")


def apply(corpus, step: str, members: np.ndarray, survivors: np.ndarray, offsets: np.ndarray,
          earlier=None) -> int:
    """Drop every member as `duplicate_of:<survivor id>` and report the clusters; returns drops.
    `earlier` (against.EarlierDuplicates) adds the drops of documents found in earlier outputs."""
    step_dir = corpus.step_dir
    for name, key, other in (("member", members, survivors), ("survivor", survivors, members)):
        path = _pairs_path(step_dir, name)
        if not fs.exists(path):
            order = np.lexsort((other, key))
            pairs = np.empty((2, len(order)), np.int64)   # rows: a contiguous sorted key
            pairs[0], pairs[1] = key[order], other[order]
            del order
            save_array(path, pairs)
            del pairs
    by_survivor = load_array(_pairs_path(step_dir, "survivor"), mmap=True)[0]
    heads = by_survivor[np.flatnonzero(np.diff(by_survivor, prepend=-1))]
    first_cluster = np.searchsorted(heads, offsets)  # clusters numbered in survivor order
    del by_survivor, heads
    _gather_ids(step_dir, corpus.n_tasks)
    tasks = range(corpus.n_tasks)
    corpus.map(_drops_task, [(step_dir, offsets, t, earlier.in_task(t, offsets) if earlier
                               else None) for t in tasks])
    corpus.map(_report_task, [(step_dir, offsets, t, step, int(first_cluster[t])) for t in tasks])
    _write_report(corpus.out, step_dir, step,
                  array_files(fs.join(step_dir, "clusters", "report"), ".parquet"))
    return len(members) + (len(earlier.docs) if earlier is not None else 0)


def _gather_ids(step_dir: str, n_tasks: int) -> None:
    path = fs.join(step_dir, "clusters", "ids.arrow")
    if fs.exists(path):
        return
    schema = pa.schema([("id", pa.string())])
    with save_arrow(path, schema) as writer:
        for task in range(n_tasks):
            ids = arrow_reader(docs_path(step_dir, task)).read_all()["id"].combine_chunks()
            writer.write_batch(pa.record_batch([ids], schema=schema))


def _pairs_of_task(step_dir: str, order: str, offsets: np.ndarray, task: int) -> np.ndarray:
    """(n, 2) pairs, sorted by `order`, whose first column is a document of `task`: a binary
    search in the memory-mapped file reads only those."""
    pairs = load_array(_pairs_path(step_dir, order), mmap=True)
    lo, hi = np.searchsorted(pairs[0], offsets[task:task + 2])
    return np.array(pairs[:, lo:hi]).T


def _ids(step_dir: str, offsets: np.ndarray, docs: np.ndarray) -> pa.Array:
    """The ids of global document numbers, in their order, from ids.arrow."""
    reader = arrow_reader(fs.join(step_dir, "clusters", "ids.arrow"))
    tasks = np.searchsorted(offsets, docs, side="right") - 1
    order = np.argsort(tasks, kind="stable")
    bounds = np.flatnonzero(np.diff(tasks[order], prepend=-1, append=-1))
    parts = [pa.array([], pa.string())]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        task = int(tasks[order[start]])
        local = docs[order[start:stop]] - offsets[task]
        parts.append(reader.get_batch(task).column(0).take(pa.array(local)))
    return pa.concat_arrays(parts).take(pa.array(np.argsort(order)))


def doc_rows(step_dir: str, task: int) -> pa.ChunkedArray:
    """The kept row number of every document the step numbered in `task`, in its order."""
    return arrow_reader(docs_path(step_dir, task)).read_all()["row"]


def _drops_task(args) -> None:
    step_dir, offsets, task, earlier = args  # earlier: (task-local numbers, reasons) or None
    if decisions_done(step_dir, "drops", task):
        return
    pairs = _pairs_of_task(step_dir, "member", offsets, task)
    local, reasons = [], []
    if len(pairs):
        local.append(pairs[:, 0] - offsets[task])
        reasons.append(pc.binary_join_element_wise("duplicate_of:", _ids(step_dir, offsets, pairs[:, 1]), ""))
    if earlier is not None and len(earlier[0]):
        local.append(earlier[0])
        reasons.append(pa.array(earlier[1], pa.string()))
    if local:
        rows = doc_rows(step_dir, task).take(pa.array(np.concatenate(local)))
        write_decision_table(step_dir, "drops", task, pa.table(
            [rows.combine_chunks(), pa.concat_arrays(reasons)], schema=DROPS_SCHEMA))


def _report_task(args) -> None:
    step_dir, offsets, task, step, first_cluster = args
    path = fs.join(step_dir, "clusters", "report", f"{task:05d}.parquet")
    if fs.exists(path):
        return
    pairs = _pairs_of_task(step_dir, "survivor", offsets, task)
    if not len(pairs):
        return
    starts = np.flatnonzero(np.diff(pairs[:, 0], prepend=-1))
    sizes = np.diff(starts, append=len(pairs)) + 1                 # members + the survivor
    list_starts = np.concatenate([[0], np.cumsum(sizes)])
    heads = list_starts[:-1]
    docs = np.empty(len(pairs) + len(starts), np.int64)           # survivor first, then members
    is_member = np.ones(len(docs), bool)
    is_member[heads] = False
    docs[heads], docs[is_member] = pairs[starts, 0], pairs[:, 1]
    ids = _ids(step_dir, offsets, docs)
    save_table(path, pa.table({
        "step": pa.array([step] * len(starts), pa.string()),
        "cluster": np.arange(first_cluster, first_cluster + len(starts), dtype=np.int64),
        "size": sizes.astype(np.int64),
        "survivor": ids.take(pa.array(heads)),
        "members": pa.ListArray.from_arrays(pa.array(list_starts, pa.int32()), ids),
    }, CLUSTERS_SCHEMA))


def _write_report(out: str, step_dir: str, step: str, parts: list[str]) -> None:
    """Rows of this step replace its earlier rows in OUT/dedup/clusters.parquet (resume-safe).
    Written a row group at a time; the other steps' rows are first copied aside, since on an
    object store the new file replaces the old one while it is being written."""
    path = fs.join(out, DEDUP_DIR, CLUSTERS_REPORT)
    if fs.exists(path):
        others = fs.join(step_dir, "clusters", "other_steps.parquet")
        with parquet_writer(others, CLUSTERS_SCHEMA) as writer:
            for rows in _row_groups(path):
                writer.write_table(rows.filter(pc.not_equal(rows["step"], step)))
        parts = [others, *parts]
    with parquet_writer(path, CLUSTERS_SCHEMA) as writer:
        for part in parts:
            for rows in _row_groups(part):
                writer.write_table(rows)


def _row_groups(path: str):
    file = fs.parquet_file(path)
    for group in range(file.num_row_groups):
        yield file.read_row_group(group).cast(CLUSTERS_SCHEMA)
