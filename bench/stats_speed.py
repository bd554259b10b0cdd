"""How fast `xiulian stats` reads shards: MB/s of Parquet on disk, one core, numbers only.

Builds a synthetic shard set (default ~500 MB on disk) in our shard schema from real text in
../shared/data (paragraphs drawn at random, so zstd sees realistic, not repeated, text), then
times `corpus_stats` pinned to one CPU with pyarrow limited to one thread. The shard set is
kept in --work so later runs reuse it.

    .venv/bin/python bench/stats_speed.py --work /tmp/stats-bench --mb 500
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
DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
ROWS_PER_BATCH = 20_000


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/stats-bench")
    parser.add_argument("--mb", type=int, default=500, help="size of the shard set on disk")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    files = build(Path(args.work), args.mb)
    disk = sum(f.stat().st_size for f in files)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from corpus.stats.compute import corpus_stats
    times, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        stats = corpus_stats(str(Path(args.work) / "shards"))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    kept = stats["kept"]
    best, median = min(times), statistics.median(times)
    print(json.dumps({
        "files": len(files), "disk_mb": round(disk / 1e6, 1),
        "text_mb": round(kept["utf8_bytes"] / 1e6, 1), "documents": kept["documents"],
        "seconds": [round(t, 2) for t in times], "cpu_seconds": [round(c, 2) for c in cpu],
        "median_mb_per_s_disk": round(disk / 1e6 / median, 1),
        "best_mb_per_s_disk": round(disk / 1e6 / best, 1),
        "median_mb_per_s_text": round(kept["utf8_bytes"] / 1e6 / median, 1),
        "docs_per_s": round(kept["documents"] / median),
    }, indent=1))


if __name__ == "__main__":
    main()
