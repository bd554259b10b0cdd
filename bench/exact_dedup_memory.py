"""Memory and time of exact dedup on a large synthetic corpus, through `xiulian clean`.

The corpus: --docs short documents (a number and eight words), of which --dup-fraction are
exact copies of an earlier document (a third of them with other case and spacing, which the
normalised key makes equal); copies of copies included. Input: Parquet files of 1 M rows.
The run: `xiulian clean IN -o OUT --config exact.toml --workers W -q` with exact_dedup alone.
Measured: wall time; the peak resident memory of the parent process (where the clusters are
built) and of the whole process tree (parent + workers, sampled every 0.05 s), in each phase:
the map tasks; exact_dedup's hashing and key-partition sorts; its clusters (drops and report
from the duplicate pairs); finalize (the shards written); and that the removed count equals the
planted copies.

    .venv/bin/python bench/exact_dedup_memory.py                 # 10 M documents, 30 % copies
    .venv/bin/python bench/exact_dedup_memory.py --docs 1000000  # a quick one
    .venv/bin/python bench/exact_dedup_memory.py --corpus /tmp/c10m --generate-only
    .venv/bin/python bench/exact_dedup_memory.py --corpus /tmp/c10m   # then, on a quiet machine

Writes the "## Exact dedup memory" section of docs/BENCHMARKS.md (--no-docs: print only);
docs/SCALING.md and docs/dedup.md quote it. Needs ~3 GB of free disk in --work.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import (command, git_commit, machine_line, run_sampled, tree_rss,  # noqa: E402
                       write_section)

SECTION = "## Exact dedup memory"
ROWS_PER_FILE = 1_000_000
PHASES = ("map", "hash + sort", "clusters", "finalize")
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
         "rho sigma tau upsilon phi chi psi omega").split()


def corpus(folder: Path, n_docs: int, dup_fraction: float, seed: int = 0) -> int:
    """Write the Parquet input (unless `folder` holds it from an earlier run); returns the
    number of planted copies."""
    rng = np.random.default_rng(seed)
    is_copy = rng.random(n_docs) < dup_fraction
    is_copy[0] = False
    if (folder / "done").exists():
        return int(is_copy.sum())
    originals = np.nonzero(~is_copy)[0]
    # each copy repeats a random earlier original (so a copy of a copy is in the same cluster)
    earlier = np.searchsorted(originals, np.arange(n_docs), side="left")
    source = originals[(rng.random(n_docs) * earlier).astype(np.int64)]
    source[~is_copy] = np.nonzero(~is_copy)[0]
    words = rng.integers(0, len(WORDS), size=(n_docs, 8))
    restyle = rng.random(n_docs) < 1 / 3
    for start in range(0, n_docs, ROWS_PER_FILE):
        stop = min(start + ROWS_PER_FILE, n_docs)
        texts = []
        for d in range(start, stop):
            s = int(source[d])
            text = f"{s} " + " ".join(WORDS[w] for w in words[s])
            if is_copy[d] and restyle[d]:
                text = "  " + text.upper().replace(" ", " \n ")
            texts.append(text)
        ids = [f"d{d}" for d in range(start, stop)]
        pq.write_table(pa.table({"id": ids, "text": texts}),
                       folder / f"part{start // ROWS_PER_FILE:04d}.parquet")
    (folder / "done").write_text(f"{n_docs} {dup_fraction} {seed}\n")
    return int(is_copy.sum())


def phase(out: Path) -> str:
    """Which phase a run is in, from its output folder: map tasks; exact_dedup hashing and
    sorting its key partitions; exact_dedup turning the duplicate pairs into drops and the
    clusters report (once the partitions' dups/ files exist); finalize, writing the shards."""
    stages = list((out / "global").glob("00-exact_dedup*"))
    if not stages:
        return "map"
    if not any(s.name.endswith(".work") for s in stages):
        return "finalize"
    return "clusters" if any((stages[0] / "dups").glob("*.npy")) else "hash + sort"


def run(n_docs: int, dup_fraction: float, workers: int, work: str | None, inputs: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="xiulian-exact-bench-", dir=work) as tmp:
        folder = Path(tmp)
        source = Path(inputs) if inputs else folder / "in"
        source.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        planted = corpus(source, n_docs, dup_fraction)
        generated = time.perf_counter() - t0
        if inputs and not any(source.glob("*.parquet")):
            raise SystemExit(f"{source}: no corpus")
        config = folder / "exact.toml"
        config.write_text('[[steps]]\nuse = "exact_dedup"\n')
        cmd = [sys.executable, "-m", "corpus.cli", "clean", str(source), "-o", str(folder / "out"),
               "--config", str(config), "--workers", str(workers), "-q"]
        peaks = {phase: [0, 0] for phase in PHASES}   # phase -> [parent, tree] bytes
        page = os.sysconf("SC_PAGE_SIZE")

        def sample(pid):
            try:
                with open(f"/proc/{pid}/statm") as f:
                    parent = int(f.read().split()[1]) * page
            except FileNotFoundError:
                return
            peak = peaks[phase(folder / "out")]
            peak[0], peak[1] = max(peak[0], parent), max(peak[1], tree_rss(pid))
        seconds, _ = run_sampled(cmd, sample, every=0.05, cwd=ROOT)
        manifest = json.loads((folder / "out" / "manifest.json").read_text())
        clusters = pq.read_metadata(folder / "out" / "dedup" / "clusters.parquet").num_rows
    return {"docs": n_docs, "planted": planted, "removed": manifest["counts"]["removed"],
            "clusters": clusters, "seconds": seconds, "generate_s": generated,
            "peaks": peaks, "workers": workers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=10_000_000)
    ap.add_argument("--dup-fraction", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", help="folder for the corpus and the output (default: the temp dir)")
    ap.add_argument("--corpus", help="keep the generated corpus here and reuse it on later runs "
                    "(generate it once, then time the run under a quiet machine)")
    ap.add_argument("--generate-only", action="store_true", help="with --corpus: write it and stop")
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    if args.generate_only:
        if not args.corpus:
            raise SystemExit("--generate-only needs --corpus")
        Path(args.corpus).mkdir(parents=True, exist_ok=True)
        print(f"{corpus(Path(args.corpus), args.docs, args.dup_fraction):,} copies planted in {args.corpus}")
        return 0
    r = run(args.docs, args.dup_fraction, args.workers, args.work, args.corpus)
    mib = 1 << 20
    phases = " / ".join(PHASES)
    parent = " / ".join(f"{r['peaks'][p][0] / mib:,.0f}" for p in PHASES)
    tree = " / ".join(f"{r['peaks'][p][1] / mib:,.0f}" for p in PHASES)
    given = argv if argv is not None else sys.argv[1:]
    shown = [a for i, a in enumerate(given) if a != "--no-docs"   # where it ran is not how
             and a not in ("--work", "--corpus") and given[i - 1:i] not in (["--work"], ["--corpus"])]
    section = "\n".join([
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} at commit `{git_commit()}` on {machine_line()} "
        f"by `{command('exact_dedup_memory.py', shown)}`.", "",
        f"`xiulian clean` with `exact_dedup` alone over {r['docs']:,} short documents (a number and "
        f"eight words; Parquet files of {ROWS_PER_FILE:,} rows, one task each), {args.dup_fraction:.0%} "
        "of them exact copies of an earlier one (a third with other case and spacing), copies of "
        "copies included. Peak resident memory sampled every 0.05 s, per phase: the map tasks; "
        "exact_dedup hashing and sorting its key partitions; turning the duplicate pairs into "
        "drops and the clusters report; finalize writing the shards.", "",
        f"| docs | exact copies planted | removed | clusters | workers | seconds | peak RSS, "
        f"parent: {phases} | peak RSS, process tree: {phases} |",
        "|---:|---:|---:|---:|---:|---:|---|---|",
        f"| {r['docs']:,} | {r['planted']:,} | {r['removed']:,} | {r['clusters']:,} | "
        f"{r['workers']} | {r['seconds']:.0f} | {parent} MiB | {tree} MiB |", ""])
    print(section)
    if not args.no_docs:
        write_section(SECTION, section)
    return 0 if r["removed"] == r["planted"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
