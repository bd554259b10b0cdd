"""`corpus_stats`: every number `xiulian stats` shows, as one JSON-ready dict.

The numbers come from one streaming pass over the kept shards (kept.py), the manifest or the
removed ledger (funnel.py) and the corpus steps' own reports (reports.py). Text examples for
the HTML report are an extra, cheap pass (examples.py), only when asked for.
"""
from __future__ import annotations

import os

from ..output_layout import CLUSTERS_REPORT, DECONTAM_REPORT, DEDUP_DIR, REPEATED_REPORT
from .examples import kept_examples, removed_examples
from .funnel import funnel
from .kept import scan_kept
from .layout import Layout, locate
from .step_outputs import decontamination, dedup_clusters, repeated_paragraphs

CONSENT_STEP = "consent"


def corpus_stats(path: str, top: int = 20, examples: int = 0, seed: int = 0) -> dict:
    """Statistics of a clean output or a folder of shards; `examples` > 0 adds that many text
    snippets per removal reason and per language."""
    layout = locate(path)
    stats = {"path": path, "output": layout.out,
             "shards": {"files": len(layout.shard_files),
                        "bytes": sum(os.path.getsize(f) for f in layout.shard_files)}}
    stats.update(scan_kept(layout.shard_files, top))
    stats["funnel"] = funnel(layout.manifest, layout.removed_files, stats["kept"]["documents"],
                             layout.run_config)
    stats["consent"] = _consent(stats)
    stats["dedup"] = _dedup(layout, top)
    decontam = layout.optional(DECONTAM_REPORT)
    stats["decontamination"] = decontamination(decontam) if decontam else None
    stats["step_counters"] = (layout.manifest or {}).get("step_counts") or {}
    if examples:
        keys = {f"{s['step']}:{r}" for s in stats["funnel"]["steps"] for r in s["reasons"]}
        stats["examples"] = {
            "removed": removed_examples(layout.removed_files, keys, examples, seed)
            if layout.removed_files else {},
            "kept": kept_examples(layout.shard_files, examples, seed)}
    return stats


def _consent(stats: dict) -> dict:
    """Pages removed for a consent reason (TDM reservation, noai, opt-out lists), and kept
    pages that carry a consent signal (when the step was told to keep them)."""
    removed = next((s["reasons"] for s in stats["funnel"]["steps"] if s["step"] == CONSENT_STEP), {})
    return {"removed": removed, "kept_with_signal": stats.pop("consent_flags_kept")}


def _dedup(layout: Layout, top: int) -> dict | None:
    clusters = layout.optional(DEDUP_DIR, CLUSTERS_REPORT)
    repeated = layout.optional(DEDUP_DIR, REPEATED_REPORT)
    if not clusters and not repeated:
        return None
    return {"clusters": dedup_clusters(clusters, top=10) if clusters else None,
            "repeated_paragraphs": repeated_paragraphs(repeated, top) if repeated else None}

