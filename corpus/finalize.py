"""The last phase: gather task outputs, in task order, into size-bounded shards, the removed
ledger and the manifest, applying what the corpus steps (dedup ...) decided on the way.

It rewrites everything it owns from scratch, so it is safe to redo after a crash; the manifest
is written last and marks a complete run.
"""
from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from . import fs
from .corpus_steps import Decisions, step_folders
from .output_layout import MANIFEST_FILE, REMOVED_DIR, SHARDS_DIR
from .pipeline import task_folder
from .schema import REMOVED_SCHEMA, removed_row
from .writers import ShardWriter

BATCH_ROWS = 4096


def write_atomic_json(path: str, data: dict) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    fs.write_bytes(path, text.encode("utf-8"))


def _batches(path: str, schema: pa.Schema):
    for batch in fs.parquet_file(path).iter_batches(batch_size=BATCH_ROWS):
        yield pa.Table.from_batches([batch]).cast(schema)


def _apply_decisions(table: pa.Table, first_row: int, decisions: Decisions,
                     ledger: ShardWriter, removed_by: Counter) -> pa.Table:
    """Drop and edit the rows of one batch as the corpus steps decided; ledger the drops."""
    rows = range(first_row, first_row + table.num_rows)
    if any(r in decisions.edited for r in rows):
        texts = [decisions.edited.get(r, t) for r, t in zip(rows, table["text"].to_pylist())]
        i = table.schema.get_field_index("text")
        table = table.set_column(i, table.schema.field(i), pa.array(texts, pa.string()))
    dropped = [r in decisions.dropped for r in rows]
    if not any(dropped):
        return table
    gone = table.filter(pa.array(dropped)).select(["id", "url", "source", "text"]).to_pylist()
    ledger_rows = []
    for r, doc in zip((r for r in rows if r in decisions.dropped), gone):
        step, reason = decisions.dropped[r]
        removed_by[f"{step}:{reason.split(':')[0]}"] += 1
        ledger_rows.append(removed_row(doc["id"], doc["url"], doc["source"], step, reason, doc["text"]))
    ledger.write(pa.Table.from_pylist(ledger_rows, schema=REMOVED_SCHEMA))
    return table.filter(pc.invert(pa.array(dropped)))


def finalize(out: str, n_tasks: int, task_counts: list[dict], kept_schema: pa.Schema,
             shard_bytes: int, run_info: dict) -> dict:
    """Write shards/, removed/ and manifest.json; returns the manifest."""
    for sub in (SHARDS_DIR, REMOVED_DIR):
        fs.delete_dir(fs.join(out, sub))
    shards = ShardWriter(fs.join(out, SHARDS_DIR), kept_schema, shard_bytes)
    ledger = ShardWriter(fs.join(out, REMOVED_DIR), REMOVED_SCHEMA, shard_bytes)
    step_dirs = step_folders(out)
    removed_by: Counter[str] = Counter()
    for task in range(n_tasks):
        folder = task_folder(out, task)
        for table in _batches(fs.join(folder, "removed.parquet"), REMOVED_SCHEMA):
            ledger.write(table)
        decisions = Decisions(out, task, step_dirs)
        first_row = 0
        for table in _batches(fs.join(folder, "kept.parquet"), kept_schema):
            n = table.num_rows
            shards.write(_apply_decisions(table, first_row, decisions, ledger, removed_by))
            first_row += n
    dropped_globally = sum(removed_by.values())
    files: dict[str, int] = {}
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
        "records_per_file": files,
        "step_counts": {k: dict(sorted(v.items())) for k, v in sorted(step_counts.items())},
        "shards": shards.close(),
        "removed_files": ledger.close(),
    }
    write_atomic_json(fs.join(out, MANIFEST_FILE), manifest)
    return manifest
