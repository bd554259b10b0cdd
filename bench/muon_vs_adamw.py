"""Muon vs AdamW: validation loss at equal tokens, the same model, data, seed and schedule.

Two `xiulian pretrain` runs of the `tiny` preset on the shared English and Chinese prose (cleaned
and tokenized as bench/pretrain_prose.py does, in the same work folder), one with
`--optimizer adamw`, one with `--optimizer muon` (Muon for the hidden matrices, AdamW for
embeddings, output head and norm gains). Same steps, batch, warmup and cosine schedule; each
optimizer at its default peak rate (AdamW 3e-3, Muon 0.02). Plots both validation curves against
tokens into docs/img/muon_vs_adamw.png and writes the "## Muon vs AdamW" section of
docs/BENCHMARKS.md.

    .venv/bin/python bench/muon_vs_adamw.py                   # 1000 steps each, ~8 minutes on 2 cores
    .venv/bin/python bench/muon_vs_adamw.py --steps 2000 --work /tmp/pretrain_prose
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from benchdocs import command, machine_line, versions, write_section  # noqa: E402
from pretrain_prose import run, write_prose  # noqa: E402

SECTION = "## Muon vs AdamW"
OPTIMIZERS = ("adamw", "muon")


def train(work: Path, optimizer: str, steps: int, eval_every: int) -> dict:
    """One pretraining run (resumed if there); its validation curve and speed from metrics.jsonl."""
    out = work / f"run_{optimizer}_{steps}"
    run("pretrain", "--data", work / "corpus", "--tokenizer", work / "tok", "-o", out, "--preset", "tiny",
        "--max-steps", steps, "--eval-every", eval_every, "--optimizer", optimizer, "--quiet")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tokens = {r["step"]: r["tokens"] for r in records if "tokens" in r}
    seen, cumulative = 0, {}
    for step in sorted(tokens):
        seen += tokens[step]
        cumulative[step] = seen
    val = [(r["step"], cumulative.get(r["step"], 0), r["val_loss"]) for r in records if "val_loss" in r]
    steps_timed = [r for r in records if "tokens_per_s" in r]
    speed = [r["tokens_per_s"] for r in steps_timed]
    # Training time from the steps' own timings, so a run resumed from an earlier session (or
    # found finished) reports the time its steps took, not this call's.
    train_s = sum(r["tokens"] / r["tokens_per_s"] for r in steps_timed if r["tokens_per_s"])
    return {"run": str(out), "val": val, "tokens_per_s": statistics.median(speed) if speed else None,
            "train_s": train_s}


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, r in results.items():
        ax.plot([t / 1e6 for _, t, _ in r["val"]], [v for _, _, v in r["val"]], marker="o", ms=3,
                label=name)
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("validation loss")
    ax.set_title("tiny preset on the shared prose: Muon vs AdamW")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results: dict, args, image: Path) -> str:
    adamw, muon = results["adamw"]["val"], results["muon"]["val"]
    steps = [s for s, _, _ in adamw]
    rows = [f"| {s:,} | {t / 1e6:.2f} | {a:.3f} | {m:.3f} | {m - a:+.3f} |"
            for (s, t, a), (_, _, m) in zip(adamw, muon)]
    target = adamw[-1][2]  # AdamW's final loss: when does Muon first reach it?
    reached = next((s for s, _, v in muon if v <= target), None)
    speed = {k: r["tokens_per_s"] for k, r in results.items()}
    return "\n".join([
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine_line()}, {versions(['torch'])}, by "
        f"`{command(__file__)}`. Two `xiulian pretrain --preset tiny` runs of {args.steps} steps "
        "(8 × 256 tokens each) on the shared English and Chinese prose, the same seed, data order, "
        "warmup and cosine schedule; only `--optimizer` differs. Validation loss on the held-out "
        "documents every " f"{steps[1] - steps[0] if len(steps) > 1 else steps[0]} steps:", "",
        f"![validation loss against tokens, Muon and AdamW]({image.relative_to(ROOT / 'docs')})", "",
        "| step | tokens (M) | AdamW | Muon | Muon − AdamW |", "|---:|---:|---:|---:|---:|", *rows, "",
        f"- Final validation loss: AdamW {adamw[-1][2]:.3f}, Muon {muon[-1][2]:.3f}. "
        + (f"Muon reaches AdamW's final loss at step {reached:,} of {args.steps:,} "
           f"({reached / args.steps:.0%} of the tokens)." if reached else
           "Muon does not reach AdamW's final loss within these steps."),
        f"- Median training speed: AdamW {speed['adamw']:,.0f} tokens/s, Muon {speed['muon']:,.0f} "
        "tokens/s (Muon's five Newton–Schulz iterations per matrix per step cost "
        f"{1 - speed['muon'] / speed['adamw']:.0%} of the throughput here); training "
        f"steps took {results['adamw']['train_s'] / 60:.1f} and {results['muon']['train_s'] / 60:.1f} min.",
        "- Rates are each optimizer's default (`lr` 3e-3 for AdamW, `muon_lr` 0.02 for Muon's "
        "matrices), not tuned for this comparison; Muon's embeddings, head and gains use AdamW at `lr`.",
        ""])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000, help="optimizer steps per run")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--work", type=Path, default=Path("/tmp/pretrain_prose"),
                    help="shared with bench/pretrain_prose.py: the cleaned prose and tokenizer are reused")
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/ alone")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    run("clean", *write_prose(args.work), "-o", args.work / "corpus", "--workers", "2", "-q")
    if not (args.work / "tok" / "tokenizer.json").is_file():
        run("tokenizer", "train", args.work / "corpus", "-o", args.work / "tok", "--vocab-size", args.vocab, "-q")
    eval_every = max(1, args.steps // 12)
    results = {name: train(args.work, name, args.steps, eval_every) for name in OPTIMIZERS}
    image = ROOT / "docs" / "img" / "muon_vs_adamw.png"
    if not args.no_docs:
        plot(results, image)
    section = report(results, args, image)
    print(section)
    if not args.no_docs:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
