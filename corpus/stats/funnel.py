"""The funnel from records read to documents kept: what each step removed, and why.

A clean output's manifest already holds the books (`counts`, `removed_by`); without one the
removed ledger is counted instead (its `step` and `reason` columns only). Steps are listed in
the order the pipeline ran them: `read` first, then the config's `[[steps]]` (from the
manifest, or OUT/run.json when a run did not finish), then anything else the ledger names.
"""
from __future__ import annotations

import re
from collections import Counter

import pyarrow.compute as pc
import pyarrow.parquet as pq

READ_STEP = "read"
MAX_REASONS = 12           # per step; more (one per benchmark item, say) are folded
OTHER_REASONS = "(other reasons)"
MAX_LEDGER_KEYS = 10_000   # distinct "step:reason" held while counting a ledger


def fold(reason: str) -> str:
    """A reason without its detail: "gsm8k_test.jsonl#921" -> "gsm8k_test.jsonl",
    "http_status:404" -> "http_status"."""
    return re.split(r"[:#]", reason, maxsplit=1)[0]


def fold_reasons(reasons: dict[str, int]) -> dict[str, int]:
    """At most MAX_REASONS reasons: details folded first, then the rarest pooled."""
    if len(reasons) <= MAX_REASONS:
        return reasons
    folded: Counter = Counter()
    for reason, n in reasons.items():
        folded[fold(reason)] += n
    ranked = sorted(folded.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) <= MAX_REASONS:
        return dict(ranked)
    kept = dict(ranked[:MAX_REASONS - 1])
    kept[OTHER_REASONS] = sum(n for _, n in ranked[MAX_REASONS - 1:])
    return kept


def reason_key(step: str, reason: str, keys: set[str]) -> str:
    """The funnel's "step:reason" key that a ledger row (step, reason) is counted under."""
    for candidate in (reason, fold(reason)):
        if f"{step}:{candidate}" in keys:
            return f"{step}:{candidate}"
    return f"{step}:{OTHER_REASONS}"


def ledger_counts(removed_files: list[str]) -> Counter:
    """{"step:reason": n} counted from the removed ledger (its step and reason columns only).

    Reasons can carry a detail per document ("duplicate_of:<survivor id>"); once there are
    more than MAX_LEDGER_KEYS distinct ones, all are folded (see `fold`), so memory stays small.
    """
    counts: Counter = Counter()
    folding = False
    for path in removed_files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=65536, columns=["step", "reason"]):
            pairs = pc.binary_join_element_wise(batch.column("step"), batch.column("reason"), ":")
            values = pc.value_counts(pairs)
            for key, n in zip(values.field("values").to_pylist(), values.field("counts").to_pylist()):
                counts[_fold_key(key) if folding else key] += n
            if not folding and len(counts) > MAX_LEDGER_KEYS:
                folding = True
                counts = _refold(counts)
    return counts


def _fold_key(key: str) -> str:
    step, _, reason = key.partition(":")
    return f"{step}:{fold(reason)}"


def _refold(counts: Counter) -> Counter:
    folded: Counter = Counter()
    for key, n in counts.items():
        folded[_fold_key(key)] += n
    return folded


def step_order(config: dict | None, keys: list[str]) -> list[str]:
    configured = [s.get("use") for s in (config or {}).get("steps", []) if isinstance(s, dict)]
    order = [READ_STEP, *[s for s in configured if s]]
    for key in keys:
        step = key.split(":", 1)[0]
        if step not in order:
            order.append(step)
    return list(dict.fromkeys(order))


def funnel(manifest: dict | None, removed_files: list[str], kept_documents: int,
           config: dict | None = None) -> dict:
    """read -> (each step) -> kept, with removals per step and per reason. The step order is
    the config's (from the manifest, else `config`), else the order the ledger names them."""
    config = (manifest or {}).get("config") or config
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
    for step in step_order(config, list(removed_by)):
        reasons = by_step.get(step)
        if reasons is None:
            if step == READ_STEP:
                continue
            reasons = {}
        removed = sum(reasons.values())
        remaining -= removed
        entry = {"step": step, "removed": removed, "remaining": remaining,
                 "reasons": fold_reasons(dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))))}
        if len(entry["reasons"]) < len(reasons):
            entry["distinct_reasons"] = len(reasons)
        steps.append(entry)
    result = {"origin": origin, "read": read, "kept": kept_documents,
              "removed": sum(removed_by.values()), "steps": steps}
    if manifest and manifest.get("counts", {}).get("kept") not in (None, kept_documents):
        result["note"] = (f"the manifest says {manifest['counts']['kept']} documents were kept; "
                          f"the shards hold {kept_documents}")
    return result
