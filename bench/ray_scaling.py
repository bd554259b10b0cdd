"""Map-phase throughput of the Ray executor against the local one, 1 and 2 workers.

Times only the map phase (executor start-up, e.g. `ray.init`, is reported apart), on the real
HTML pages of ../shared/data/web/html with the default pipeline's per-document steps.

    .venv/bin/python bench/ray_scaling.py [--repeats 3] [--data ../shared/data/web/html]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.config import load_config  # noqa: E402
from corpus.executors import make_executor  # noqa: E402
from corpus.inputs import discover, plan_tasks  # noqa: E402
from corpus.pipeline import MapTask, pipeline_for  # noqa: E402
from corpus.readers import ReadOptions  # noqa: E402


def map_seconds(executor, files, config, workdir: Path) -> tuple[float, int]:
    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    (out / "tasks").mkdir(parents=True)
    tasks = [MapTask(i, tuple(g), str(out), config, ReadOptions()) for i, g in enumerate(plan_tasks(files))]
    start = time.perf_counter()
    counts = executor.run_map(tasks, lambda n: None, lambda: None)
    return time.perf_counter() - start, sum(c["read"] for c in counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/web/html"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    config = load_config(None)
    config = {**config, "steps": [s for s in config["steps"]
                                  if s["use"] not in ("exact_dedup", "minhash_dedup", "repeated_paragraphs")]}
    files, _ = discover([args.data])
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
                if name == "ray":
                    import ray
                    ray.shutdown()
    base = {(n, w): d for n, w, _, _, d, _ in rows}
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    lines = ["| executor | workers | docs | map seconds (median) | docs/s | vs same executor, 1 worker | "
             "vs local, same workers | start-up s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, workers, docs, secs, rate, startup in rows:
        lines.append(f"| {name} | {workers} | {docs} | {secs:.2f} | {rate:.1f} | "
                     f"{rate / base[(name, 1)]:.2f}× | {rate / base[('local', workers)]:.2f}× | {startup:.1f} |")
    print("\n".join(lines))
    print(f"\nmachine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores")


if __name__ == "__main__":
    main()
