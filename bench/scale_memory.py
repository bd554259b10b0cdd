"""Memory and time per phase of `xiulian clean` (exact + MinHash dedup) on N short documents.

    .venv/bin/python bench/scale_memory.py --docs 1000000              # ~3 minutes
    /work/bin/heavy .venv/bin/python bench/scale_memory.py --docs 10000000 --corpus /tmp/c10m --json out.json

The corpus is the synthetic one of bench/minhash_vs_peers.py (30-120 words drawn from the
vocabulary of real text -- c4_demo and Chinese Wikipedia -- 8 % near and 2 % exact copies),
written as JSONL files of `--docs-per-file` documents, so a map task covers the same number of
documents at every N. The run is `xiulian clean FILES -o OUT --workers W --config dedup.toml`;
its process tree (the driver and its workers) is sampled every 0.2 s, and each phase -- map,
exact_dedup, minhash_dedup, the dedup index, finalize, told apart by the lines `clean` prints
on stderr -- gets its wall time, the peak of the tree's summed RSS, and the peaks of the driver
alone and of its largest worker. docs/SCALING.md fits its memory model to these numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from minhash_vs_peers import synthetic_corpus  # noqa: E402

PHASES = (("corpus step exact_dedup", "exact_dedup"), ("corpus step minhash_dedup", "minhash_dedup"),
          ("dedup index", "index"), ("finalize", "finalize"))
KEYS = ("tree", "tree_anon", "driver", "worker")


def process_tree(pid: int) -> dict[int, tuple[int, int]]:
    """(RSS, anonymous RSS) bytes of a process and each of its descendants, by pid. The
    difference is file pages mapped in (memory-mapped signature files): page cache the kernel
    may drop, counted in RSS all the same."""
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f)
                      if k in ("VmRSS", "RssAnon", "RssShmem")}
            found[p] = (kb["VmRSS"] << 10, (kb["RssAnon"] + kb["RssShmem"]) << 10)
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, KeyError):
            pass
    return found


def measure(command: list[str]) -> tuple[dict, str]:
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    stage, started = ["map"], [time.perf_counter()]
    stats: dict[str, dict] = {}

    def bump(tree: dict[int, tuple[int, int]]) -> None:
        s = stats.setdefault(stage[0], dict.fromkeys(KEYS, 0))
        s["tree"] = max(s["tree"], sum(r for r, _ in tree.values()))
        s["tree_anon"] = max(s["tree_anon"], sum(a for _, a in tree.values()))
        s["driver"] = max(s["driver"], tree.get(proc.pid, (0, 0))[0])
        s["worker"] = max(s["worker"], max((r for p, (r, _) in tree.items() if p != proc.pid), default=0))

    def watch() -> None:
        while proc.poll() is None:
            bump(process_tree(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    tail = []
    for line in proc.stderr:
        for part in line.split("\r"):
            for marker, name in PHASES:
                if part.startswith(f"clean: {marker}"):
                    now = time.perf_counter()
                    stats.setdefault(stage[0], dict.fromkeys(KEYS, 0))["seconds"] = now - started[0]
                    stage[0], started[0] = name, now
        tail = (tail + [line])[-20:]
    proc.wait()
    stats.setdefault(stage[0], dict.fromkeys(KEYS, 0))["seconds"] = time.perf_counter() - started[0]
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"xiulian clean failed ({proc.returncode}): {''.join(tail)}")
    return stats, "".join(tail)


def reuse_or_generate(folder: Path, docs: int, files: int) -> tuple[dict, Path]:
    """The planted counts and folder of the synthetic corpus: generated unless `folder` holds
    one of this size already (its counts in planted.json, written last)."""
    record = folder / "planted.json"
    if record.exists():
        planted = json.loads(record.read_text())
        if (planted["docs"], planted["files"]) == (docs, files):
            print(f"reusing the corpus in {folder}", file=sys.stderr)
            return planted, folder
        raise SystemExit(f"{folder} holds a corpus of {planted['docs']} documents in "
                         f"{planted['files']} files; give another --corpus folder")
    folder.mkdir(parents=True, exist_ok=True)
    planted = {k: v for k, v in synthetic_corpus(folder, docs, files=files).items() if k != "planted_ids"}
    planted["files"] = files
    record.write_text(json.dumps(planted) + "\n")
    return planted, folder


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--docs-per-file", type=int, default=250_000, help="documents per map task")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--tmp", default=None, help="scratch folder (default: the system's)")
    ap.add_argument("--corpus", help="keep the generated corpus in this folder and reuse it on the "
                    "next run with the same --docs and --docs-per-file (10 M documents take ~10 "
                    "minutes to generate)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xiulian-scale-", dir=args.tmp) as tmp:
        folder = Path(tmp)
        files = max(1, args.docs // args.docs_per_file)
        t0 = time.perf_counter()
        planted, corpus = reuse_or_generate(Path(args.corpus) if args.corpus else folder, args.docs, files)
        generated = time.perf_counter() - t0
        inputs = sorted(corpus.glob("part*.jsonl"))
        config = folder / "dedup.toml"
        config.write_text('[[steps]]\nuse = "exact_dedup"\n[[steps]]\nuse = "minhash_dedup"\n')
        out = folder / "out"
        command = [sys.executable, "-m", "corpus.cli", "clean", *map(str, inputs), "-o", str(out),
                   "--workers", str(args.workers), "--config", str(config)]
        t0 = time.perf_counter()
        stages, _ = measure(command)
        seconds = time.perf_counter() - t0
        manifest = json.loads((out / "manifest.json").read_text())
        result = {"docs": args.docs, "files": files, "workers": args.workers,
                  "input_bytes": sum(p.stat().st_size for p in inputs),
                  "output_bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
                  "generate_s": round(generated, 1), "seconds": round(seconds, 1),
                  "stages": stages, "counts": manifest["counts"],
                  "planted": planted}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    mib = 1 << 20
    print("\n| phase | seconds | tree RSS peak (MiB) | of it anonymous | driver | largest worker |\n"
          "|---|---|---|---|---|---|")
    for name, s in stages.items():
        print(f"| {name} | {s.get('seconds', 0):.0f} | {s['tree'] / mib:.0f} | {s['tree_anon'] / mib:.0f} | "
              f"{s['driver'] / mib:.0f} | {s['worker'] / mib:.0f} |")


if __name__ == "__main__":
    main()
