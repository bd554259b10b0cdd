"""Pretrain the `tiny` preset on the shared English and Chinese prose; plot it into docs/.

The road a user takes, with the real commands: `xiulian clean` the prose, `xiulian tokenizer
train`, `xiulian pretrain`, then `xiulian eval` on WikiText-2 (English, never trained on). The
loss curve goes to docs/img/pretrain_prose_loss.png and the numbers to docs/training.md's
"A pretraining run" section.

    .venv/bin/python bench/pretrain_prose.py [--steps 1500] [--work /tmp/pretrain_prose]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import write_section  # noqa: E402
from train.recipes.recipe import paragraph_groups  # noqa: E402

TEXT = ROOT.parent / "shared" / "data" / "text"
XIULIAN = [sys.executable, "-m", "corpus.cli"]


def write_prose(work: Path) -> list[Path]:
    """The shared prose as JSONL documents (Wikipedia articles, C4 pages, Chinese paragraphs)."""
    en = work / "en_wikipedia.jsonl"
    with open(en, "w", encoding="utf-8") as f:
        for i, line in enumerate(open(TEXT / "en_wikipedia_demo.txt", encoding="utf-8")):
            if line.strip():
                f.write(json.dumps({"id": f"enwiki-{i}", "text": line.strip()}) + "\n")
    classics = work / "zh_classics.jsonl"
    with open(classics, "w", encoding="utf-8") as f:
        for path in sorted((TEXT / "zh_classics").glob("*.json")):
            for i, text in enumerate(paragraph_groups(json.loads(path.read_text(encoding="utf-8")))):
                f.write(json.dumps({"id": f"{path.stem}-{i}", "text": text}, ensure_ascii=False) + "\n")
    return [en, TEXT / "c4_demo.jsonl", TEXT / "zh_wikipedia_cmrc2018_contexts.jsonl", classics]


def run(*args) -> str:
    print("$ xiulian", " ".join(map(str, args)), flush=True)
    proc = subprocess.run([*XIULIAN, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pretrain_prose"))
    args = parser.parse_args()
    work = args.work  # every step below resumes, so an interrupted run picks up where it was
    work.mkdir(parents=True, exist_ok=True)
    inputs = write_prose(work)
    run("clean", *inputs, "-o", work / "corpus", "--workers", "2", "-q")
    if not (work / "tok" / "tokenizer.json").is_file():
        run("tokenizer", "train", work / "corpus", "-o", work / "tok", "--vocab-size", args.vocab, "-q")
    started = time.time()
    run("pretrain", "--data", work / "corpus", "--tokenizer", work / "tok", "-o", work / "run",
              "--preset", "tiny", "--max-steps", args.steps, "--eval-every", max(1, args.steps // 15))
    minutes = (time.time() - started) / 60
    wikitext = json.loads(run("eval", work / "run", "--data", TEXT / "wikitext-2" / "valid.txt",
                              "--max-tokens", "200000", "--json"))
    records = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    speed = sorted(r["tokens_per_s"] for r in records if "tokens_per_s" in r)
    report = json.loads((work / "run" / "data" / "data.json").read_text())["report"]
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / "run" / "loss.png", img / "pretrain_prose_loss.png")
    sample = run("generate", work / "run", "--prompt", "The history of", "--max-new-tokens", "30",
                 "--temperature", "0").strip()
    sample_zh = run("generate", work / "run", "--prompt", "中国的历史", "--max-new-tokens", "30",
                    "--temperature", "0").strip()
    lines = [
        f"Command: `.venv/bin/python bench/pretrain_prose.py --steps {args.steps}` (2-core CPU, "
        f"{minutes:.1f} min of training).",
        "",
        f"Data: the shared English and Chinese prose cleaned with the default pipeline — "
        f"{report['documents']:,} documents, {report['tokens']:,} tokens; "
        f"{report['validation_documents']} held out for validation, "
        f"{report['dropped_overlapping_validation']} training documents dropped for overlapping them. "
        f"Tokenizer: {args.vocab:,}-token byte-level BPE trained on the same shards. "
        f"Model: `tiny` preset, AdamW, {args.steps} steps of 8 × 256 tokens.",
        "",
        "| step | " + " | ".join(str(s) for s, _ in val) + " |",
        "|---|" + "---|" * len(val),
        "| validation loss | " + " | ".join(f"{v:.3f}" for _, v in val) + " |",
        "",
        f"Median training speed {speed[len(speed) // 2]:,.0f} tokens/s. On WikiText-2 validation "
        f"(English, not trained on): perplexity {wikitext['perplexity']:.1f}, "
        f"{wikitext['bits_per_byte']:.3f} bits per byte over {wikitext['tokens']:,} tokens.",
        "",
        "Greedy samples (`xiulian generate run --prompt ... --temperature 0`):",
        "",
        f"- {sample!r}",
        f"- {sample_zh!r}",
        "",
        "![validation and training loss](img/pretrain_prose_loss.png)",
    ]
    heading = "## A pretraining run"
    write_section(heading, heading + "\n\n" + "\n".join(lines), ROOT / "docs" / "training.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
