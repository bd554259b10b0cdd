"""Map-phase throughput of the Ray executor against the local one, 1 and 2 workers.

Times only the map phase (executor start-up, e.g. `ray.init`, is reported apart), on the real
HTML pages of ../shared/data/web/html with the default pipeline's per-document steps. Writes
the "## Ray executor scaling" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/ray_scaling.py [--repeats 3] [--data ../shared/data/web/html]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdocs import command, load_average, machine_line, versions, write_section  # noqa: E402

from corpus.config import load_config  # noqa: E402
from corpus.executors import make_executor  # noqa: E402
from corpus.inputs import discover, plan_tasks  # noqa: E402
from corpus.pipeline import MapTask, pipeline_for  # noqa: E402
from corpus.readers import ReadOptions  # noqa: E402

SECTION = "## Ray executor scaling"


def map_seconds(executor, files, config, workdir: Path) -> tuple[float, int]:
    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    (out / "tasks").mkdir(parents=True)
    tasks = [MapTask(i, tuple(g), str(out), config, ReadOptions()) for i, g in enumerate(plan_tasks(files))]
    start = time.perf_counter()
    counts = executor.run_map(tasks, lambda n: None, lambda: None)
    return time.perf_counter() - start, sum(c["read"] for c in counts)


def report(rows: list[tuple], steps: list[str], args, argv: list[str], load: str) -> str:
    base = {(n, w): d for n, w, _, _, d, _ in rows}
    lines = ["| executor | workers | docs | map seconds (median) | docs/s | vs same executor, 1 worker | "
             "vs local, same workers | start-up s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, workers, docs, secs, rate, startup in rows:
        lines.append(f"| {name} | {workers} | {docs} | {secs:.2f} | {rate:.1f} | "
                     f"{rate / base[(name, 1)]:.2f}× | {rate / base[('local', workers)]:.2f}× | {startup:.1f} |")
    scaling = base[("ray", 2)] / base[("ray", 1)]
    overhead = max(base[("local", w)] / base[("ray", w)] - 1 for w in (1, 2))
    data = Path(args.data)
    shown = data.relative_to(ROOT.parent) if data.is_relative_to(ROOT.parent) else data
    return "\n".join([
        SECTION, "",
        f"Map phase only (the default pipeline's per-document steps: {', '.join(steps)}), "
        f"{rows[0][2]} real pages from `{shown}`, median of {args.repeats} runs after a warm-up run, "
        f"executor start-up (`ray.init`) reported apart. Measured {time.strftime('%Y-%m-%d %H:%M')} on "
        f"{machine_line()}, load ≈ {load} at the start; {versions(['ray'])}.", "",
        f"Command: `{command(__file__, argv)}`", "", *lines, "",
        f"Targets: 2 Ray workers ≥ 1.7× one ({scaling:.2f}×); Ray overhead < 15 % at the same worker "
        f"count ({max(0.0, overhead):.0%}).",
        "The warm-up run is where each Ray worker loads the pipeline once (models, word lists); a "
        "one-off cost per worker process, like `ray.init`.", ""])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/web/html"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    load = load_average()
    config = load_config(None)
    config = {**config, "steps": [s for s in config["steps"]
                                  if s["use"] not in ("exact_dedup", "minhash_dedup", "repeated_paragraphs")]}
    files, _, _ = discover([args.data])
    pipeline_for(config)  # the local executor's forked workers share what the parent loaded
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("local", "ray"):
            for workers in (1, 2):
                t0 = time.perf_counter()
                executor = make_executor(name, workers)
                startup = time.perf_counter() - t0
                runs = [map_seconds(executor, files, config, Path(tmp)) for _ in range(args.repeats + 1)][1:]
                secs = statistics.median(r[0] for r in runs)
                docs = runs[0][1]
                rows.append((name, workers, docs, secs, docs / secs, startup))
                print(f"{name} x{workers}: {docs} docs, {secs:.2f} s (median), start-up {startup:.1f} s",
                      flush=True)
                if name == "ray":
                    import ray
                    ray.shutdown()
    section = report(rows, [s["use"] for s in config["steps"]], args, argv, load)
    print(section)
    if not args.no_docs:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
