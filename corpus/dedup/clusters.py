"""From "document m duplicates survivor s" pairs to the engine's drop decisions and the
OUT/dedup/clusters.parquet report. Shared by exact and near-duplicate dedup.

Documents are numbered globally in input order (task order, then row); each step's first
phase stores, per task, the kept row number and id of every document it numbered.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import fs
from ..output_layout import CLUSTERS_REPORT, DEDUP_DIR
from .scratch_files import save_table

CLUSTERS_SCHEMA = pa.schema([
    ("step", pa.string()), ("cluster", pa.int64()), ("size", pa.int64()),
    ("survivor", pa.string()), ("members", pa.list_(pa.string())),
])


def docs_path(step_dir: str, task: int) -> str:
    return fs.join(step_dir, "docs", f"{task:05d}.parquet")


def save_docs(step_dir: str, task: int, rows: list[int], ids: list[str]) -> None:
    save_table(docs_path(step_dir, task),
               pa.table({"row": pa.array(rows, pa.int64()), "id": pa.array(ids, pa.string())}))


class DocTable:
    """Global document number -> (task, kept row, id), loading a task's table when needed."""

    def __init__(self, step_dir: str, offsets: np.ndarray):
        self.step_dir, self.offsets = step_dir, offsets
        self._tables: dict[int, pa.Table] = {}

    def task_of(self, docs: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, docs, side="right") - 1

    def table(self, task: int) -> pa.Table:
        if task not in self._tables:
            self._tables = {task: fs.read_parquet(docs_path(self.step_dir, task))}  # one at a time
        return self._tables[task]

    def ids(self, docs: np.ndarray) -> list[str]:
        out = [""] * len(docs)
        tasks = self.task_of(docs)
        for task in np.unique(tasks):
            where = np.nonzero(tasks == task)[0]
            local = docs[where] - self.offsets[task]
            for i, doc_id in zip(where, self.table(int(task))["id"].take(pa.array(local)).to_pylist()):
                out[i] = doc_id
        return out

    def rows(self, task: int, local: np.ndarray) -> list[int]:
        return self.table(task)["row"].take(pa.array(local)).to_pylist()


def apply(corpus, step: str, members: np.ndarray, survivors: np.ndarray, offsets: np.ndarray) -> int:
    """Drop every member as `duplicate_of:<survivor id>` and report the clusters; returns drops."""
    docs = DocTable(corpus.step_dir, offsets)
    order = np.lexsort((members, survivors))
    members, survivors = members[order], survivors[order]
    survivor_ids = dict(zip(np.unique(survivors).tolist(), docs.ids(np.unique(survivors))))
    member_ids = docs.ids(members)
    tasks = docs.task_of(members)
    for task in range(corpus.n_tasks):
        where = np.nonzero(tasks == task)[0]
        if len(where):
            rows = docs.rows(task, members[where] - offsets[task])
            corpus.write_decisions(task, drops={r: f"duplicate_of:{survivor_ids[int(survivors[i])]}"
                                                for r, i in zip(rows, where)})
    _write_report(corpus.out, step, survivors, member_ids, survivor_ids)
    return len(members)


def _write_report(out: str, step: str, survivors: np.ndarray, member_ids: list[str],
                  survivor_ids: dict[int, str]) -> None:
    """Rows of this step replace its earlier rows in OUT/dedup/clusters.parquet (resume-safe)."""
    groups: dict[int, list[str]] = {}
    for s, m in zip(survivors.tolist(), member_ids):
        groups.setdefault(s, []).append(m)
    ordered = sorted(groups)
    report = pa.table({
        "step": [step] * len(ordered),
        "cluster": list(range(len(ordered))),
        "size": [len(groups[s]) + 1 for s in ordered],
        "survivor": [survivor_ids[s] for s in ordered],
        "members": [[survivor_ids[s], *groups[s]] for s in ordered],
    }, CLUSTERS_SCHEMA)
    path = fs.join(out, DEDUP_DIR, CLUSTERS_REPORT)
    if fs.exists(path):
        earlier = fs.read_parquet(path)
        earlier = earlier.filter(pc.not_equal(earlier["step"], step))
        report = pa.concat_tables([earlier.cast(CLUSTERS_SCHEMA), report])
    save_table(path, report)
