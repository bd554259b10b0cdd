"""Decontamination speed: MB/s of text scanned against every shared benchmark at once.

Index: all six files in shared/data/benchmarks (GSM8K, HumanEval, HellaSwag, MMLU, CMMLU,
ARC), built once (time and memory reported separately, as a run pays them once in the parent).
Scan: the `decontam` step's `apply` on every document (normalise, tokenise, hash, look up),
one process, on English web text (C4), Chinese Wikipedia and LIMA answers.

Reference points, on the same texts and in the same process:
* MinHash signatures of xiulian's near-dedup (`corpus.dedup.minhash.document_signatures`,
  3-token shingles, 128 permutations): the issue's target is "no slower than this stage".
* A janitor-style pure-Python scan (the algorithm of lm-evaluation-harness
  `scripts/clean_training_data/janitor.py` in its Python mode: lower-case, strip punctuation,
  split on whitespace, a set of 13-gram strings). English only: it has no notion of Chinese.

Timing: best of --repeats passes after a warm-up pass, wall clock and process CPU time (the
machine is shared, CPU time is the steadier number).

Usage (repo root):  .venv/bin/python bench/decontam.py [--repeats 5] [--no-docs]
Writes docs/BENCHMARKS.md, section ``## Decontamination`` (only that section).
"""
from __future__ import annotations

import argparse
import json
import os
import string
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", REPO.parent / "shared" / "data"))
SECTION = "## Decontamination"

from corpus.decontam import Decontaminate  # noqa: E402
from corpus.document import Document  # noqa: E402
from benchdocs import command, git_commit, machine_line, publish, versions  # noqa: E402


def corpora() -> dict[str, list[str]]:
    def jsonl(name):
        return [json.loads(line)["text"] for line in open(DATA / "text" / name, encoding="utf-8")]
    lima = json.loads((DATA / "sft" / "lima.json").read_text(encoding="utf-8"))
    return {"C4 (en web)": jsonl("c4_demo.jsonl"),
            "Chinese Wikipedia": jsonl("zh_wikipedia_cmrc2018_contexts.jsonl"),
            "LIMA answers (en)": [r["output"] for r in lima]}


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(best wall seconds, best CPU seconds, result) over `repeats` runs after a warm-up."""
    result = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), result


def build_index(paths: list[str]) -> Decontaminate:
    step = Decontaminate(benchmarks=paths)
    step.setup()
    return step


def janitor_style(benchmark_texts: list[str], n: int = 13):
    """lm-eval janitor's Python path, re-implemented: a set of normalised 13-gram strings."""
    table = str.maketrans(string.punctuation, " " * len(string.punctuation))

    def grams(text):
        words = text.lower().translate(table).split()
        return (" ".join(words[i:i + n]) for i in range(len(words) - n + 1))

    index = {g for t in benchmark_texts for g in grams(t)}
    return lambda text: any(g in index for g in grams(text))


def index_bytes(step: Decontaminate) -> int:
    i = step.index
    return sum(a.nbytes for a in (i.keys, i.items, i.span, i.full, i.whole, i._table))


def measure(repeats: int) -> dict:
    from corpus.decontam.benchmarks import read_records, record_strings
    paths = sorted(str(p) for p in (DATA / "benchmarks").iterdir())
    build_wall, build_cpu, step = timed(lambda: build_index(paths), max(1, repeats // 2))
    texts = corpora()
    rows = []
    try:
        from corpus.dedup.minhash import document_signatures
    except ImportError:
        document_signatures = None
    bench_strings = [s for p in paths for r in read_records(p) for s in record_strings(r)]
    janitor_scan = janitor_style(bench_strings)
    for name, docs in texts.items():
        mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        wall, cpu, verdicts = timed(lambda: [step.apply(Document("d", d)) for d in docs], repeats)
        row = {"corpus": name, "docs": len(docs), "mb": mb, "wall": wall, "cpu": cpu,
               "flagged": sum(v is not None for v in verdicts)}
        if document_signatures:
            w, c, _ = timed(lambda: document_signatures(docs, 3, 128, 0), repeats)
            row["minhash_wall"], row["minhash_cpu"] = w, c
        if "Chinese" not in name:
            w, c, flags = timed(lambda: [janitor_scan(d) for d in docs], repeats)
            row["janitor_wall"], row["janitor_cpu"], row["janitor_flagged"] = w, c, sum(flags)
        rows.append(row)
    return {"build_wall": build_wall, "build_cpu": build_cpu, "entries": len(step.index.keys),
            "items": sum(s.items for s in step.index.sources), "index_bytes": index_bytes(step),
            "sources": [(s.label, s.items, s.indexed, s.skipped_short, s.entries,
                         s.templates_dropped) for s in step.index.sources],
            "rows": rows, "repeats": repeats,
            "settings": vars(step.settings)}


def report(r: dict, load: tuple[str, str], argv: list[str]) -> str:
    s = r["settings"]
    cmd = command(__file__, argv)
    lines = [SECTION, "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} at commit `{git_commit()}` by `{cmd}` "
             f"(best of {r['repeats']} passes after a warm-up; one process).", "",
             f"Index: every file in `shared/data/benchmarks` at once, {r['items']} items -> "
             f"{r['entries']:,} entries ({r['index_bytes'] / 2**20:.0f} MiB of numpy arrays); built in "
             f"{r['build_wall']:.2f} s wall / {r['build_cpu']:.2f} s CPU, once per run, in the parent "
             f"(workers share it). Settings: {s['ngram']}-word n-grams, {s['cjk_ngram']}-character "
             f"n-grams for Chinese/Japanese, whole-string match from {s['min_tokens']} words / "
             f"{s['cjk_min_tokens']} characters, templates = n-grams in >= {s['common_items']} items.", "",
             "| benchmark | items | indexed | skipped (too short) | entries | template entries dropped |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {items} | {indexed} | {short} | {entries:,} | {templates:,} |"
              for label, items, indexed, short, entries, templates in r["sources"]]
    lines += ["", "| text | docs | MB | decontam MB/s (wall / CPU) | flagged | MinHash signatures MB/s "
              "(wall / CPU) | janitor-style Python MB/s (wall / CPU) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        def rate(key):
            return f"{row['mb'] / row[key + 'wall']:.1f} / {row['mb'] / row[key + 'cpu']:.1f}" \
                if key + "wall" in row else "n/a"
        janitor = rate("janitor_") + (f" ({row['janitor_flagged']} flagged)" if "janitor_wall" in row else "")
        lines.append(f"| {row['corpus']} | {row['docs']} | {row['mb']:.2f} | {rate('')} | {row['flagged']} | "
                     f"{rate('minhash_')} | {janitor} |")
    lines += ["",
              "- *decontam*: `Decontaminate.apply` per document, i.e. normalisation (NFKC + lower case "
              "through a code-point table), tokenising, hashing every 8-token probe window, the bit "
              "table, the binary search and the confirmation of hits. A run with N workers scans N "
              "documents at once.",
              "- *MinHash signatures*: `corpus.dedup.minhash.document_signatures(texts, 3, 128, 0)` on "
              "the same documents: the per-document stage of near-dedup, the issue's speed target.",
              "- *janitor-style*: the GPT-3 / lm-eval janitor normalisation in pure Python with a set of "
              "13-gram strings, built from the same benchmark strings (whole-string matching of short "
              "items and Chinese are not part of it, so its flags differ).",
              "- LIMA: 12 of the flagged answers are wikiHow articles that HellaSwag's contexts were cut "
              "from (real overlap, 13-71 shared 13-grams each), 1 quotes an ARC question whole "
              "(docs/decontam.md).",
              f"- Machine: {machine_line()}; {versions(['numpy'])}; load average before/after: "
              f"{load[0]} / {load[1]} (shared machine: wall times are noisy, CPU times steadier).", "",
              "Command:", "", "```sh", cmd, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    before = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    results = measure(args.repeats)
    after = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    section = report(results, (before, after), argv)
    publish(SECTION, section, not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
