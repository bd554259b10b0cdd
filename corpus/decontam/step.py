"""The `decontam` step: remove documents that contain benchmark test items (or validation data).

Defaults follow GPT-3 (Brown et al. 2020, appendix C), whose filter became the reference (also
lm-evaluation-harness `scripts/clean_training_data/janitor.py`): lower-cased words without
punctuation, 13-grams, one shared 13-gram flags a document. GPT-3 cut the match with a 200-char
window and dropped documents left in more than 10 pieces; dropping the whole document is the
stricter default here, `action = "cut"` keeps the rest. Chinese/Japanese have no spaces, so
they use character n-grams: 15 characters, the shortest length at which no paragraph of the
shared Chinese Wikipedia set (1104 paragraphs) shares a run with CMMLU/any shared benchmark
(14 characters: 1 paragraph, 13: 2, 12: 2, 10: 7, 8: 43; see docs/decontam.md). Strings too
short for one n-gram are matched whole from 8 words (GPT-3's shortest n-gram for short test
sets) or 12 Chinese/Japanese characters (8-11 character strings are mostly names of
institutions and treaties that matched encyclopedic prose).
"""
from __future__ import annotations

import json
import os
import sys
import time

from .. import fs
from ..document import Document
from ..output_layout import DECONTAM_REPORT
from ..steps import Step, require
from .benchmarks import format_of
from .cut import cut
from .index import NgramIndex, Settings
from .normalize import tokenize

ACTIONS = ("drop", "cut")


def _paths(value, option: str) -> list[str]:
    require(isinstance(value, (list, tuple)) and all(isinstance(p, str) and p for p in value),
            f"{option} must be a list of file paths")
    for path in value:
        require(os.path.isfile(path), f"{option}: file not found: {path}")
        try:
            format_of(path)
        except Exception as exc:  # a UserError naming the formats it knows
            raise ValueError(str(exc)) from None
    return list(value)


def _labels(paths: list[str]) -> list[str]:
    """The file name, or the path where two files share a name."""
    names = [os.path.basename(p) for p in paths]
    return [n if names.count(n) == 1 else p for n, p in zip(names, paths)]


class Decontaminate(Step):
    """Remove documents sharing an n-gram with a benchmark item (test-set decontamination)."""

    name = "decontam"

    def __init__(self, *, benchmarks: list[str] = (), fields: list[str] | None = None,
                 action: str = "drop", ngram: int = 13, cjk_ngram: int = 15, min_tokens: int = 8,
                 cjk_min_tokens: int = 12, min_matches: int = 1, common_items: int = 10,
                 holdout_from: list[str] = (), holdout_fields: list[str] | None = None,
                 holdout_min_matches: int = 1):
        self.benchmarks = _paths(benchmarks, "benchmarks")
        self.holdout_from = _paths(holdout_from, "holdout_from")
        require(self.benchmarks or self.holdout_from,
                "needs at least one file in `benchmarks` (or `holdout_from`)")
        for option, value in (("fields", fields), ("holdout_fields", holdout_fields)):
            require(value is None or (isinstance(value, (list, tuple)) and value and
                                      all(isinstance(f, str) and f for f in value)),
                    f"{option} must be a non-empty list of field names (or left out: every string field)")
        require(action in ACTIONS, f"action must be one of {', '.join(ACTIONS)}")
        for option, value in (("ngram", ngram), ("cjk_ngram", cjk_ngram), ("min_tokens", min_tokens),
                              ("cjk_min_tokens", cjk_min_tokens), ("min_matches", min_matches),
                              ("common_items", common_items),
                              ("holdout_min_matches", holdout_min_matches)):
            require(isinstance(value, int) and value >= 1, f"{option} must be an integer >= 1")
        require(min_tokens <= ngram and cjk_min_tokens <= cjk_ngram,
                "min_tokens must be <= ngram and cjk_min_tokens <= cjk_ngram")
        self.fields = list(fields) if fields else None
        self.holdout_fields = list(holdout_fields) if holdout_fields else None
        self.action = action
        self.settings = Settings(ngram, cjk_ngram, min_tokens, cjk_min_tokens, common_items,
                                 min_matches)
        self.holdout_settings = Settings(ngram, cjk_ngram, min_tokens, cjk_min_tokens,
                                         common_items, holdout_min_matches)
        self.index: NgramIndex | None = None
        self.build_seconds = 0.0

    def setup(self) -> None:
        """Build the index once; the parent does it before forking, so workers share it."""
        if self.index is not None:
            return
        started = time.perf_counter()
        index = NgramIndex(probe=min(self.settings.min_tokens, self.settings.cjk_min_tokens))
        paths = self.benchmarks + self.holdout_from
        for i, (path, label) in enumerate(zip(paths, _labels(paths))):
            if i < len(self.benchmarks):
                index.add_file(path, self.fields, self.settings, label)
            else:  # validation sets: their own fields and match threshold
                index.add_file(path, self.holdout_fields, self.holdout_settings, label)
        for source in index.sources:
            if not source.indexed:
                print(f"warning: benchmark {source.path}: none of its {source.items} record(s) is "
                      "long enough to index, so it can match nothing", file=sys.stderr)
        index.freeze()
        self.index = index
        self.build_seconds = time.perf_counter() - started

    def apply(self, doc: Document) -> str | None:
        tokens = tokenize(doc.text)
        hits = self.index.scan(tokens)
        if not hits:
            return None
        for source in sorted({self.index.item_source[h.item] for h in hits}):
            self.count(f"hit:{self.index.sources[source].label}")
        best = max(hits, key=lambda h: (h.whole, len(h.ngrams), -h.item))
        reason = self.index.label(best.item)
        if self.action == "drop":
            return reason
        doc.text = cut(doc.text, tokens, hits, self.index)
        if not doc.text.strip():
            return reason
        self.count("cut")
        return None

    def write_report(self, out: str, counts: dict[str, int]) -> None:
        """OUT/decontam.json: per file, items indexed and skipped, documents hit; settings."""
        self.setup()
        roles = ["benchmarks"] * len(self.benchmarks) + ["holdout_from"] * len(self.holdout_from)
        settings = vars(self.settings) | {"holdout_min_matches": self.holdout_settings.min_matches}
        report = {"action": self.action, "fields": self.fields,
                  "holdout_fields": self.holdout_fields, "settings": settings,
                  "index_entries": int(len(self.index.keys)),
                  "index_build_seconds": round(self.build_seconds, 2),
                  "documents_cut": counts.get("cut", 0),
                  "benchmarks": [], "holdout_from": []}
        for role, source in zip(roles, self.index.sources):
            report[role].append({
                "path": source.path, "label": source.label, "items": source.items,
                "items_indexed": source.indexed, "items_skipped_too_short": source.skipped_short,
                "entries": source.entries, "templates_dropped": source.templates_dropped,
                "documents_hit": counts.get(f"hit:{source.label}", 0)})
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        fs.write_bytes(fs.join(out, DECONTAM_REPORT), text.encode("utf-8"))

