"""Re-run every side-by-side benchmark of docs/BENCHMARKS.md in one session, one after another,
then write the top of the page: the machine, the date, the commit, each benchmark's command and
wall time. Each benchmark writes its own section; a failure does not stop the others, but the
exit status is 1 if any failed.

    .venv/bin/python bench/run_all.py                       # everything, on a quiet machine
    .venv/bin/python bench/run_all.py --list                # names, commands, usual minutes
    .venv/bin/python bench/run_all.py --only dedup stats    # some (the top of the page stays)
    .venv/bin/python bench/run_all.py --smoke               # small arguments, into /tmp/bench-smoke.md

Not run here: pretrain_prose.py, sft_behaviour.py, reward_hacking.py and helpful_safety.py are
result runs that write docs/training.md, docs/sft.md and results.json, not this page.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from benchdocs import DOCS_ENV, docs_path, git_commit, machine_line, write_preamble

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
SHARED = REPO.parent / "shared" / "data"
CORES = str(len(os.sched_getaffinity(0)))
SMOKE_DOCS = "/tmp/bench-smoke.md"

# (name, section, script and arguments as documented, small arguments for --smoke, usual minutes)
BENCHMARKS = [
    ("extraction", "Extraction quality", ["extraction_quality.py"], ["--workers", "1"], 1),
    ("extraction_zh", "Chinese extraction", ["extraction_zh.py"], ["--repeats", "1"], 2),
    ("pipeline", "Pipeline throughput vs datatrove", ["pipeline_vs_datatrove.py", "--retries", "2"],
     ["--quick", "--write-docs", "--workers", "1", "--wait-idle", "0", "--retries", "0"], 10),
    ("decontam", "Decontamination", ["decontam.py"], ["--repeats", "1"], 1),
    ("stats", "Stats", ["stats_speed.py", "--work", "/tmp/stats-bench", "--mb", "500", "--runs", "5"],
     ["--work", "/tmp/stats-bench-smoke", "--mb", "20", "--runs", "1"], 1),
    ("stats_polars", "Stats: polars or pyarrow", ["stats_polars.py", "--work", "/tmp/stats-bench", "--runs", "3"],
     ["--work", "/tmp/stats-bench-smoke", "--mb", "20", "--runs", "1"], 1),
    ("incremental", "Incremental dedup", ["incremental_dedup.py", "--work", "/tmp/xiulian-incremental"],
     ["--work", "/tmp/xiulian-incremental-smoke", "--docs", "20000", "--batch", "2000", "--shared",
      "5000", "--queries", "1000", "--runs", "1"], 12),
    ("filters", "Filters vs datatrove", ["filters_vs_datatrove.py", "--repeats", "3"], ["--repeats", "1"], 5),
    ("dedup", "Dedup", ["minhash_vs_peers.py"], ["--docs", "20000", "--reps", "1"], 6),
    ("exact_dedup", "Exact dedup memory", ["exact_dedup_memory.py"], ["--docs", "200000"], 5),
    ("classifiers", "Classifiers", ["toxicity_classifiers.py"], ["--work", "/tmp/toxicity-bench-smoke"], 1),
    ("quality", "Quality classifier", ["train_quality_classifier.py", "-o", "/tmp/quality.bin"],
     ["-o", "/tmp/quality-smoke.bin"], 1),
    ("ray", "Ray executor scaling", ["ray_scaling.py", "--repeats", "2"],
     ["--repeats", "1", "--data", str(SHARED / "web/html/gne_zh")], 2),
    ("serving", "Serving latency", ["serve_latency.py", "--requests", "48", "--max-tokens", "64"],
     ["--requests", "8", "--max-tokens", "16", "--clients", "1", "4"], 1),
    ("muon", "Muon vs AdamW", ["muon_vs_adamw.py"], ["--steps", "24", "--no-docs"], 8),
    ("training", "Training throughput vs Hugging Face",
     ["train_vs_hf.py", "--steps", "30", "--warmup", "5", "--threads", CORES, "--device", "cpu",
      "--batch", "8", "--seq", "256", "--quiet-wait", "900"],
     ["--steps", "3", "--warmup", "1", "--threads", "1", "--settings", "fp32"], 5),
    ("eval", "Benchmark evaluation vs lm-evaluation-harness", ["eval_vs_lmeval.py", "--part", "speed",
     "--limit", "20"], ["--part", "speed", "--limit", "4", "--tasks", "hellaswag", "--no-docs"], 5),
]


def argv_of(bench: tuple, smoke: bool) -> list[str]:
    """The script and its arguments; --smoke keeps the script, swaps the arguments."""
    _name, _section, full, small, _minutes = bench
    return [full[0], *small] if smoke else full


def shown(argv: list[str]) -> str:
    return " ".join([".venv/bin/python", f"bench/{argv[0]}", *argv[1:]])


def anchor(section: str) -> str:
    return "".join(c for c in section.lower().replace(" ", "-") if c.isalnum() or c == "-")


def run(bench: tuple, argv: list[str], env: dict) -> tuple[int, float]:
    """Run one benchmark with the project's python, its output streaming through: (exit status, seconds)."""
    python = PYTHON if PYTHON.exists() else Path(sys.executable)
    start = time.perf_counter()
    code = subprocess.run([str(python), str(REPO / "bench" / argv[0]), *argv[1:]], cwd=REPO, env=env).returncode
    return code, time.perf_counter() - start


def preamble(results: list[tuple], minutes: float, smoke: bool) -> str:
    failed = [b[1] for b, _argv, code, _s in results if code]
    text = [("A smoke run (small arguments: the numbers below are not measurements): "
             if smoke else "The whole page was re-run in one session: ")
            + f"on {machine_line()}, on {time.strftime('%Y-%m-%d')} at commit `{git_commit()}`, in "
            f"{minutes:.0f} minutes, with `.venv/bin/python bench/run_all.py{' --smoke' if smoke else ''}`, "
            "one benchmark after another. Each section names the command that made it and the versions "
            "of the libraries it compares against."
            + (f" Failed, so their sections are older: {', '.join(failed)}." if failed else ""), "",
            "| section | command | wall time |", "|---|---|---:|"]
    for bench, argv, code, seconds in results:
        status = f"failed (exit {code}) after {seconds / 60:.1f} min" if code else f"{seconds / 60:.1f} min"
        text.append(f"| [{bench[1]}](#{anchor(bench[1])}) | `{shown(argv)}` | {status} |")
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    names = [b[0] for b in BENCHMARKS]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                    help=f"run only these ({', '.join(names)}); the top of the page is not rewritten")
    ap.add_argument("--list", action="store_true", help="print the benchmarks and their commands, run nothing")
    ap.add_argument("--smoke", action="store_true",
                    help=f"small arguments, to check that every benchmark runs (writes {SMOKE_DOCS} unless --docs)")
    ap.add_argument("--docs", help=f"write the sections here instead of docs/BENCHMARKS.md (sets ${DOCS_ENV})")
    args = ap.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b[0] in args.only]
    if args.list:
        for b in chosen:
            print(f"{b[0]:<12} ~{b[4]:>2} min  {b[1]:<36} {shown(argv_of(b, args.smoke))}")
        print(f"{'':<12} ~{sum(b[4] for b in chosen):>2} min in all (full arguments, 2 quiet cores)")
        return 0
    env = dict(os.environ)
    if args.docs or (args.smoke and not env.get(DOCS_ENV)):
        env[DOCS_ENV] = str(Path(args.docs or SMOKE_DOCS).resolve())
    os.environ[DOCS_ENV] = env.get(DOCS_ENV, "")
    results, start = [], time.perf_counter()
    for i, bench in enumerate(chosen, 1):
        bargv = argv_of(bench, args.smoke)
        print(f"\n=== [{i}/{len(chosen)}] {bench[0]}: {shown(bargv)}", flush=True)
        code, seconds = run(bench, bargv, env)
        results.append((bench, bargv, code, seconds))
        print(f"=== {bench[0]}: {'FAILED (exit %d)' % code if code else 'ok'} in {seconds:.0f} s", flush=True)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{'benchmark':<12} {'status':<10} seconds")
    for bench, _argv, code, seconds in results:
        print(f"{bench[0]:<12} {'FAILED' if code else 'ok':<10} {seconds:.0f}")
    if not args.only:
        write_preamble(preamble(results, minutes, args.smoke))
        print(f"wrote the top of {docs_path()}")
    return 1 if any(code for _b, _a, code, _s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
