"""The funnel from records read to documents kept: what each step removed, and why.

A clean output's manifest already holds the books (`counts`, `removed_by`); without one the
removed ledger is counted instead (its `step` and `reason` columns only). Steps are listed in
the order the pipeline ran them: `read` first, then the config's `[[steps]]`, then anything
else the ledger names (a step from an older run, say).
"""
from __future__ import annotations

from collections import Counter

import pyarrow.compute as pc
import pyarrow.parquet as pq

READ_STEP = "read"


def ledger_counts(removed_files: list[str]) -> Counter:
    """{"step:reason": n} counted from the removed ledger; details after a second colon are
    folded into their reason, as the manifest does for corpus steps."""
    counts: Counter = Counter()
    for path in removed_files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=65536, columns=["step", "reason"]):
            pairs = pc.binary_join_element_wise(batch.column("step"), batch.column("reason"), ":")
            values = pc.value_counts(pairs)
            counts.update(dict(zip(values.field("values").to_pylist(),
                                   values.field("counts").to_pylist())))
    return counts


def step_order(manifest: dict | None, keys: list[str]) -> list[str]:
    configured = [s.get("use") for s in ((manifest or {}).get("config") or {}).get("steps", [])]
    order = [READ_STEP, *[s for s in configured if s]]
    for key in keys:
        step = key.split(":", 1)[0]
        if step not in order:
            order.append(step)
    return list(dict.fromkeys(order))


def funnel(manifest: dict | None, removed_files: list[str], kept_documents: int) -> dict:
    """read -> (each step) -> kept, with removals per step and per reason."""
    if manifest and "removed_by" in manifest and "counts" in manifest:
        removed_by = Counter(manifest["removed_by"])
        read = int(manifest["counts"]["read"])
        origin = "manifest"
    elif removed_files:
        removed_by = ledger_counts(removed_files)
        read = kept_documents + sum(removed_by.values())
        origin = "removed ledger"
    else:
        return {"origin": "shards only", "read": None, "kept": kept_documents, "removed": None,
                "steps": []}
    by_step: dict[str, dict[str, int]] = {}
    for key, n in removed_by.items():
        step, _, reason = key.partition(":")
        by_step.setdefault(step, {})[reason] = n
    remaining = read
    steps = []
    for step in step_order(manifest, list(removed_by)):
        reasons = by_step.get(step)
        if reasons is None:
            if step == READ_STEP:
                continue
            reasons = {}
        removed = sum(reasons.values())
        remaining -= removed
        steps.append({"step": step, "removed": removed, "remaining": remaining,
                      "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))})
    result = {"origin": origin, "read": read, "kept": kept_documents,
              "removed": sum(removed_by.values()), "steps": steps}
    if manifest and manifest.get("counts", {}).get("kept") not in (None, kept_documents):
        result["note"] = (f"the manifest says {manifest['counts']['kept']} documents were kept; "
                          f"the shards hold {kept_documents}")
    return result
