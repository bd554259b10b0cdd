"""The measurements behind decontam's settings that docs/decontam.md quotes ("Why 15 and 12
characters for Chinese", "Train/validation separation").

1. Clean prose (C4, Chinese Wikipedia, LIMA answers) sharing a run of L tokens (words, or
   Chinese characters) with any string of the six shared benchmarks, L = 6..20: the step with
   n-grams of L, whole-unit matching off and templates kept (every string counts).
2. The step as shipped, one Chinese setting changed at a time: `cjk_ngram` 13/14/15, then
   `cjk_min_tokens` 8/10/12 (paragraphs flagged, CMMLU items skipped as too short).
3. `holdout_from`: the first third of C4 and of Chinese Wikipedia as the validation set, the
   other two thirds as training text; documents flagged at `holdout_min_matches` 1 and 10.

Usage (repo root, ~1 min):  .venv/bin/python bench/decontam_settings.py
Prints Markdown tables; it writes nothing.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decontam import DATA, corpora  # noqa: E402

from corpus.decontam import Decontaminate  # noqa: E402
from corpus.document import Document  # noqa: E402

BENCHMARKS = [str(DATA / "benchmarks" / name) for name in (
    "arc_challenge_test.jsonl", "cmmlu_test.csv", "gsm8k_test.jsonl", "hellaswag_val.jsonl.gz",
    "humaneval.jsonl.gz", "mmlu_test.csv.gz")]


def step(benchmarks=tuple(BENCHMARKS), **settings) -> Decontaminate:
    s = Decontaminate(benchmarks=list(benchmarks), **settings)
    s.setup()
    return s


def flagged(s: Decontaminate, texts: list[str]) -> int:
    return sum(s.apply(Document("d", t)) is not None for t in texts)


def main() -> int:
    texts = corpora()
    lengths = range(6, 21)
    shared = {name: [] for name in texts}
    for n in lengths:
        s = step(ngram=n, cjk_ngram=n, min_tokens=n, cjk_min_tokens=n, common_items=10**9)
        for name, docs in texts.items():
            shared[name].append(flagged(s, docs))
        print(f"L={n} done", file=sys.stderr, flush=True)
    print("| L | " + " | ".join(map(str, lengths)) + " |")
    print("|---|" + "---|" * len(lengths))
    for name, row in shared.items():
        print(f"| {name} ({len(texts[name])}) | " + " | ".join(map(str, row)) + " |")

    zh = texts["Chinese Wikipedia"]
    print(f"\n| setting | Chinese Wikipedia paragraphs flagged (of {len(zh)}) | "
          "CMMLU items skipped as too short |\n|---|---:|---:|")
    for settings in ({"cjk_ngram": 13}, {"cjk_ngram": 14}, {"cjk_ngram": 15},
                     {"cjk_min_tokens": 8}, {"cjk_min_tokens": 10}, {"cjk_min_tokens": 12}):
        s = step(**settings)
        cmmlu = next(src for src in s.index.sources if src.label == "cmmlu_test.csv")
        shown = ", ".join(f"{k} = {v}" for k, v in settings.items())
        print(f"| {shown} | {flagged(s, zh)} | {cmmlu.skipped_short} of {cmmlu.items} |")

    print("\n| validation set | training text | flagged, holdout_min_matches = 1 | = 10 |"
          "\n|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("C4 (en web)", "Chinese Wikipedia"):
            docs = texts[name]
            third = len(docs) // 3
            valid = Path(tmp) / "valid.jsonl"
            valid.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs[:third]))
            counts = [flagged(step((), holdout_from=[str(valid)], holdout_min_matches=m),
                              docs[third:]) for m in (1, 10)]
            print(f"| {name}: the first {third} | the other {len(docs) - third} | "
                  f"{counts[0]} | {counts[1]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
