"""How fast `xiulian stats` reads shards: MB/s of Parquet on disk, one core, numbers only.

Builds a synthetic shard set (default ~500 MB on disk) in our shard schema from real text in
../shared/data (paragraphs drawn at random, so zstd sees realistic, not repeated, text), then
times `corpus_stats` pinned to one CPU with pyarrow limited to one thread. The shard set is
kept in --work so later runs reuse it. Writes the "## Stats" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/stats_speed.py --work /tmp/stats-bench --mb 500 --runs 5
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import command, load_average, machine_line, versions, write_section  # noqa: E402

DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
ROWS_PER_BATCH = 20_000
SECTION = "## Stats"


def paragraph_pool() -> dict[str, list[str]]:
    """Paragraphs by language from real corpora: C4, English Wikipedia, WikiText, Chinese Wikipedia."""
    pool = {"en": [], "zh": []}
    for line in open(DATA / "text/c4_demo.jsonl", encoding="utf-8"):
        pool["en"] += [p for p in json.loads(line)["text"].split("\n") if len(p) > 40]
    for line in open(DATA / "text/zh_wikipedia_cmrc2018_contexts.jsonl", encoding="utf-8"):
        pool["zh"].append(json.loads(line)["text"])
    for line in open(DATA / "text/en_wikipedia_demo.txt", encoding="utf-8"):
        pool["en"] += [s.strip() + "." for s in line.split(". ") if len(s) > 40]
    for line in open(DATA / "text/wikitext-2/valid.txt", encoding="utf-8"):
        if len(line) > 80:
            pool["en"].append(line.strip())
    return pool


def make_batch(rng: random.Random, pool: dict, domains: list[str], start: int) -> pa.Table:
    rows = {k: [] for k in ("id", "text", "url", "source", "date", "language", "language_score",
                            "license", "score_quality", "score_toxicity", "metadata")}
    for i in range(start, start + ROWS_PER_BATCH):
        lang = "zh" if rng.random() < 0.3 else "en"
        text = "\n".join(rng.choice(pool[lang]) for _ in range(rng.randint(2, 14)))
        domain = rng.choice(domains)
        rows["id"].append(f"{rng.getrandbits(128):032x}")
        rows["text"].append(text)
        rows["url"].append(f"https://{domain}/{rng.getrandbits(40):x}/page-{i}.html")
        rows["source"].append(f"crawl-{i % 7}")
        rows["date"].append(f"2024-0{1 + i % 9}-1{i % 10}T12:00:00Z")
        rows["language"].append(lang)
        rows["language_score"].append(0.65 + 0.35 * rng.random())
        rows["license"].append("https://creativecommons.org/licenses/by/4.0/" if i % 50 == 0 else None)
        rows["score_quality"].append(rng.random())
        rows["score_toxicity"].append(rng.random() ** 4)
        meta = {"file": f"crawl-{i % 7}.warc.gz", "charset": "utf-8",
                "tier": rng.choice(["high", "mid", "low"])}
        if i % 20 == 0:
            meta["pii"] = {"email": 1 + i % 3}
        rows["metadata"].append(json.dumps(meta, sort_keys=True))
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string()),
                        ("source", pa.string()), ("date", pa.string()), ("language", pa.string()),
                        ("language_score", pa.float32()), ("license", pa.string()),
                        ("score_quality", pa.float32()), ("score_toxicity", pa.float32()),
                        ("metadata", pa.string())])
    return pa.table(rows, schema=schema)


def build(work: Path, megabytes: int, seed: int = 0) -> list[Path]:
    shards = work / "shards"
    existing = sorted(shards.glob("*.parquet"))
    if existing and sum(p.stat().st_size for p in existing) >= megabytes * 0.95e6:
        return existing
    shards.mkdir(parents=True, exist_ok=True)
    for old in existing:
        old.unlink()
    rng = random.Random(seed)
    pool = paragraph_pool()
    domains = [f"site{n}.example{n % 13}.com" for n in range(20_000)]
    written, part, start = 0, 0, 0
    while written < megabytes * 1e6:
        path = shards / f"part-{part:05d}.parquet"
        with pq.ParquetWriter(path, make_batch(rng, pool, domains, 0).schema, compression="zstd",
                              write_statistics=True) as writer:
            while path.stat().st_size < 128e6 and written + path.stat().st_size < megabytes * 1e6:
                writer.write_table(make_batch(rng, pool, domains, start), row_group_size=30_000)
                start += ROWS_PER_BATCH
        written += path.stat().st_size
        part += 1
        print(f"  wrote {path.name}: {path.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return sorted(shards.glob("*.parquet"))


def report(r: dict, argv: list[str], load: tuple[str, str], machine: str) -> str:
    """The "## Stats" section: the measured table, plus the profile and interactive notes."""
    cpu_rates = [r["disk_mb"] / c for c in r["cpu_seconds"]]
    return "\n".join([
        SECTION, "",
        "`xiulian stats` reading throughput: MB/s of Parquet shards on disk, numbers only (no text "
        "examples, i.e. without `--html`), one CPU core. Measured "
        f"{time.strftime('%Y-%m-%d %H:%M')} with `{command(__file__, argv)}`.", "",
        "Data: a synthetic shard set in our shard schema built by the script from real text in "
        "`../shared/data/text` (C4 sample, English Wikipedia, WikiText-2, Chinese Wikipedia paragraphs "
        "from CMRC2018), 2–14 paragraphs drawn at random per document (70% English, 30% Chinese), plus "
        "id, url (20,000 domains), source, date, language, language_score, license, score_quality, "
        "score_toxicity and a metadata JSON with tier and pii counts; zstd, row groups of 30,000 rows, "
        f"{r['files']} file{'s' if r['files'] != 1 else ''}. {r['disk_mb']} MB on disk, {r['text_mb']} MB of UTF-8 text, "
        f"{r['documents']:,} documents (zstd ratio {r['text_mb'] / r['disk_mb']:.1f} on text that is "
        "not repeated).", "",
        "The timed call is `corpus_stats(shards)` (every number `--json` prints) with the process pinned "
        "to one CPU (`sched_setaffinity`), `pyarrow.set_cpu_count(1)` and `set_io_thread_count(1)`; "
        "files in the page cache (the set is reused across runs).", "",
        "| runs | wall seconds | CPU seconds | median MB/s (disk) | best MB/s (disk) | median MB/s (text) "
        "| docs/s |", "|---:|---|---|---:|---:|---:|---:|",
        f"| {len(r['seconds'])} | {', '.join(f'{t:.2f}' for t in r['seconds'])} | "
        f"{', '.join(f'{t:.2f}' for t in r['cpu_seconds'])} | {r['median_mb_per_s_disk']} | "
        f"{r['best_mb_per_s_disk']} | {r['median_mb_per_s_text']} | {r['docs_per_s']:,} |", "",
        f"Machine: {machine}; {versions(['pyarrow', 'numpy'])}; load average {load[0]} before, "
        f"{load[1]} after the runs, so wall time is "
        f"{statistics.median(r['seconds']) / statistics.median(r['cpu_seconds']):.1f}× the CPU time. "
        f"Per CPU-second (what an idle core would deliver): {min(cpu_rates):.0f}–{max(cpu_rates):.0f} MB "
        "of shard data.", "",
        "Where the time goes (profiled once on 2026-11-24, not re-run by this script; one 185 MB file, "
        "CPU seconds, best of 3): reading the needed columns (zstd decoding, mostly `text`) 0.50; the "
        "per-batch statistics 0.33, of which character counts (`pyarrow.compute.utf8_length`) 0.19, "
        "domains (regex host extraction + value counts) 0.07, metadata (tier/pii/consent regexes) 0.05. "
        "Token estimates cost nothing extra (they need only character and byte counts). An earlier "
        "version counted CJK characters per document from the UTF-8 lead bytes with `np.add.reduceat`; "
        "that alone took longer than reading and held the whole pass to ~70 MB per CPU-second.", "",
        "Interactive use (timed once on 2026-11-24, not re-run by this script): `xiulian stats` on the "
        "clean output of the shared web data (`xiulian clean ../shared/data/web/warc "
        "../shared/data/web/html/gne_zh -o OUT`, 114 kept documents, one 261 KB shard): 0.44–0.49 s "
        "wall for the tables, 0.48–0.51 s with `--html` (start-up included).", ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/stats-bench")
    parser.add_argument("--mb", type=int, default=500, help="size of the shard set on disk")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    files = build(Path(args.work), args.mb)
    disk = sum(f.stat().st_size for f in files)
    machine = machine_line()  # before pinning this process to one CPU
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from corpus.stats.compute import corpus_stats
    before = load_average()
    times, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        stats = corpus_stats(str(Path(args.work) / "shards"))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    kept = stats["kept"]
    best, median = min(times), statistics.median(times)
    result = {
        "files": len(files), "disk_mb": round(disk / 1e6, 1),
        "text_mb": round(kept["utf8_bytes"] / 1e6, 1), "documents": kept["documents"],
        "seconds": [round(t, 2) for t in times], "cpu_seconds": [round(c, 2) for c in cpu],
        "median_mb_per_s_disk": round(disk / 1e6 / median, 1),
        "best_mb_per_s_disk": round(disk / 1e6 / best, 1),
        "median_mb_per_s_text": round(kept["utf8_bytes"] / 1e6 / median, 1),
        "docs_per_s": round(kept["documents"] / median),
    }
    print(json.dumps(result, indent=1))
    if not args.no_docs:
        write_section(SECTION, report(result, argv, (before, load_average()), machine))


if __name__ == "__main__":
    main()
