"""Incremental dedup: what `--against` costs, how big an index is, file index vs shared Redis index.

1. An earlier output of --docs synthetic documents (default 1,000,000; 3-15 lines of 5-45
   words drawn from a real vocabulary, so nearly every line is distinct, as in C4), cleaned
   with exact_dedup, minhash_dedup and repeated_paragraphs: the size of its index, by part.
2. A new batch (--batch documents, 10 % of them edited or exact copies of earlier documents)
   cleaned alone and `--against` the large output, interleaved --runs times; and the labelled
   set of the acceptance check (make_sets.py neardup, second half) through the default
   pipeline alone, against its first half, and against the large output.
3. The same --shared documents indexed and queried in the file index and in datasketch's
   MinHashLSH on a real redis-server (started here).
Writes the "## Incremental dedup" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/incremental_dedup.py --work /tmp/xiulian-incremental
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import command, load_average, machine_line, versions, write_section  # noqa: E402

DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
CHECKS = DATA.parent / "checks"
SECTION = "## Incremental dedup"
XIULIAN = [sys.executable, "-m", "corpus.cli"]
DEDUP_TOML = ('[[steps]]\nuse = "exact_dedup"\n[[steps]]\nuse = "minhash_dedup"\n'
              '[[steps]]\nuse = "repeated_paragraphs"\n')


def vocabulary() -> list[str]:
    """The C4 sample's words, most frequent first (the Zipf weights follow this order)."""
    words = Counter()
    for line in open(DATA / "text/c4_demo.jsonl", encoding="utf-8"):
        words.update(json.loads(line)["text"].split())
    return [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))]


def write_documents(path: Path, n: int, seed: int, copies_of: Path | None = None) -> None:
    """JSONL of n documents; with `copies_of`, 10 % are copies of its documents (half exact,
    half with 2 % of the words replaced)."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary()
    weights = 1 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    sources = []
    if copies_of is not None:
        with open(copies_of, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i % 10 == 0:
                    sources.append(json.loads(line)["text"])
                if len(sources) >= n // 10:
                    break
    chunk = 10_000
    with open(path, "w", encoding="utf-8") as out:
        for first in range(0, n, chunk):
            docs = range(first, min(n, first + chunk))
            n_lines = rng.integers(3, 16, size=len(docs))
            line_words = rng.integers(5, 46, size=int(n_lines.sum()))
            words = rng.choice(len(vocab), size=int(line_words.sum()), p=weights).tolist()
            line_at, word_at = 0, 0
            for d, k in zip(docs, n_lines.tolist()):
                lines = []
                for length in line_words[line_at:line_at + k].tolist():
                    lines.append(" ".join([vocab[i] for i in words[word_at:word_at + length]]))
                    word_at += length
                line_at += k
                text = "\n".join(lines)
                if sources and d % 10 == 0 and d // 10 < len(sources):
                    text = sources[d // 10]
                    if d % 20 == 0:
                        parts = text.split(" ")
                        flip = rng.random(len(parts)) < 0.02
                        text = " ".join(vocab[rng.integers(len(vocab))] if f else w
                                        for w, f in zip(parts, flip))
                out.write(json.dumps({"id": f"s{seed}-{d}", "text": text}) + "\n")


def clean(inputs: list[Path], out: Path, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([*XIULIAN, "clean", *map(str, inputs), "-o", str(out), "--workers", "2", "-q",
                    *extra], cwd=ROOT, check=True)
    return time.perf_counter() - t0


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def index_sizes(out: Path) -> dict:
    index = out / "index"
    meta = json.loads((index / "index.json").read_text())
    parts = {"ids (docs.parquet)": index / "docs.parquet", "signatures": index / "signatures.npy",
             "LSH buckets": index / "bands", "exact keys": index / "exact", "line counts": index / "lines",
             "repeated-line grams": index / "grams.npy"}
    sizes = {k: (folder_bytes(p) if p.is_dir() else p.stat().st_size) for k, p in parts.items()}
    lines = sum(len(np.load(f, mmap_mode="r")) for f in (index / "lines").glob("*.key.npy"))
    return {"documents": meta["documents"], "bytes": folder_bytes(index), "parts": sizes,
            "distinct_lines": lines}


def prepare(work: Path, docs: int, batch: int) -> dict:
    """The large earlier output and the batches (kept in --work: built once)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "dedup.toml").write_text(DEDUP_TOML)
    big_docs, batch_docs = work / f"earlier-{docs}.jsonl", work / f"batch-{batch}.jsonl"
    if not big_docs.exists():
        write_documents(big_docs, docs, seed=1)
    if not batch_docs.exists():
        write_documents(batch_docs, batch, seed=2, copies_of=big_docs)
    big = work / f"earlier-{docs}"
    build = {}
    if not (big / "manifest.json").exists():
        build["seconds"] = clean([big_docs], big, "--config", str(work / "dedup.toml"))
    texts = work / "texts.jsonl"
    with open(texts, "w", encoding="utf-8") as f:
        for line in open(DATA / "text/c4_demo.jsonl", encoding="utf-8"):
            f.write(json.dumps({"text": json.loads(line)["text"], "lang": "en"}) + "\n")
    neardup = work / "neardup.jsonl"
    subprocess.run([sys.executable, str(CHECKS / "make_sets.py"), "neardup", str(texts),
                    str(DATA / "text/zh_wikipedia_cmrc2018_contexts.jsonl"), "--seed", "11",
                    "--out", str(neardup)], check=True, capture_output=True)
    lines = neardup.read_text(encoding="utf-8").splitlines(keepends=True)
    half = (len(lines) + 1) // 2
    (work / "b00.jsonl").write_text("".join(lines[:half]), encoding="utf-8")
    (work / "b01.jsonl").write_text("".join(lines[half:]), encoding="utf-8")
    if not (work / "o1" / "manifest.json").exists():
        clean([work / "b00.jsonl"], work / "o1")
    return {"big": big, "batch": batch_docs, "build": build}


def cost_ratios(work: Path, paths: dict, runs: int) -> list[dict]:
    """Wall seconds of each case, runs interleaved so a burst of load hits every case."""
    dedup = ("--config", str(work / "dedup.toml"))
    cases = [
        ("synthetic batch, dedup steps only", "alone", [paths["batch"]], dedup),
        ("synthetic batch, dedup steps only", "--against the large output", [paths["batch"]],
         (*dedup, "--against", str(paths["big"]))),
        ("labelled set, second half, default pipeline", "alone", [work / "b01.jsonl"], ()),
        ("labelled set, second half, default pipeline", "--against its first half",
         [work / "b01.jsonl"], ("--against", str(work / "o1"))),
        ("labelled set, second half, default pipeline", "--against the large output",
         [work / "b01.jsonl"], ("--against", str(paths["big"]))),
    ]
    seconds = {i: [] for i in range(len(cases))}
    for _ in range(runs):
        for i, (_, _, inputs, extra) in enumerate(cases):
            seconds[i].append(clean(inputs, work / f"case{i}", *extra))
    rows = []
    for i, (batch, how, _, _) in enumerate(cases):
        removed = json.loads((work / f"case{i}" / "manifest.json").read_text())["removed_by"]
        against = {k: v for k, v in removed.items() if k.endswith(":duplicate_in")}
        alone = next(j for j, c in enumerate(cases) if c[0] == batch and c[1] == "alone")
        rows.append({"batch": batch, "how": how, "seconds": seconds[i],
                     "median": statistics.median(seconds[i]),
                     "ratio": statistics.median(seconds[i]) / statistics.median(seconds[alone]),
                     "removed_against": against})
    return rows


def redis_server(folder: Path):
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/bench"
        time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def file_vs_redis(work: Path, big: Path, n: int, queries: int) -> dict:
    """Index the first n documents of the large output both ways, then query `queries`
    documents (half of them edited copies of indexed ones) both ways, one process."""
    from corpus.dedup import index_build as file_index
    from corpus.dedup.index import Index
    from corpus.dedup.lsh import band_keys
    from corpus.dedup.shared_index import SharedIndex
    from corpus.executors import LocalExecutor
    source = Index(str(big))
    settings = dict(source.meta["parts"]["minhash"]["settings"])
    sig = source.signatures(np.arange(n))
    ids = source.ids(np.arange(n))
    rng = np.random.default_rng(0)
    probe = sig[rng.choice(n, queries, replace=False)].copy()
    edit = rng.random(probe.shape) < 0.15                      # ~0.85 agreement: still a duplicate
    probe[edit] = rng.integers(0, 1 << 32, size=int(edit.sum()), dtype=np.uint64).astype(np.uint32)
    probe[queries // 2:] = rng.integers(0, 1 << 32, size=probe[queries // 2:].shape,
                                        dtype=np.uint64).astype(np.uint32)  # unrelated documents
    out = work / "file-index"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    file_index.save_task(str(out / "index"), 0, ids, None, sig, None)
    file_index.assemble(str(out / "index"), [n], {"minhash": settings}, LocalExecutor(1))
    file_insert = time.perf_counter() - t0
    index = Index(str(out))
    t0 = time.perf_counter()
    keys = band_keys(probe, settings["bands"], settings["rows"], settings["seed"])
    at, doc = index.bucket_members(keys.ravel())
    pairs = np.unique(np.stack([at // settings["bands"], doc], axis=1), axis=0)
    ok = index.agreement(probe[pairs[:, 0]], pairs[:, 1]) / probe.shape[1] >= 0.6
    file_found = len(np.unique(pairs[ok, 0]))
    file_query = time.perf_counter() - t0
    proc, url = redis_server(work)
    try:
        shared = SharedIndex(url, settings, 0.6)
        t0 = time.perf_counter()
        shared.insert([f"big#{i}" for i in ids], sig)
        redis_insert = time.perf_counter() - t0
        memory = int(shared.redis.info("memory")["used_memory"])
        t0 = time.perf_counter()
        redis_found = len(shared.near_duplicates(probe, 0.6))
        redis_query = time.perf_counter() - t0
        few = min(queries, 1000)
        t0 = time.perf_counter()
        for s in probe[:few]:
            shared.lsh.query(shared._lean(s))  # datasketch's own query: one round trip per band
        datasketch_query = (time.perf_counter() - t0) / few
    finally:
        proc.terminate()
        proc.wait()
    return {"documents": n, "queries": queries, "file_insert_s": file_insert,
            "file_query_s": file_query, "file_found": file_found, "file_bytes": folder_bytes(out),
            "redis_insert_s": redis_insert, "redis_query_s": redis_query, "redis_found": redis_found,
            "redis_memory": memory, "datasketch_query_per_doc_s": datasketch_query}


def report(args, argv, paths, sizes, ratios, shared, load) -> str:
    gib = sizes["bytes"] / 2 ** 30
    rows = [f"| {name} | {b / 1e6:,.1f} | {b / sizes['documents']:,.0f} |"
            for name, b in sizes["parts"].items()]
    cost = [f"| {r['batch']} | {r['how']} | {', '.join(f'{s:.1f}' for s in r['seconds'])} | "
            f"{r['median']:.1f} | {r['ratio']:.2f}x | "
            f"{', '.join(f'{k} {v:,}' for k, v in sorted(r['removed_against'].items())) or '-'} |"
            for r in ratios]
    s = shared
    build = paths["build"].get("seconds")
    return "\n".join([
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `{command(__file__, argv)}` on {machine_line()}; "
        f"{versions(['numpy', 'pyarrow', 'datasketch', 'redis'])}; load average {load[0]} before, "
        f"{load[1]} after. Every `xiulian clean` here runs with `--workers 2`.", "",
        f"**Index size.** The earlier output: {sizes['documents']:,} kept documents (synthetic: 3-15 "
        "lines of 5-45 words from the C4 sample's vocabulary, Zipf-weighted, so nearly every line is "
        "distinct, as in C4 where a document has 8.9 distinct lines on average), cleaned with "
        "exact_dedup, minhash_dedup and repeated_paragraphs"
        + (f" in {build:.0f} s" if build else "") + f". Its index: **{gib:.2f} GiB** "
        f"({sizes['bytes'] / 1e6:,.0f} MB, {sizes['distinct_lines']:,} distinct lines counted). The "
        "synthetic ids (`s1-123456`) compress to almost nothing; WARC record ids (random UUIDs) "
        "would add about 40 bytes a document.", "",
        "| part | MB | bytes per document |", "|---|---:|---:|", *rows, "",
        "**What --against costs.** Wall seconds of `xiulian clean`, runs interleaved.", "",
        "| batch | how | seconds per run | median | vs alone | removed against earlier |",
        "|---|---|---|---:|---:|---|", *cost, "",
        f"The synthetic batch is {args.batch:,} documents, {args.batch // 10:,} of them copies of "
        "documents of the large output (half exact, half with 2 % of the words replaced); the "
        "labelled set is the acceptance check's (`make_sets.py neardup --seed 11`, split in two). "
        "No earlier text is read: the lookups touch the index's partitions (memory-mapped: the "
        "pages a binary search reaches) and the signature rows of candidates. The index was in "
        "the page cache; from a cold disk each partition touched costs its reads once. A batch "
        "with --against can be faster than alone: what it drops early, later steps skip.", "",
        f"**File index vs shared Redis index.** {s['documents']:,} documents of the large output "
        f"indexed, then {s['queries']:,} signatures queried (half of them edited copies of indexed "
        "documents, half unrelated), candidates verified against the stored signatures; one "
        "process, Redis on this machine (127.0.0.1).", "",
        "| index | insert docs/s | query docs/s | duplicates found | space |", "|---|---:|---:|---:|---:|",
        f"| file (index.py: sorted partitions, memory-mapped) | {s['documents'] / s['file_insert_s']:,.0f} | "
        f"{s['queries'] / s['file_query_s']:,.0f} | {s['file_found']:,} | {s['file_bytes'] / 1e6:,.0f} MB on disk |",
        f"| Redis (datasketch MinHashLSH, LeanMinHash, pipelined) | {s['documents'] / s['redis_insert_s']:,.0f} | "
        f"{s['queries'] / s['redis_query_s']:,.0f} | {s['redis_found']:,} | {s['redis_memory'] / 1e6:,.0f} MB of RAM |",
        f"| Redis, datasketch's `query()` one document at a time | | "
        f"{1 / s['datasketch_query_per_doc_s']:,.0f} | | |", "",
        f"The file index is {s['redis_insert_s'] / s['file_insert_s']:.0f}x faster to build and "
        f"{s['redis_query_s'] / s['file_query_s']:.0f}x faster to query, and takes "
        f"{s['redis_memory'] / s['file_bytes']:.1f}x less space (disk instead of RAM), so it stays the "
        "default. Redis is the right choice when many jobs clean small batches at the same time and "
        "each must see what the others kept as soon as they finish, without a coordinator that "
        "orders the batches: any job can insert and query at any time. Batches cleaned one after "
        "another (a monthly dump, a daily scrape) should use `--against`.", ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/xiulian-incremental")
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents in the earlier output")
    parser.add_argument("--batch", type=int, default=50_000, help="documents in the new batch")
    parser.add_argument("--shared", type=int, default=100_000, help="documents in the file/Redis comparison")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prepare-only", action="store_true", help="build the outputs, time nothing")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    work = Path(args.work)
    paths = prepare(work, args.docs, args.batch)
    sizes = index_sizes(paths["big"])
    print(json.dumps(sizes, indent=1))
    if args.prepare_only:
        return
    before = load_average()
    ratios = cost_ratios(work, paths, args.runs)
    print(json.dumps(ratios, indent=1))
    shared = file_vs_redis(work, paths["big"], args.shared, args.queries)
    print(json.dumps(shared, indent=1))
    if not args.no_docs:
        write_section(SECTION, report(args, argv, paths, sizes, ratios, shared, (before, load_average())))


if __name__ == "__main__":
    main()
