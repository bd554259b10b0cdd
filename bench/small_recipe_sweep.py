"""The small recipe's sweeps: which model fits an hour of pretraining on 2 CPU cores (speeds), and
which settings learn most in that budget (losses)?

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

`--losses` is the other half: sizes alone say what fits, not what learns. It pretrains each of
LOSS_POINTS (learning rates, vocabulary, batch, size) for the same number of tokens, each with its
own full schedule, and scores every held-out document as the results page does — bits per byte
against n-gram floors fit on the same training tokens — into "## The small recipe's loss sweep".
A point with another vocabulary gets its own tokenizer (trained the same way on the same shards)
and its own floors: a smaller vocabulary also weakens the trigram floor (three tokens span fewer
bytes), so the table gives both the model's bits per byte and the floor's, never the gap alone.

    /work/bin/heavy .venv/bin/python bench/small_recipe_sweep.py --recipe-out runs/small --losses
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
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


def pretrain(out: Path, recipe_out: Path, config: Path, steps: int, *flags: str, tokenizer: Path | None = None,
             threads: int | None = None) -> list[dict]:
    """A real `xiulian pretrain` of `steps` steps (the schedule ends there), or the records of one
    already run. The recipe's tokenised data is copied in when the tokenizer is the recipe's (the
    trainer checks its fingerprint), so each run does not tokenise the corpus again."""
    tokenizer = tokenizer or recipe_out / "tokenizer"
    if not (out / "metrics.jsonl").is_file() or len((out / "metrics.jsonl").read_text().splitlines()) < steps:
        if tokenizer == recipe_out / "tokenizer" and (recipe_out / "pretrain" / "data").is_dir() \
                and not (out / "data").exists():
            shutil.copytree(recipe_out / "pretrain" / "data", out / "data")
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        subprocess.run([sys.executable, "-m", "corpus.cli", "pretrain", "--data", str(recipe_out / "clean" / "shards"),
                        "--tokenizer", str(tokenizer), "-o", str(out), "--config", str(config),
                        "--max-steps", str(steps), "--eval-every", str(steps), *flags, "--quiet"],
                       cwd=ROOT, check=True, env=env)
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
    parser.add_argument("--losses", action="store_true", help="the loss sweep (LOSS_POINTS) instead of the speeds")
    parser.add_argument("--loss-steps", type=int, default=LOSS_STEPS)
    parser.add_argument("--jobs", type=int, default=2, help="loss-sweep runs side by side, one thread each")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.losses:
        loss_sweep(args)
    else:
        speed_sweep(args)


def speed_sweep(args) -> None:
    from corpus.config import read_toml
    base = read_toml(ROOT / "data" / "recipes" / "small" / "pretrain.toml")
    data = json.loads((args.recipe_out / "tokenizer" / "tokenizer.json").read_text())
    from train.data.token_shards import load_prepared
    from train.model.transformer import ModelConfig, Transformer
    rows, results, unique = [], {}, None
    for name, shape in CANDIDATES.items():
        folder = args.work / name.replace(" ", "_")
        config = write_config(args.work / f"{name.replace(' ', '_')}.toml", base, shape)
        records = pretrain(folder, args.recipe_out, config, args.speed_steps, "--optimizer", "muon")
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


# ---- the loss sweep -----------------------------------------------------------------------------
# Short runs, each with its own full schedule (warmup, cosine to a tenth), scored like the published
# run: bits per byte on every held-out document against n-gram floors fit on the same training
# tokens (train/recipes/report_pretraining.py). Loss at a fixed step count does not depend on the
# machine's load, so this part may share the machine (`/work/bin/heavy`).
LOSS_STEPS = 200
LOSS_SECTION = "## The small recipe's loss sweep"
RECIPE_POINT = {"dim": 192, "n_layers": 4, "lr": 2e-3, "muon_lr": 0.02, "warmup_steps": None, "vocab": 8192,
                "batch_size": 16}
LOSS_POINTS = {  # name: what differs from RECIPE_POINT (the published run's settings); run in pairs
    "published": {},
    "lr 6e-3, muon 0.05": {"lr": 6e-3, "muon_lr": 0.05},
    "lr 1.5e-2, muon 0.05": {"lr": 1.5e-2, "muon_lr": 0.05},
    "vocab 4096, lr 6e-3, muon 0.05": {"vocab": 4096, "lr": 6e-3, "muon_lr": 0.05},
    "d128, lr 6e-3, muon 0.05": {"dim": 128, "lr": 6e-3, "muon_lr": 0.05},
}


def point_config(path: Path, base: dict, point: dict) -> Path:
    model = {**base.get("model", {}), "dim": point["dim"], "n_layers": point["n_layers"]}
    train = {**base.get("train", {}), "optimizer": "muon", "lr": point["lr"], "muon_lr": point["muon_lr"],
             "batch_size": point["batch_size"]}
    train.pop("warmup_steps", None)
    if point["warmup_steps"] is not None:
        train["warmup_steps"] = point["warmup_steps"]
    from train.recipes.experiments import _write_config
    return _write_config(path, {**base, "model": model, "train": train})


def tokenizer_for(vocab: int, args) -> Path:
    """The recipe's tokenizer, or one of another size trained the same way on the same shards."""
    if vocab == RECIPE_POINT["vocab"]:
        return args.recipe_out / "tokenizer"
    folder = args.work / f"tokenizer_{vocab}"
    if not (folder / "tokenizer.json").is_file():
        subprocess.run([sys.executable, "-m", "corpus.cli", "tokenizer", "train", str(args.recipe_out / "clean" / "shards"),
                        "-o", str(folder), "--vocab-size", str(vocab), "--quiet"], cwd=ROOT, check=True)
    return folder


def score_point(name: str, point: dict, args, base: dict) -> dict:
    folder = args.work / "losses" / name.replace(" ", "_").replace(",", "")
    folder.mkdir(parents=True, exist_ok=True)
    scores = folder / "scores.json"
    if scores.is_file():
        return json.loads(scores.read_text())
    config = point_config(folder.parent / f"{folder.name}.toml", base, point)
    steps = args.loss_steps * RECIPE_POINT["batch_size"] // point["batch_size"]  # the same tokens
    records = pretrain(folder, args.recipe_out, config, steps, tokenizer=tokenizer_for(point["vocab"], args),
                       threads=1 if args.jobs > 1 else None)
    from train.recipes.report_pretraining import held_out_against_floors
    result = held_out_against_floors(folder)
    result["val_loss"] = [r["val_loss"] for r in records if "val_loss" in r][-1]
    result["train_tokens"] = sum(r.get("tokens", 0) for r in records if "loss" in r)
    scores.write_text(json.dumps(result, indent=2))
    return result


RULE = """**Tokens per parameter.** The budget is the wall clock of a shared machine: 45 to 60 minutes
of pretraining at 2,000–3,000 tokens/s, 6 to 7 M tokens, two to 2.5 epochs of the 2.9 M unique
tokens (within the ~4 epochs that Muennighoff et al. 2023 find nearly as good as new data).
Chinchilla's rule, about 20 training tokens per parameter at the compute-optimal size, would ask
for ~0.3 M non-embedding parameters. The recipe follows it as a bound, not a target: no model with
fewer than ~3 tokens per non-embedding parameter in the budget (d256 L4 has 2 to 2.5, so it is
out), and the loss sweep chooses among the sizes left at equal tokens, because at this width the
8,192-token embedding and output layer (half of d192's parameters, most of its arithmetic per
token) are costs that the 20:1 constant, fit on models a thousand times larger, does not count.
d192 (3.5 to 4.5 tokens per non-embedding parameter) beat d128 (7 to 9) at equal tokens; d128
reads about 27% more tokens per second (the speed sweep above), which a 200-step run cannot
weigh, and short runs favour small models, so d192 stays. One seed per point: differences of a
few hundredths of a bit per byte between points are indications, not results with intervals."""


def vocabulary_lines(points: dict, results: dict) -> list[str]:
    """What another vocabulary does to the floors: they are refit on its own tokens."""
    lines = []
    for name, p in points.items():
        if p["vocab"] != RECIPE_POINT["vocab"]:
            r = results[name]
            floors = ", ".join(f"{f['name']} {f['bits_per_byte']:.3f}" for f in r["floors"])
            lines += [f"Vocabulary {p['vocab']:,} ({name}) has its own tokenizer, trained the same way on the same "
                      f"shards, and its own floors fit on its own training tokens: {floors} bits per byte on the "
                      f"same documents ({r['tokens']:,} target tokens). Bits per byte compare across the two; "
                      "nats per token do not.", ""]
    return lines


def chosen_line(points: dict, base: dict) -> str:
    """Which point data/recipes/small/pretrain.toml now is (read from it, not typed)."""
    from train.core.config import TrainConfig
    model, train = base.get("model", {}), TrainConfig.from_dict(base.get("train", {}))
    for name, p in points.items():
        if (p["dim"], p["n_layers"], p["lr"], p["muon_lr"], p["batch_size"]) == (
                model.get("dim"), model.get("n_layers"), train.lr, train.muon_lr, train.batch_size):
            return f"`data/recipes/small/pretrain.toml` is the point **{name}**."
    return "`data/recipes/small/pretrain.toml` is none of these points."


def loss_sweep(args) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from corpus.config import read_toml
    base = read_toml(ROOT / "data" / "recipes" / "small" / "pretrain.toml")
    points = {name: {**RECIPE_POINT, **change} for name, change in LOSS_POINTS.items()}
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {name: pool.submit(score_point, name, point, args, base) for name, point in points.items()}
        results = {name: future.result() for name, future in futures.items()}
    rows = []
    for name, r in results.items():
        p, gap = points[name], r["floor_gap"]
        floor = min(r["floors"], key=lambda f: f["bits_per_byte"])
        steps = args.loss_steps * RECIPE_POINT["batch_size"] // p["batch_size"]
        rows.append(f"| {name} | d{p['dim']} L{p['n_layers']} | {r['parameters'] / 1e6:.2f} M | {p['vocab']:,} | "
                    f"{steps} × {p['batch_size']} | "
                    f"{p['lr']:g} | {p['muon_lr']:g} | {p['warmup_steps'] if p['warmup_steps'] is not None else 'default'} | "
                    f"{r['loss']:.3f} | **{r['bits_per_byte']:.3f}** | {floor['name']} {floor['bits_per_byte']:.3f} | "
                    f"{gap['mean']:.1%} ({gap['low']:.1%} to {gap['high']:.1%}) |")
    first = next(iter(results.values()))
    floors = ", ".join(f"{f['name']} {f['bits_per_byte']:.3f}" for f in first["floors"])
    (args.work / "losses.json").write_text(json.dumps({"points": points, "results": results}, indent=2))
    section = [LOSS_SECTION, "",
               f"`{' '.join(['/work/bin/heavy .venv/bin/python', 'bench/small_recipe_sweep.py', *sys.argv[1:]])}`; "
               f"{machine_line()}.", "",
               f"Each point pretrains {first['train_tokens']:,} tokens ({args.loss_steps} steps of 16 sequences of 256 unless "
               "its row says otherwise; its own schedule: linear "
               "warmup, then cosine to a tenth of the peak at the last step) from the small recipe's cleaned "
               "data, then scores every held-out document the way docs/RESULTS.md does: bits per byte against "
               "unigram, bigram and trigram count models fit on the same training tokens "
               f"(vocabulary 8,192: {floors} bits per byte on {first['documents']} documents), the gap with a "
               "95% bootstrap interval over documents. Context as `data/recipes/small/pretrain.toml`; "
               "Muon (`muon_lr`) for the hidden matrices, AdamW (`lr`) for the tied embedding and the gains; "
               "warmup `default` is 5% of the steps. Loss at a fixed step count does not depend on the "
               "machine's load, so these runs shared it.", "",
               "| point | model | parameters | vocabulary | steps × sequences | lr | muon_lr | warmup | nats per token | "
               "bits per byte | best floor | below the best floor (95% interval) |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|",
               *rows, "", *vocabulary_lines(points, results), chosen_line(points, base), "", RULE, ""]
    write_section(LOSS_SECTION, "\n".join(section), ROOT / "docs" / "training.md")
    print("\n".join(section))


if __name__ == "__main__":
    main()
