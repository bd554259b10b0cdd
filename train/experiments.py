"""The lecture's claims as small controlled experiments on our own models.

Each experiment changes one thing against the recipe's own run (the same corpus, tokenizer,
checkpoints and budgets), measures the difference, and returns its section of the results page.
They run in the recipe's `evaluate` stage when `[evaluate] experiments` names them; their
outputs go to OUT/experiments/NAME/, and each `xiulian` command they run is printed and written
beside its numbers, so each can be replayed by hand.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from corpus.errors import UserError

from .recipe_report import evaluation_prompts, quote


def xiulian(args: list) -> str:
    """Run one `xiulian` command in-process (it resumes if already done); returns its text."""
    from corpus.cli import main
    args = [str(a) for a in args]
    line = "xiulian " + shlex.join(args)
    print(f"  $ {line}", flush=True)
    if main(args):
        raise UserError(f"experiment command failed: {line}")
    return line


def run_experiments(names: list[str], recipe: dict, out: Path, figures: Path) -> list[str]:
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise UserError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}")
    lines = ["### The lecture's claims, measured", ""]
    for name in names:
        print(f"[experiment] {name}", flush=True)
        work = out / "experiments" / name
        work.mkdir(parents=True, exist_ok=True)
        lines += EXPERIMENTS[name](recipe, out, work, figures)
    return lines


def _texts_by_language(shards: Path) -> dict[str, list[str]]:
    import pyarrow.parquet as pq
    texts: dict[str, list[str]] = {}
    for file in sorted(shards.glob("*.parquet")):
        table = pq.read_table(file, columns=["text", "language"]).to_pydict()
        for text, language in zip(table["text"], table["language"]):
            texts.setdefault(language, []).append(text)
    return texts


def tokens_per_character(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """Our tokenizer (trained on the mixed corpus) against a byte-level BPE of the same size
    trained on its English documents only: characters per token on each language's text."""
    from .tokenizer import Tokenizer, train_tokenizer
    ours = Tokenizer(out / "tokenizer")
    texts = _texts_by_language(out / "clean" / "shards")
    if not texts.get("en") or not texts.get("zh"):
        raise UserError("tokens_per_character needs English and Chinese documents in the cleaned corpus")
    english_only = work / "tokenizer_en"
    if not (english_only / "tokenizer.json").is_file():
        train_tokenizer(iter(texts["en"]), english_only, ours.vocab_size, progress=False)
    other = Tokenizer(english_only)
    rows, results = [], {}
    for label, tokenizer in (("ours (mixed corpus)", ours), ("English-only BPE", other)):
        results[label] = {}
        for language in ("en", "zh"):
            characters = sum(len(t) for t in texts[language])
            tokens = sum(len(tokenizer.encode(t)) for t in texts[language])
            results[label][language] = characters / tokens
        rows.append(f"| {label} | {results[label]['en']:.2f} | {results[label]['zh']:.2f} |")
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    en_chars = sum(map(len, texts["en"]))
    zh_chars = sum(map(len, texts["zh"]))
    ratio = results["ours (mixed corpus)"]["zh"] / results["English-only BPE"]["zh"]
    return ["#### Tokens per character", "",
            f"Both tokenizers have {ours.vocab_size:,} tokens; the English-only one is trained on the "
            "cleaned corpus's English documents alone (`train.tokenizer.train_tokenizer`, as `xiulian "
            "tokenizer train` does). Measured on all cleaned documents of each language "
            f"({en_chars:,} English and {zh_chars:,} Chinese characters).", "",
            "| tokenizer | English characters per token | Chinese characters per token |",
            "|---|---|---|", *rows, "",
            f"An English-only vocabulary spends {1 / results['English-only BPE']['zh']:.2f} tokens on a "
            f"Chinese character (the lecture: one Chinese character often costs ChatGPT two or three); "
            f"trained on both languages, ours packs {ratio:.1f}× as much Chinese text into each token.", ""]


def _with(command: list[str], **replace) -> list[str]:
    """A recipe stage's command with some options' values replaced (`init="x"`, `data=[...]`)."""
    command = list(command)
    for name, value in replace.items():
        flag = "-o" if name == "output" else "--" + name.replace("_", "-")
        at = command.index(flag)
        end = at + 1
        while end < len(command) and not command[end].startswith("-"):
            end += 1
        command[at + 1:end] = value if isinstance(value, list) else [str(value)]
    return command


def _stage(recipe: dict, out: Path, name: str) -> list[str]:
    from .recipe import stage_commands
    commands = stage_commands(recipe, out)
    if name not in commands:
        raise UserError(f"this experiment needs the recipe's [{name}] stage")
    return commands[name]


def _final_val(run: Path) -> dict:
    from .plots import read_metrics
    val = [r for r in read_metrics(run) if "val_loss" in r]
    return val[-1] if val else {}


def pretrained_vs_random(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """The same SFT data and steps from the pretrained checkpoint and from random weights."""
    import torch
    from .behaviour import behaviour
    from .checkpoint import load_model, load_tokenizer, save
    from .model import Transformer
    random_init = work / "random_init"
    if not (random_init / "config.json").is_file():
        torch.manual_seed(0)
        save(random_init, Transformer(load_model(out / "pretrain").config), load_tokenizer(out / "pretrain"))
    line = xiulian(_with(_stage(recipe, out, "sft"), init=random_init, output=work / "sft_from_random"))
    runs = {"from the pretrained checkpoint": out / "sft", "from random weights": work / "sft_from_random"}
    max_new = recipe.get("evaluate", {}).get("max_new_tokens", 64)
    prompts = evaluation_prompts(recipe.get("evaluate", {}))
    rows = []
    for label, run in runs.items():
        val, acts = _final_val(run), behaviour(run, prompts, True, max_new)
        rows.append(f"| {label} | {val.get('val_loss', float('nan')):.3f} | {acts['end_rate']:.0%} | "
                    f"{quote(acts['examples'].get('en', ('', ''))[1])} |")
    return ["#### Pretrained parameters are the key to fine-tuning", "",
            f"The recipe's SFT, once more from random weights: `{line}`.", "",
            "| SFT started | held-out SFT loss | ends its turn | first English reply |", "|---|---|---|---|",
            *rows, ""]


def cross_lingual(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """SFT on English instructions only; does the model then answer Chinese ones in Chinese, and stop?"""
    from .behaviour import behaviour
    data = recipe.get("evaluate", {}).get("cross_lingual_data")
    if not data:
        raise UserError("cross_lingual needs [evaluate] cross_lingual_data: English-only SFT files")
    line = xiulian(_with(_stage(recipe, out, "sft"), data=data, output=work / "sft_english_only"))
    prompts = evaluation_prompts(recipe.get("evaluate", {}), ("zh",))
    max_new = recipe.get("evaluate", {}).get("max_new_tokens", 64)
    rows = []
    for label, run, chat in (("base (pretrained, no SFT)", out / "pretrain", False),
                             ("SFT on English only", work / "sft_english_only", True),
                             ("SFT on English and Chinese (the recipe's)", out / "sft", True)):
        acts = behaviour(run, prompts, chat, max_new, keep_replies=True)
        chinese = sum(_mostly_chinese(r) for r in acts["replies"]) / len(prompts)
        rows.append(f"| {label} | {acts['end_rate']:.0%} | {chinese:.0%} | {quote(acts['examples']['zh'][1])} |")
    return ["#### Cross-lingual transfer", "",
            f"SFT with the recipe's settings on English instructions only: `{line}`; then "
            f"{len(prompts)} held-out Chinese instructions, greedy.", "",
            "| model | ends its turn | answers mostly in Chinese | first reply |", "|---|---|---|---|", *rows, ""]


def quality_weighting(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """Pretrain with the recipe's source/tier weights and with uniform sampling, equal steps and
    tokens; compare their loss on held-out documents of the up-weighted (clean prose) sources."""
    from .data import DataConfig, _choose_validation
    from .evaluate import evaluate_files
    from .shards import find_files, read_docs
    pretrain = _stage(recipe, out, "pretrain")
    config = _pretrain_config(pretrain)
    data = config.get("data", {})
    weighted = {s for s, w in data.get("source_weights", {}).items() if w > 1}
    if not weighted:
        raise UserError("quality_weighting needs a [pretrain] config whose [data] source_weights "
                        "weights some source above 1")
    uniform = _write_config(work / "uniform.toml", {**config, "data": {
        k: v for k, v in data.items() if k not in ("source_weights", "tier_weights")}})
    steps = recipe.get("evaluate", {}).get("experiment_pretrain_steps", 300)
    shards = str(out / "clean" / "shards")
    lines = []
    runs = {"weighted (the recipe's)": work / "pretrain_weighted", "uniform": work / "pretrain_uniform"}
    lines.append(xiulian(_with(pretrain, output=runs["weighted (the recipe's)"], max_steps=steps)))
    lines.append(xiulian(_with(pretrain, config=uniform, output=runs["uniform"], max_steps=steps)))
    files = find_files([shards])
    held_out = _choose_validation(files, DataConfig(**{k: v for k, v in data.items()
                                                      if k in ("val_fraction", "max_val_docs", "split_seed")}))
    prose = work / "held_out_prose.jsonl"
    with open(prose, "w", encoding="utf-8") as f:
        for path in files:
            for batch in read_docs(path):
                for doc in batch:
                    if doc.id in held_out and doc.source in weighted:
                        f.write(json.dumps({"id": doc.id, "text": doc.text}, ensure_ascii=False) + "\n")
    rows, results = [], {}
    for label, run in runs.items():
        result = evaluate_files(str(run), [str(prose)])
        results[label] = {"prose_loss": result["loss"], "bits_per_byte": result["bits_per_byte"],
                          "val_loss_all_sources": _final_val(run).get("val_loss")}
        rows.append(f"| {label} | {result['loss']:.4f} | {result['bits_per_byte']:.4f} | "
                    f"{results[label]['val_loss_all_sources']:.4f} |")
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    weights_text = ", ".join(f"{name} ×{data['source_weights'][name]:g}" for name in sorted(weighted))
    return ["#### High-quality text seen more often", "",
            f"Two pretraining runs of {steps} steps (the same tokens), with the recipe's source weights "
            f"({weights_text}) and with every "
            "source weighted 1:", "", *[f"- `{line}`" for line in lines], "",
            f"Loss on the up-weighted sources' held-out documents ({sum(1 for _ in open(prose))} documents "
            "never trained on), and on the held-out documents of all sources:", "",
            "| sampling | loss on held-out prose | bits per byte | loss on all held-out |", "|---|---|---|---|",
            *rows, ""]


def _pretrain_config(pretrain: list[str]) -> dict:
    """The recipe's pretraining config file as a dict ({} when it has none)."""
    import tomllib
    if "--config" not in pretrain:
        return {}
    return tomllib.loads(Path(pretrain[pretrain.index("--config") + 1]).read_text())


def _write_config(path: Path, config: dict) -> Path:
    """A pretraining config (tables of scalars and flat inline tables) as TOML."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)  # strings, numbers and booleans read back the same in TOML
    lines = []
    for table, values in config.items():
        lines += [f"[{table}]", *(f"{k} = {value(v)}" for k, v in values.items()), ""]
    path.write_text("\n".join(lines))
    return path


ADVERT = ("Harbourlight Kayak Co. — book a sunset paddle before 30 June and save 20% on your first trip! "
          "Visit our shop for dry bags, maps and guided tours along the coast.")
DEDUP_CONFIG = """# Only the corpus-wide dedup steps: the documents are already clean.
[[steps]]
use = "exact_dedup"

[[steps]]
use = "minhash_dedup"

[[steps]]
use = "repeated_paragraphs"
"""


def dedup_regurgitation(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """Pretrain on the corpus with an advert pasted into every document, and on its
    deduplicated version; how often does each model finish the advert from its first words?"""
    import random
    import pyarrow.parquet as pq
    evaluate = recipe.get("evaluate", {})
    steps = evaluate.get("experiment_pretrain_steps", 300)
    spam = work / "with_advert.jsonl"
    if not spam.is_file():
        rng = random.Random(0)
        with open(spam.with_suffix(".tmp"), "w", encoding="utf-8") as f:
            for file in sorted((out / "clean" / "shards").glob("*.parquet")):
                table = pq.read_table(file, columns=["id", "text"]).to_pydict()
                for doc_id, text in zip(table["id"], table["text"]):
                    paragraphs = text.split("\n")
                    paragraphs.insert(rng.randint(0, len(paragraphs)), ADVERT)
                    f.write(json.dumps({"id": doc_id, "text": "\n".join(paragraphs)}, ensure_ascii=False) + "\n")
        spam.with_suffix(".tmp").replace(spam)
    copies = sum(1 for _ in open(spam, encoding="utf-8"))
    config = work / "dedup.toml"
    config.write_text(DEDUP_CONFIG)
    clean_line = xiulian(["clean", spam, "-o", work / "deduped", "--config", config, "--workers", "1", "--quiet"])
    pretrain = _stage(recipe, out, "pretrain")
    # No validation split: holding out documents would drop every training document that shares
    # the advert with one of them, as a leak (train/data.py), which is the point of the holdout.
    config = _pretrain_config(pretrain)
    no_validation = _write_config(work / "pretrain.toml", {**config, "data": {
        **config.get("data", {}), "val_fraction": 0.0}})
    if "--config" not in pretrain:
        pretrain += ["--config", "-"]
    lines, results = [], {}
    for label, data, run in (("with the repeated advert", spam, work / "pretrain_with_advert"),
                             ("deduplicated", work / "deduped" / "shards", work / "pretrain_deduped")):
        lines.append(xiulian(_with(pretrain, data=[str(data)], output=run, max_steps=steps,
                                   config=no_validation)))
        results[label] = _regurgitation(run, evaluate.get("regurgitation_samples", 20))
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    kept = sum(ADVERT in line for line in _shard_texts(work / "deduped" / "shards"))
    rows = [f"| {label} | {r['rate']:.0%} ({r['hits']} of {r['samples']}) | {quote(r['example'])} |"
            for label, r in results.items()]
    return ["#### Deduplication prevents regurgitation", "",
            f"An advert paragraph pasted into each of the {copies:,} cleaned documents; dedup (`{clean_line}`) "
            f"leaves it in {kept} of them. Two models pretrained for {steps} steps each with the recipe's "
            "settings, one on each corpus:", "", *[f"- `{line}`" for line in lines], "",
            f"Each is given the advert's first words ({ADVERT_PROMPT!r}) and samples continuations at "
            "temperature 0.8; a continuation *regurgitates* when it reproduces the advert's next eight "
            "words.", "", "| pretrained on | regurgitates the advert | a continuation |", "|---|---|---|",
            *rows, ""]


ADVERT_PROMPT = " ".join(ADVERT.split()[:6])
ADVERT_REST = " ".join(ADVERT.split()[6:14])


def _shard_texts(shards: Path) -> list[str]:
    import pyarrow.parquet as pq
    return [t for file in sorted(shards.glob("*.parquet")) for t in pq.read_table(file, columns=["text"])["text"].to_pylist()]


def _regurgitation(run: Path, samples: int) -> dict:
    import torch
    from .checkpoint import load_model, load_tokenizer
    from .rollout import sample_answers
    tokenizer, model = load_tokenizer(run), load_model(run).eval()
    prompt = tokenizer.encode(ADVERT_PROMPT)
    if "bos" in tokenizer.special:
        prompt = [tokenizer.special["bos"]] + prompt
    with torch.no_grad():
        answers = sample_answers(model, [prompt] * samples, 40, temperature=0.8, seed=0)
    texts = [tokenizer.decode(a.ids) for a in answers]
    hits = sum(ADVERT_REST in " ".join(t.split()) for t in texts)
    return {"hits": hits, "samples": samples, "rate": hits / samples, "example": texts[0]}


def _mostly_chinese(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum("\u4e00" <= c <= "\u9fff" for c in letters) * 2 >= len(letters)


EXPERIMENTS = {
    "tokens_per_character": tokens_per_character,
    "pretrained_vs_random": pretrained_vs_random,
    "cross_lingual": cross_lingual,
    "dedup_regurgitation": dedup_regurgitation,
    "quality_weighting": quality_weighting,
}
