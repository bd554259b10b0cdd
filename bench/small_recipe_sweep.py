"""The small recipe's size sweep: which model fits an hour of pretraining on 2 CPU cores?

For a fixed compute budget, Chinchilla (Hoffmann et al. 2022) puts the loss-optimal model at
about 20 training tokens per parameter; a smaller model sees its data more often than it can use,
a larger one stops before it has seen enough. On a CPU the budget is wall-clock, and tokens per
second fall as the model grows, so the rule needs each size's measured speed:

  tokens(N) = tokens_per_second(N) x PRETRAIN_SECONDS,   pick the N whose tokens(N) / N is nearest 20

(parameters counted with the embedding: at these sizes it is most of the model and all of the
output layer's work). This script measures the speed of each candidate with a short real
`xiulian pretrain` run on the small recipe's own cleaned data and tokenizer (the same batch,
context and optimizer as the recipe), applies the rule, and compares Muon with AdamW on the
chosen size at equal steps. Run it alone (`/work/bin/quiet`) for speeds worth comparing; it writes
the "## The small recipe's sweep" section of docs/training.md.

    .venv/bin/python bench/small_recipe_sweep.py --recipe-out /tmp/small   # after --only clean tokenizer
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import machine_line, write_section  # noqa: E402

SECTION = "## The small recipe's sweep"
PRETRAIN_SECONDS = 45 * 60        # of the recipe's hour: the rest is cleaning, SFT, preferences, the page
TOKENS_PER_PARAMETER = 20
CANDIDATES = {                     # dim, layers, heads, kv heads
    "d192 L4": (192, 4, 4, 2), "d256 L4": (256, 4, 4, 2), "d256 L6": (256, 6, 4, 2),
    "d320 L6": (320, 6, 5, 1), "d384 L8": (384, 8, 6, 2),
}


def pretrain(out: Path, recipe_out: Path, config: Path, steps: int, optimizer: str) -> list[dict]:
    if not (out / "metrics.jsonl").is_file() or len((out / "metrics.jsonl").read_text().splitlines()) < steps:
        subprocess.run([sys.executable, "-m", "corpus.cli", "pretrain", "--data", str(recipe_out / "clean" / "shards"),
                        "--tokenizer", str(recipe_out / "tokenizer"), "-o", str(out), "--config", str(config),
                        "--max-steps", str(steps), "--eval-every", str(steps), "--optimizer", optimizer, "--quiet"],
                       cwd=ROOT, check=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def write_config(path: Path, base: dict, shape: tuple[int, int, int, int]) -> Path:
    dim, layers, heads, kv = shape
    model = {**base.get("model", {}), "dim": dim, "n_layers": layers, "n_heads": heads, "n_kv_heads": kv}
    lines = ["[model]", *(f"{k} = {json.dumps(v)}" for k, v in model.items()), "", "[train]",
             *(f"{k} = {json.dumps(v)}" for k, v in base.get("train", {}).items() if k != "optimizer"), ""]
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe-out", type=Path, required=True, help="OUT of `recipe run small.toml --only clean tokenizer`")
    parser.add_argument("--work", type=Path, default=Path("/tmp/small_sweep"))
    parser.add_argument("--speed-steps", type=int, default=12)
    parser.add_argument("--optimizer-steps", type=int, default=0, help="Muon vs AdamW steps on the chosen size (0: skip)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = tomllib.loads((ROOT / "data" / "recipes" / "small" / "pretrain.toml").read_text())
    data = json.loads((args.recipe_out / "tokenizer" / "tokenizer.json").read_text())
    rows, chosen = [], None
    results = {}
    for name, shape in CANDIDATES.items():
        config = write_config(args.work / f"{name.replace(' ', '_')}.toml", base, shape)
        records = pretrain(args.work / name.replace(" ", "_"), args.recipe_out, config, args.speed_steps, "muon")
        speeds = [r["tokens_per_s"] for r in records if "tokens_per_s" in r][2:]  # the first steps warm up
        params = json.loads((args.work / name.replace(" ", "_") / "checkpoint" / "config.json").read_text())
        from train.model.transformer import ModelConfig, Transformer
        n = Transformer(ModelConfig(**params["model"])).num_params()
        speed = statistics.median(speeds)
        tokens = speed * PRETRAIN_SECONDS
        results[name] = {"parameters": n, "tokens_per_s": speed, "tokens_in_budget": tokens,
                         "tokens_per_parameter": tokens / n}
        rows.append(f"| {name} | {n / 1e6:.2f} M | {speed:,.0f} | {tokens / 1e6:.1f} M | {tokens / n:.1f} |")
    chosen = min(results, key=lambda k: abs(results[k]["tokens_per_parameter"] - TOKENS_PER_PARAMETER))
    (args.work / "sweep.json").write_text(json.dumps({"vocab": len(data["model"]["vocab"]), **results}, indent=2))
    section = [SECTION, "",
               f"`{' '.join(['.venv/bin/python', 'bench/small_recipe_sweep.py', *sys.argv[1:]])}`; {machine_line()}.", "",
               f"Each candidate pretrains {args.speed_steps} steps (Muon, batch and context as "
               "`data/recipes/small/pretrain.toml`) on the small recipe's cleaned data; speed is the median of "
               f"steps 3 on. Budget: {PRETRAIN_SECONDS // 60} minutes of pretraining. Rule: about "
               f"{TOKENS_PER_PARAMETER} tokens per parameter (Chinchilla's compute-optimal ratio).", "",
               "| model | parameters | tokens/s | tokens in the budget | tokens per parameter |", "|---|---|---|---|---|",
               *rows, "", f"Nearest to {TOKENS_PER_PARAMETER} tokens per parameter: **{chosen}**.", ""]
    write_section(SECTION, "\n".join(section), ROOT / "docs" / "training.md")
    print("\n".join(section))


if __name__ == "__main__":
    main()
