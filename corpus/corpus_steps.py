"""Corpus steps: the global phases that need the whole corpus (dedup, repeated paragraphs).

They run after the map phase, one stage at a time, in config order. A stage reads what the map
tasks kept (as earlier stages left it), decides which rows to drop and which texts to change,
and writes those decisions per task as files. Nothing is rewritten until the finalize phase
applies every stage's decisions while it writes the shards, so each stage is cheap to resume:
a stage whose folder holds `done.json` is finished. (Where the filesystem renames, a stage
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


def stage_folders(out: str) -> list[str]:
    root = fs.join(out, GLOBAL_DIR)
    return [fs.join(root, d) for d in fs.list_names(root)
            if not d.endswith(".work") and fs.exists(fs.join(root, d, "done.json"))]


class Decisions:
    """What the finished stages decided for one task: rows dropped (with step and reason), new texts."""

    def __init__(self, out: str, task: int, stages: Sequence[str]):
        self.dropped: dict[int, tuple[str, str]] = {}
        self.edited: dict[int, str] = {}
        for stage in stages:
            step = fs.name(stage).split("-", 1)[1]
            drops = _decisions_path(stage, "drops", task)
            if fs.exists(drops):
                t = fs.read_parquet(drops)
                for row, reason in zip(t["row"].to_pylist(), t["reason"].to_pylist()):
                    self.dropped.setdefault(row, (step, reason))
            edits = _decisions_path(stage, "edits", task)
            if fs.exists(edits):
                t = fs.read_parquet(edits)
                self.edited.update(zip(t["row"].to_pylist(), t["text"].to_pylist()))


def iter_kept(out: str, task: int, stages: Sequence[str], columns: Sequence[str] | None = None
              ) -> Iterator[tuple[int, dict]]:
    """(row, record) for each row of a task that earlier stages kept, with their text edits."""
    decisions = Decisions(out, task, stages)
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
    """What a corpus step sees: the kept rows of every task, a scratch folder, a worker pool."""

    def __init__(self, out: str, n_tasks: int, stage_dir: str, executor: Executor):
        self.out, self.n_tasks, self.stage_dir = out, n_tasks, stage_dir
        self.executor = executor
        self._stages = stage_folders(out)

    def rows(self, task: int, columns: Sequence[str] | None = None) -> Iterator[tuple[int, dict]]:
        return iter_kept(self.out, task, self._stages, columns)

    def map(self, fn: Callable, items: Sequence) -> list:
        """fn over items on the executor's workers, results in order (fn: module-level)."""
        return self.executor.map(fn, items)

    def task_args(self) -> list[tuple[str, int, list[str]]]:
        """(out, task, finished stages) per task: what a worker needs to call `iter_kept`."""
        return [(self.out, t, self._stages) for t in range(self.n_tasks)]

    def write_decisions(self, task: int, drops: dict[int, str] | None = None,
                        edits: dict[int, str] | None = None) -> None:
        """Record one task's decisions; each file appears whole or not at all."""
        for kind, decided, schema in (("drops", drops, DROPS_SCHEMA), ("edits", edits, EDITS_SCHEMA)):
            if decided:
                rows = sorted(decided)
                table = pa.table({"row": rows, schema.names[1]: [decided[r] for r in rows]}, schema)
                write_decision_table(self.stage_dir, kind, task, table)


def _decisions_path(stage_dir: str, kind: str, task: int) -> str:
    return fs.join(stage_dir, f"{kind}-{task:05d}.parquet")


def write_decision_table(stage_dir: str, kind: str, task: int, table: pa.Table) -> None:
    """One task's `drops` or `edits` (DROPS_SCHEMA / EDITS_SCHEMA, rows ascending), written by
    the stage's parent or by a worker; the file appears whole or not at all."""
    with fs.AtomicFile(_decisions_path(stage_dir, kind, task)) as f:
        pq.write_table(table, f)


def decisions_done(stage_dir: str, kind: str, task: int) -> bool:
    """Whether a resumed stage already wrote this task's `drops` or `edits`."""
    return fs.exists(_decisions_path(stage_dir, kind, task))


def run_corpus_steps(out: str, n_tasks: int, steps: Sequence[CorpusStep], executor: Executor,
                     progress: Callable[[str], None] = lambda name: None) -> None:
    """Run each corpus step as a stage; finished stages (after a crash) are skipped."""
    for index, step in enumerate(steps):
        final = fs.join(out, GLOBAL_DIR, f"{index:02d}-{step.name}")
        if fs.exists(fs.join(final, "done.json")):
            continue
        progress(step.name)
        work = fs.staging_folder(final, ".work")  # the step's resumable scratch space
        view = CorpusView(out, n_tasks, work, executor)
        step.run_corpus(view)
        fs.write_bytes(fs.join(work, "done.json"), json.dumps({"step": step.name}).encode())
        fs.publish_folder(work, final)
