"""Quarantine a map task whose worker process died on every attempt.

A poisoned input -- a record that segfaults an extension, or whose memory use gets the worker
killed -- would otherwise be retried forever or end the whole run. After the executor's
retries, the task's folder is written as if it had finished: nothing kept, and one ledger row
per input it covers (step `map`, reason `worker_crashed#...`), so the run completes, the books
balance and the ledger says exactly what was left out and why. Each covered input counts as
one record read and removed: its records were never read to the end, so they cannot be
counted one by one. A resumed run keeps the quarantine (the folder has its counts.json);
`--overwrite` tries the input again. Run the input alone to find the record that crashes.
"""
from __future__ import annotations

import json

from .. import fs
from ..pipeline import TASK_REMOVED, MapTask, pipeline_for
from ..schema import REMOVED_SCHEMA, kept_schema, removed_row
from ..writers import RowWriter

STEP = "map"
REASON = "worker_crashed"


def covered_inputs(task: MapTask) -> list[tuple[str, str, str]]:
    """(ledger id, source, path) of each input a task covers: the one place that knows what a
    task is made of -- whole files, named by their path relative to the input root, or one
    span of a file, named by the file and the span's units (readers/spans.py)."""
    if task.span is not None:
        f = task.files[0]
        return [(f"{f.rel}#{task.span.start}-{task.span.end}", f.source, f.path)]
    return [(f.rel, f.source, f.path) for f in task.files]


def quarantine(task: MapTask, attempts: int, error: str) -> dict:
    """Write `task`'s folder as finished with every input it covers in the ledger; its counts."""
    inputs = covered_inputs(task)
    folder = fs.staging_folder(task.folder, ".tmp-quarantine", fresh=True)
    score_columns = pipeline_for(task.config).score_columns
    RowWriter(fs.join(folder, "kept.parquet"), kept_schema(score_columns)).close()
    removed = RowWriter(fs.join(folder, TASK_REMOVED), REMOVED_SCHEMA)
    note = (f"the worker process died on all {attempts} attempts at map task {task.index} "
            f"({error}); no record of this input was kept. Clean it alone to find the record.")
    for ledger_id, source, _ in inputs:
        removed.write(removed_row(ledger_id, None, source, STEP, f"{REASON}#{attempts} attempts", note))
    removed.close()
    counts = {"read": len(inputs), "kept": 0, "removed": len(inputs),
              "removed_by": {f"{STEP}:{REASON}": len(inputs)},
              "files": {path: 0 for _, _, path in inputs}, "step_counts": {},
              "quarantined": {"attempts": attempts, "error": error}}
    fs.write_bytes(fs.join(folder, "counts.json"), json.dumps(counts, sort_keys=True).encode())
    fs.publish_folder(folder, task.folder)
    return counts
