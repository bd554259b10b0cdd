"""Corpus steps: the global phases that need the whole corpus (dedup, repeated paragraphs).

They run after the map phase, one step at a time, in config order. A step reads what the map
tasks kept (as earlier steps left it), decides which rows to drop and which texts to change,
and writes those decisions per task as files in its step folder. Nothing is rewritten until the
finalize phase applies every step's decisions while it writes the shards, so each step is cheap
to resume: a step whose folder holds `done.json` is finished. (Where the filesystem renames, a step
works in `NN-<step>.work` and is renamed when done; on an object store it works in its final
folder and `done.json`, written last, is the only marker.)

    OUT/global/NN-<step>/drops-TTTTT.parquet   row (int64), reason (string)
    OUT/global/NN-<step>/edits-TTTTT.parquet   row (int64), text (string)
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from . import fs
from .executors.base import Executor
from .heap import release_heap
from .output_layout import GLOBAL_DIR
from .pipeline import task_folder
from .steps import Step

DROPS_SCHEMA = pa.schema([("row", pa.int64()), ("reason", pa.string())])
EDITS_SCHEMA = pa.schema([("row", pa.int64()), ("text", pa.string())])
BATCH_ROWS = 4096


class CorpusStep(Step):
    """Base class of a global phase. Subclasses implement `run_corpus`."""

    def apply(self, doc):  # never called: corpus steps see the corpus, not one document
        raise TypeError(f"{self.name} is a corpus step")

    def run_corpus(self, corpus: "CorpusView") -> None:
        raise NotImplementedError


def step_folders(out: str) -> list[str]:
    root = fs.join(out, GLOBAL_DIR)
    return [fs.join(root, d) for d in fs.list_names(root)
            if not d.endswith(".work") and fs.exists(fs.join(root, d, "done.json"))]


class Decisions:
    """What the finished steps decided for one task: rows dropped (with step and reason), new texts."""

    def __init__(self, out: str, task: int, step_dirs: Sequence[str]):
        self.dropped: dict[int, tuple[str, str]] = {}
        self.edited: dict[int, str] = {}
        for step_dir in step_dirs:
            step = fs.name(step_dir).split("-", 1)[1]
            drops = _decisions_path(step_dir, "drops", task)
            if fs.exists(drops):
                t = fs.read_parquet(drops)
                for row, reason in zip(t["row"].to_pylist(), t["reason"].to_pylist()):
                    self.dropped.setdefault(row, (step, reason))
            edits = _decisions_path(step_dir, "edits", task)
            if fs.exists(edits):
                t = fs.read_parquet(edits)
                self.edited.update(zip(t["row"].to_pylist(), t["text"].to_pylist()))


def iter_kept(out: str, task: int, step_dirs: Sequence[str], columns: Sequence[str] | None = None
              ) -> Iterator[tuple[int, dict]]:
    """(row, record) for each row of a task that earlier steps kept, with their text edits."""
    decisions = Decisions(out, task, step_dirs)
    parquet = fs.parquet_file(fs.join(task_folder(out, task), "kept.parquet"))
    wanted = None if columns is None else list(dict.fromkeys([*columns, "text"]))
    row = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        for record in batch.to_pylist():
            if row not in decisions.dropped:
                if row in decisions.edited:
                    record["text"] = decisions.edited[row]
                yield row, record
            row += 1


class CorpusView:
    """What a corpus step sees: the kept rows of every task, a scratch folder, a worker pool,
    and the earlier outputs to deduplicate against (`--against`, dedup/against.py)."""

    def __init__(self, out: str, n_tasks: int, step_dir: str, executor: Executor,
                 earlier: Sequence[str] = ()):
        self.out, self.n_tasks, self.step_dir = out, n_tasks, step_dir
        self.executor = executor
        self.earlier = list(earlier)
        self._step_dirs = step_folders(out)

    def rows(self, task: int, columns: Sequence[str] | None = None) -> Iterator[tuple[int, dict]]:
        return iter_kept(self.out, task, self._step_dirs, columns)

    def map(self, fn: Callable, items: Sequence) -> list:
        """fn over items on the executor's workers, results in order (fn: module-level)."""
        return self.executor.map(fn, items)

    def task_args(self) -> list[tuple[str, int, list[str]]]:
        """(out, task, finished step_dirs) per task: what a worker needs to call `iter_kept`."""
        return [(self.out, t, self._step_dirs) for t in range(self.n_tasks)]

    def write_decisions(self, task: int, drops: dict[int, str] | None = None,
                        edits: dict[int, str] | None = None) -> None:
        """Record one task's decisions; each file appears whole or not at all."""
        for kind, decided, schema in (("drops", drops, DROPS_SCHEMA), ("edits", edits, EDITS_SCHEMA)):
            if decided:
                rows = sorted(decided)
                table = pa.table({"row": rows, schema.names[1]: [decided[r] for r in rows]}, schema)
                write_decision_table(self.step_dir, kind, task, table)


def _decisions_path(step_dir: str, kind: str, task: int) -> str:
    return fs.join(step_dir, f"{kind}-{task:05d}.parquet")


def write_decision_table(step_dir: str, kind: str, task: int, table: pa.Table) -> None:
    """One task's `drops` or `edits` (DROPS_SCHEMA / EDITS_SCHEMA, rows ascending), written by
    the step's parent or by a worker; the file appears whole or not at all."""
    with fs.AtomicFile(_decisions_path(step_dir, kind, task)) as f:
        pq.write_table(table, f)


def decisions_done(step_dir: str, kind: str, task: int) -> bool:
    """Whether a resumed step already wrote this task's `drops` or `edits`."""
    return fs.exists(_decisions_path(step_dir, kind, task))


def run_corpus_steps(out: str, n_tasks: int, steps: Sequence[CorpusStep], executor: Executor,
                     progress: Callable[[str], None] = lambda name: None,
                     earlier: Sequence[str] = ()) -> None:
    """Run each corpus step in its step folder; finished steps (after a crash) are skipped."""
    for index, step in enumerate(steps):
        final = fs.join(out, GLOBAL_DIR, f"{index:02d}-{step.name}")
        if fs.exists(fs.join(final, "done.json")):
            continue
        progress(step.name)
        work = fs.staging_folder(final, ".work")  # the step's resumable scratch space
        view = CorpusView(out, n_tasks, work, executor, earlier)
        step.run_corpus(view)
        release_heap()  # what the step freed does not stay in the driver for the next phases
        fs.write_bytes(fs.join(work, "done.json"), json.dumps({"step": step.name}).encode())
        fs.publish_folder(work, final)
