"""The small recipe's size sweep: which model fits an hour of pretraining on 2 CPU cores?

The rule. Chinchilla (Hoffmann et al. 2022) puts the compute-optimal model at about 20 training
tokens per (non-embedding) parameter. Our corpus is small — about 3 M unique tokens — so the
budget is capped by data before compute: Muennighoff et al. (2023) find up to about 4 epochs of
repeated data nearly as good as new data, and little gain beyond. So the recipe reads EPOCHS
epochs of its unique tokens, and takes the largest model that reads them in the pretraining
budget; when that model has fewer than 20 tokens per parameter, it is because a data-capped
budget has no better use for its compute than more parameters (Muennighoff's data-constrained
allocation), and the table says how far from 20 it is.

On a CPU the budget is wall-clock and tokens per second fall as the model grows, so the rule
needs each size's measured speed: this script times each candidate with a short real `xiulian
pretrain` run on the small recipe's own cleaned data and tokenizer (the recipe's batch, context and
optimizer). Run it alone (`/work/bin/quiet`) for speeds worth comparing; it writes the
"## The small recipe's sweep" section of docs/training.md.

    .venv/bin/python bench/small_recipe_sweep.py --recipe-out /tmp/small   # after --only clean tokenizer
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import machine_line, write_section  # noqa: E402

SECTION = "## The small recipe's sweep"
PRETRAIN_SECONDS = 40 * 60        # of the recipe's hour: the rest is cleaning, SFT, preferences, the page
TOKENS_PER_PARAMETER = 20
EPOCHS = 4
CANDIDATES = {                     # dim, layers, heads, kv heads
    "d128 L4": (128, 4, 4, 2), "d192 L4": (192, 4, 4, 2), "d256 L4": (256, 4, 4, 2), "d256 L6": (256, 6, 4, 2),
}


def pretrain(out: Path, recipe_out: Path, config: Path, steps: int, optimizer: str) -> list[dict]:
    if not (out / "metrics.jsonl").is_file() or len((out / "metrics.jsonl").read_text().splitlines()) < steps:
        subprocess.run([sys.executable, "-m", "corpus.cli", "pretrain", "--data", str(recipe_out / "clean" / "shards"),
                        "--tokenizer", str(recipe_out / "tokenizer"), "-o", str(out), "--config", str(config),
                        "--max-steps", str(steps), "--eval-every", str(steps), "--optimizer", optimizer, "--quiet"],
                       cwd=ROOT, check=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def write_config(path: Path, base: dict, shape: tuple[int, int, int, int]) -> Path:
    """The recipe's pretraining config with another model shape (as the experiments write theirs)."""
    from train.recipes.experiments import _write_config
    dim, layers, heads, kv = shape
    model = {**base.get("model", {}), "dim": dim, "n_layers": layers, "n_heads": heads, "n_kv_heads": kv}
    return _write_config(path, {**base, "model": model})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe-out", type=Path, required=True, help="OUT of `recipe run small.toml --only clean tokenizer`")
    parser.add_argument("--work", type=Path, default=Path("/tmp/small_sweep"))
    parser.add_argument("--speed-steps", type=int, default=12)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from corpus.config import read_toml
    base = read_toml(ROOT / "data" / "recipes" / "small" / "pretrain.toml")
    data = json.loads((args.recipe_out / "tokenizer" / "tokenizer.json").read_text())
    from train.data.token_shards import load_prepared
    from train.model.transformer import ModelConfig, Transformer
    rows, results, unique = [], {}, None
    for name, shape in CANDIDATES.items():
        folder = args.work / name.replace(" ", "_")
        config = write_config(args.work / f"{name.replace(' ', '_')}.toml", base, shape)
        records = pretrain(folder, args.recipe_out, config, args.speed_steps, "muon")
        speeds = [r["tokens_per_s"] for r in records if "tokens_per_s" in r][2:]  # the first steps warm up
        model = Transformer(ModelConfig(**json.loads((folder / "checkpoint" / "config.json").read_text())["model"]))
        embedding = model.embed_tokens.weight.numel()
        if unique is None:
            unique = load_prepared(folder / "data").report["tokens"]
        speed = statistics.median(speeds)
        tokens = min(speed * PRETRAIN_SECONDS, EPOCHS * unique)
        results[name] = {"parameters": model.num_params(), "non_embedding": model.num_params() - embedding,
                         "tokens_per_s": speed, "epochs_in_budget": speed * PRETRAIN_SECONDS / unique,
                         "tokens_per_non_embedding_parameter": tokens / (model.num_params() - embedding)}
        r = results[name]
        rows.append(f"| {name} | {r['parameters'] / 1e6:.2f} M | {r['non_embedding'] / 1e6:.2f} M | {speed:,.0f} | "
                    f"{r['epochs_in_budget']:.1f} | {r['tokens_per_non_embedding_parameter']:.1f} |")
    fits = [k for k, r in results.items() if r["epochs_in_budget"] >= EPOCHS]
    chosen = max(fits, key=lambda k: results[k]["parameters"]) if fits else min(
        results, key=lambda k: results[k]["parameters"])
    (args.work / "sweep.json").write_text(json.dumps({"unique_tokens": unique, "vocab": len(data["model"]["vocab"]),
                                                      "chosen": chosen, **results}, indent=2))
    section = [SECTION, "",
               f"`{' '.join(['.venv/bin/python', 'bench/small_recipe_sweep.py', *sys.argv[1:]])}`; {machine_line()}.", "",
               f"Each candidate pretrains {args.speed_steps} steps (Muon, batch and context as "
               "`data/recipes/small/pretrain.toml`) on the small recipe's cleaned data "
               f"({unique:,} unique training tokens, vocabulary {len(data['model']['vocab']):,}); speed is the "
               f"median of steps 3 on. Budget: {PRETRAIN_SECONDS // 60} minutes of pretraining. Rule (the "
               f"script's docstring): {EPOCHS} epochs of the unique tokens, then the largest model that reads them "
               f"in the budget, its tokens per non-embedding parameter against Chinchilla's {TOKENS_PER_PARAMETER}.", "",
               "| model | parameters | non-embedding | tokens/s | epochs in the budget | tokens per non-embedding "
               "parameter |", "|---|---|---|---|---|---|", *rows, "", f"Chosen: **{chosen}**.", ""]
    write_section(SECTION, "\n".join(section), ROOT / "docs" / "training.md")
    print("\n".join(section))


if __name__ == "__main__":
    main()
