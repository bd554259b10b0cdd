"""The last phase: gather task outputs, in task order, into size-bounded shards, the removed
ledger and the manifest, applying what the corpus steps (dedup ...) decided on the way.

The ledger and the shards are two independent jobs (`write_ledger`, `write_shards`): each
reads the tasks' files and the corpus steps' decisions and writes its own folder, so the
ledger -- on a web crawl mostly pages removed with their HTML, the bigger of the two -- can
run on a worker while the driver builds the dedup index and writes the shards. Each sees
its rows in the same order and in the same tables as one pass over the tasks would, so the
bytes do not depend on which job ran where. Both rewrite what they own from scratch, so
finalize is safe to redo after a crash; the manifest is written last and marks a complete run.
"""
from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from . import fs
from .corpus_steps import Decisions, step_folders
from .output_layout import MANIFEST_FILE, REMOVED_DIR, SHARDS_DIR
from .dedup.scratch_files import arrow_reader
from .pipeline import TASK_REMOVED, task_folder
from .schema import REMOVED_SCHEMA, removed_row
from .writers import ShardWriter

BATCH_ROWS = 4096
LEDGER_COLUMNS = ["id", "url", "source", "text"]  # what a dropped row brings from kept.parquet


def write_atomic_json(path: str, data: dict) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    fs.write_bytes(path, text.encode("utf-8"))


def _batches(path: str, schema: pa.Schema | None = None, columns: list[str] | None = None):
    for batch in fs.parquet_file(path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
        table = pa.Table.from_batches([batch])
        yield table if schema is None else table.cast(schema)


def _arrow_batches(path: str, schema: pa.Schema):
    """An Arrow IPC file's rows in tables of BATCH_ROWS, cut where Parquet's `iter_batches`
    cut them (the ledger's row groups are flushed between tables: its bytes depend on them)."""
    reader = arrow_reader(path)
    pending, rows = [], 0
    for i in range(reader.num_record_batches):
        batch = reader.get_batch(i)
        pending.append(batch)
        rows += batch.num_rows
        while rows >= BATCH_ROWS:
            table = pa.Table.from_batches(pending, schema=batch.schema)
            yield table.slice(0, BATCH_ROWS).cast(schema)
            rest = table.slice(BATCH_ROWS)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(pending, schema=reader.schema).cast(schema)


def _edited(table: pa.Table, first_row: int, decisions: Decisions) -> pa.Table:
    """A batch of kept rows with the texts the corpus steps rewrote."""
    rows = range(first_row, first_row + table.num_rows)
    if not any(r in decisions.edited for r in rows):
        return table
    texts = [decisions.edited.get(r, t) for r, t in zip(rows, table["text"].to_pylist())]
    i = table.schema.get_field_index("text")
    return table.set_column(i, table.schema.field(i), pa.array(texts, pa.string()))


def _dropped_mask(table: pa.Table, first_row: int, decisions: Decisions) -> list[bool]:
    return [r in decisions.dropped for r in range(first_row, first_row + table.num_rows)]


def write_shards(args: tuple[str, int, pa.Schema, int]) -> list[dict]:
    """OUT/shards/: every task's kept rows, in task order, less the rows the corpus steps
    dropped, with their edits -> the shard list (module-level: an executor may run it)."""
    out, n_tasks, kept_schema, shard_bytes = args
    fs.delete_dir(fs.join(out, SHARDS_DIR))
    shards = ShardWriter(fs.join(out, SHARDS_DIR), kept_schema, shard_bytes)
    step_dirs = step_folders(out)
    for task in range(n_tasks):
        decisions = Decisions(out, task, step_dirs)
        first_row = 0
        for table in _batches(fs.join(task_folder(out, task), "kept.parquet"), kept_schema):
            dropped = _dropped_mask(table, first_row, decisions)
            table = _edited(table, first_row, decisions)
            shards.write(table.filter(pc.invert(pa.array(dropped))) if any(dropped) else table)
            first_row += table.num_rows
    return shards.close()


def write_ledger(args: tuple[str, int, int]) -> tuple[list[dict], dict[str, int]]:
    """OUT/removed/: per task, in task order, the rows its map task removed, then those of
    its kept rows the corpus steps dropped (with their step and reason) -> the ledger's files
    and the count of those drops by `step:reason` (module-level: an executor may run it)."""
    out, n_tasks, shard_bytes = args
    fs.delete_dir(fs.join(out, REMOVED_DIR))
    ledger = ShardWriter(fs.join(out, REMOVED_DIR), REMOVED_SCHEMA, shard_bytes)
    step_dirs = step_folders(out)
    removed_by: Counter[str] = Counter()
    for task in range(n_tasks):
        folder = task_folder(out, task)
        for table in _arrow_batches(fs.join(folder, TASK_REMOVED), REMOVED_SCHEMA):
            ledger.write(table)
        decisions = Decisions(out, task, step_dirs)
        if not decisions.dropped:
            continue
        first_row = 0
        for table in _batches(fs.join(folder, "kept.parquet"), columns=LEDGER_COLUMNS):
            dropped = _dropped_mask(table, first_row, decisions)
            if any(dropped):
                table = _edited(table, first_row, decisions)
                gone = table.filter(pa.array(dropped)).to_pylist()
                rows = [r for r, d in zip(range(first_row, first_row + len(dropped)), dropped) if d]
                ledger_rows = []
                for r, doc in zip(rows, gone):
                    step, reason = decisions.dropped[r]
                    removed_by[f"{step}:{reason.split(':')[0]}"] += 1
                    ledger_rows.append(removed_row(doc["id"], doc["url"], doc["source"], step,
                                                   reason, doc["text"]))
                ledger.write(pa.Table.from_pylist(ledger_rows, schema=REMOVED_SCHEMA))
            first_row += len(dropped)
    return ledger.close(), dict(removed_by)


def write_manifest(out: str, task_counts: list[dict], run_info: dict, shards: list[dict],
                   ledger: tuple[list[dict], dict[str, int]]) -> dict:
    """OUT/manifest.json, from the map tasks' counts and what the two jobs above returned;
    written last, it marks a complete run. Returns the manifest."""
    removed_files, dropped_by = ledger
    removed_by: Counter[str] = Counter(dropped_by)
    dropped_globally = sum(removed_by.values())
    files: Counter[str] = Counter()  # a file split into spans is counted by several tasks
    step_counts: dict[str, Counter] = {}
    for counts in task_counts:
        removed_by.update(counts["removed_by"])
        files.update(counts["files"])
        for step, c in counts.get("step_counts", {}).items():
            step_counts.setdefault(step, Counter()).update(c)
    totals = {k: sum(c[k] for c in task_counts) for k in ("read", "kept", "removed")}
    totals["kept"] -= dropped_globally
    totals["removed"] += dropped_globally
    manifest = {
        **run_info,
        "counts": totals,
        "removed_by": dict(sorted(removed_by.items(), key=lambda kv: (-kv[1], kv[0]))),
        "map_tasks": len(task_counts),
        "records_per_file": dict(files),
        "step_counts": {k: dict(sorted(v.items())) for k, v in sorted(step_counts.items())},
        "shards": shards,
        "removed_files": removed_files,
    }
    write_atomic_json(fs.join(out, MANIFEST_FILE), manifest)
    return manifest
