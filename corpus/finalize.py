"""The last phase: gather task outputs, in task order, into size-bounded shards, the removed
ledger and the manifest. It rewrites everything it owns from scratch, so it is safe to redo
after a crash; the manifest is written last and marks a complete run.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from .pipeline import task_folder
from .schema import REMOVED_SCHEMA
from .writers import ShardWriter

BATCH_ROWS = 4096


def _copy(task_files: list[str], writer: ShardWriter) -> list[dict]:
    for path in task_files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            writer.write(_as_table(batch, writer.schema))
    return writer.close()


def _as_table(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches([batch]).cast(schema)


def write_atomic_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    os.replace(tmp, path)


def finalize(out: str, n_tasks: int, task_counts: list[dict], kept_schema, shard_bytes: int,
             run_info: dict) -> dict:
    """Write shards/, removed/ and manifest.json; returns the manifest."""
    for sub in ("shards", "removed"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    folders = [task_folder(out, i) for i in range(n_tasks)]
    shards = _copy([os.path.join(f, "kept.parquet") for f in folders],
                   ShardWriter(os.path.join(out, "shards"), kept_schema, shard_bytes))
    ledger = _copy([os.path.join(f, "removed.parquet") for f in folders],
                   ShardWriter(os.path.join(out, "removed"), REMOVED_SCHEMA, shard_bytes))
    removed_by: Counter[str] = Counter()
    files: dict[str, int] = {}
    step_counts: dict[str, Counter] = {}
    for counts in task_counts:
        removed_by.update(counts["removed_by"])
        files.update(counts["files"])
        for step, c in counts.get("step_counts", {}).items():
            step_counts.setdefault(step, Counter()).update(c)
    totals = {k: sum(c[k] for c in task_counts) for k in ("read", "kept", "removed")}
    manifest = {
        **run_info,
        "counts": totals,
        "removed_by": dict(sorted(removed_by.items(), key=lambda kv: (-kv[1], kv[0]))),
        "records_per_file": files,
        "step_counts": {k: dict(sorted(v.items())) for k, v in sorted(step_counts.items())},
        "shards": shards,
        "removed_files": ledger,
    }
    write_atomic_json(os.path.join(out, "manifest.json"), manifest)
    shutil.rmtree(os.path.join(out, "tasks"), ignore_errors=True)
    return manifest
