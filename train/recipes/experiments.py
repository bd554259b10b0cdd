"""The lecture's claims as small controlled experiments on our own models.

Each experiment changes one thing against the recipe's own run (the same corpus, tokenizer,
checkpoints and budgets), measures the difference, and returns its section of the results page.
They run in the recipe's `evaluate` stage when `[evaluate] experiments` names them; their
outputs go to OUT/experiments/NAME/, and each `xiulian` command they run is printed and written
beside its numbers, so each can be replayed by hand. The tokenizer and pretraining experiments
are here, the instruction-tuning ones in experiments_sft.py; EXPERIMENTS names them all.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from corpus.errors import UserError
from corpus.output_layout import SHARDS_DIR

from .experiment_commands import _final_val, _stage, _with, xiulian
from .experiments_sft import cross_lingual, pretrained_vs_random, quality_vs_quantity
from .report import quote
from train.eval.intervals import claim, seed_interval, verdict_word


def run_experiments(names: list[str], recipe: dict, out: Path, figures: Path,
                    own_page: bool = False) -> list[str]:
    """The experiments' sections: under a "### The lecture's claims" heading of the recipe's page,
    or one level up where the page holds nothing else (`own_page`, [evaluate] experiments_only)."""
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise UserError(f"unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}")
    lines = []
    for name in names:
        print(f"[experiment] {name}", flush=True)
        work = out / "experiments" / name
        work.mkdir(parents=True, exist_ok=True)
        lines += EXPERIMENTS[name](recipe, out, work, figures)
    if own_page:
        return [line[1:] if line.startswith("#### ") else line for line in lines]
    return ["### The lecture's claims, measured", "", *lines]


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
    from train.model.tokenizer import Tokenizer, train_tokenizer
    ours = Tokenizer(out / "tokenizer")
    texts = _texts_by_language(out / "clean" / SHARDS_DIR)
    if not texts.get("en") or not texts.get("zh"):
        raise UserError("tokens_per_character needs English and Chinese documents in the cleaned corpus")
    english_only = work / "tokenizer_en"
    if not (english_only / "tokenizer.json").is_file():
        train_tokenizer(iter(texts["en"]), english_only, ours.vocab_size, progress=False)
    other = Tokenizer(english_only)
    import numpy as np
    from train.eval.intervals import bootstrap_interval
    rows, results, per_doc = [], {}, {}
    characters = {language: np.array([len(t) for t in texts[language]], np.float64) for language in ("en", "zh")}
    for label, tokenizer in (("ours (mixed corpus)", ours), ("English-only BPE", other)):
        results[label] = {}
        for language in ("en", "zh"):
            per_doc[label, language] = np.array([len(ids) for ids in tokenizer.encode_batch(texts[language])],
                                                np.float64)
            results[label][language] = characters[language].sum() / per_doc[label, language].sum()
        rows.append(f"| {label} | {results[label]['en']:.2f} | {results[label]['zh']:.2f} |")
    ours_zh, other_zh = per_doc["ours (mixed corpus)", "zh"], per_doc["English-only BPE", "zh"]
    packing = bootstrap_interval(lambda i: other_zh[i].sum() / ours_zh[i].sum(), len(ours_zh))
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    en_chars = sum(map(len, texts["en"]))
    zh_chars = sum(map(len, texts["zh"]))
    return ["#### Tokens per character", "",
            f"Both tokenizers have {ours.vocab_size:,} tokens; the English-only one is trained on the "
            "cleaned corpus's English documents alone (`train.model.tokenizer.train_tokenizer`, as `xiulian "
            "tokenizer train` does). Measured on all cleaned documents of each language "
            f"({en_chars:,} English and {zh_chars:,} Chinese characters).", "",
            "| tokenizer | English characters per token | Chinese characters per token |",
            "|---|---|---|", *rows, "",
            f"An English-only vocabulary spends {1 / results['English-only BPE']['zh']:.2f} tokens on a "
            f"Chinese character (the lecture: one Chinese character often costs ChatGPT two or three); "
            f"trained on both languages, ours packs {packing.mean:.1f}× as much Chinese text into each token "
            f"(95% interval over the {packing.n:,} Chinese documents, bootstrap: {packing.low:.1f}× to "
            f"{packing.high:.1f}×), so that a mixed vocabulary makes Chinese cheaper is "
            f"{verdict_word(packing, 1.0)}.", ""]


def quality_weighting(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """Pretrain with the recipe's source/tier weights and with uniform sampling, equal steps and
    tokens; compare their loss on held-out documents of the up-weighted (clean prose) sources."""
    from train.data.shards import find_files, read_docs
    from train.data.token_shards import DataConfig, _choose_validation
    from train.eval.perplexity import evaluate_files
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
    seeds = experiment_seeds(recipe)
    shards = str(out / "clean" / SHARDS_DIR)
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
    settings = {"weighted (the recipe's)": ("pretrain_weighted", None), "uniform": ("pretrain_uniform", uniform)}
    lines, results = [], {label: [] for label in settings}
    for seed in seeds:
        for label, (name, config_file) in settings.items():
            run = work / f"{name}_seed{seed}"
            command = _with(pretrain, output=run, max_steps=steps, **({"config": config_file} if config_file else {}))
            lines.append(xiulian(with_seed(command, seed)))
            result = evaluate_files(str(run), [str(prose)], floors=False)
            results[label].append({"seed": seed, "prose_loss": result["loss"], "bits_per_byte": result["bits_per_byte"],
                                   "val_loss_all_sources": _final_val(run).get("val_loss")})
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = [f"| {label} | {seed_interval(r['prose_loss'] for r in runs).format('.4f')} | "
            f"{seed_interval(r['bits_per_byte'] for r in runs).format('.4f')} | "
            f"{seed_interval(r['val_loss_all_sources'] for r in runs).format('.4f')} |" for label, runs in results.items()]
    weighted_runs, uniform_runs = results["weighted (the recipe's)"], results["uniform"]
    diff = seed_interval(w["prose_loss"] - u["prose_loss"] for w, u in zip(weighted_runs, uniform_runs))
    weights_text = ", ".join(f"{name} ×{data['source_weights'][name]:g}" for name in sorted(weighted))
    return ["#### High-quality text seen more often", "",
            f"Pretraining runs of {steps} steps (the same tokens), with the recipe's source weights "
            f"({weights_text}) and with every source weighted 1, each with seeds {', '.join(map(str, seeds))}:",
            "", *[f"- `{line}`" for line in lines], "",
            f"Loss on the up-weighted sources' held-out documents ({sum(1 for _ in open(prose))} documents "
            "never trained on), and on the held-out documents of all sources; mean [95% interval over seeds]:", "",
            "| sampling | loss on held-out prose | bits per byte | loss on all held-out |", "|---|---|---|---|",
            *rows, "",
            f"Weighted minus uniform, loss on held-out prose: {diff.format('+.4f')} over {diff.n} seeds (paired by "
            f"seed); {claim(diff, 'that seeing clean prose more often lowers its held-out loss', -1)}.", ""]


def experiment_seeds(recipe: dict) -> list[int]:
    """`[evaluate] experiment_seeds` (default 3): the seeds each experiment's runs repeat with."""
    count = int(recipe.get("evaluate", {}).get("experiment_seeds", 3))
    if count < 1:
        raise UserError("[evaluate] experiment_seeds must be at least 1")
    return list(range(count))


def with_seed(command: list[str], seed: int) -> list[str]:
    return _with(command, seed=seed) if "--seed" in command else [*command, "--seed", str(seed)]


def _pretrain_config(pretrain: list[str]) -> dict:
    """The recipe's pretraining config file as a dict ({} when it has none)."""
    from corpus.config import read_toml
    if "--config" not in pretrain:
        return {}
    return read_toml(pretrain[pretrain.index("--config") + 1])


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
DEDUP_STEPS = ("exact_dedup", "minhash_dedup", "repeated_paragraphs")
DEDUP_CONFIG = ("# Only the corpus-wide dedup steps: the documents are already clean.\n"
                + "\n".join(f'[[steps]]\nuse = "{step}"\n' for step in DEDUP_STEPS))


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
            for file in sorted((out / "clean" / SHARDS_DIR).glob("*.parquet")):
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
    # the advert with one of them, as a leak (train/data/token_shards.py), which is the point of the holdout.
    config = _pretrain_config(pretrain)
    no_validation = _write_config(work / "pretrain.toml", {**config, "data": {
        **config.get("data", {}), "val_fraction": 0.0}})
    if "--config" not in pretrain:
        pretrain += ["--config", "-"]
    lines, results = [], {}
    seeds = experiment_seeds(recipe)
    for label, data, name in (("with the repeated advert", spam, "pretrain_with_advert"),
                              ("deduplicated", work / "deduped" / SHARDS_DIR, "pretrain_deduped")):
        results[label] = []
        for seed in seeds:
            run = work / f"{name}_seed{seed}"
            lines.append(xiulian(with_seed(_with(pretrain, data=[str(data)], output=run, max_steps=steps,
                                                 config=no_validation), seed)))
            results[label].append({"seed": seed, **_regurgitation(run, evaluate.get("regurgitation_samples", 20))})
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    kept = sum(ADVERT in line for line in _shard_texts(work / "deduped" / SHARDS_DIR))

    def over_seeds(runs: list[dict], key: str, spec: str, within=(-math.inf, math.inf)) -> str:
        return seed_interval((r[key] for r in runs), within).format(spec)

    words, share = (0, len(ADVERT_NEXT)), (0.0, 1.0)
    rows = [f"| {label} | {quote(runs[0]['greedy'], 60)} | {over_seeds(runs, 'greedy_words', '.1f', words)} | "
            f"{over_seeds(runs, 'mean_words', '.1f', words)} | {over_seeds(runs, 'rate', '.0%', share)} | "
            f"{over_seeds(runs, 'advert_loss', '.2f', (0.0, math.inf))} | "
            f"{over_seeds(runs, 'advert_tokens_guessed', '.0%', share)} |"
            for label, runs in results.items()]
    advert, deduped = results["with the repeated advert"], results["deduplicated"]
    loss_gap = seed_interval(d["advert_loss"] - a["advert_loss"] for a, d in zip(advert, deduped))
    words_gap = seed_interval((a["mean_words"] - d["mean_words"] for a, d in zip(advert, deduped)),
                              (-len(ADVERT_NEXT), len(ADVERT_NEXT)))
    first = advert[0]
    return ["#### Does deduplication prevent regurgitation?", "",
            f"An advert paragraph pasted into each of the {copies:,} cleaned documents; dedup (`{clean_line}`) "
            f"leaves it in {kept} of them. Models pretrained for {steps} steps each with the recipe's "
            f"settings, one on each corpus, with seeds {', '.join(map(str, seeds))}:", "",
            *[f"- `{line}`" for line in lines], "",
            f"Each is given the advert's first words ({ADVERT_PROMPT!r}) and continues them greedily and in "
            f"{first['samples']} samples at temperature 0.8. *Words reproduced*: how many of "
            f"the advert's next {len(ADVERT_NEXT)} words a continuation repeats in order from its start (the "
            "longest matching word prefix; case and punctuation aside); a sample *regurgitates* when the "
            "advert's next eight words appear in it verbatim. Without generating: the model's loss on the "
            f"rest of the advert given its first words (nats per token, {first['advert_tokens']} "
            "tokens), and the share of those tokens it would pick greedily given the true text before them. "
            "Each cell: mean [95% interval over seeds]; the greedy continuation is seed 0's.", "",
            "| pretrained on | greedy continuation | words reproduced, greedy | mean over the samples | "
            "samples that regurgitate | loss on the advert's rest | its tokens guessed |",
            "|---|---|---|---|---|---|---|", *rows, "",
            f"Deduplicated minus advert-trained, loss on the advert's rest: {loss_gap.format('+.2f')}; "
            f"{claim(loss_gap, 'that the repeated advert is memorised (its loss lower without dedup)', 1)}. "
            f"Advert-trained minus deduplicated, words reproduced per sample: {words_gap.format('+.1f')}; "
            f"{claim(words_gap, 'that the repeated advert is regurgitated more without dedup', 1)}.", ""]


ADVERT_WORDS = ADVERT.split()
ADVERT_PROMPT = " ".join(ADVERT_WORDS[:6])
ADVERT_NEXT = ADVERT_WORDS[6:]            # what a model that memorised the advert would write
ADVERT_REST = " ".join(ADVERT_NEXT[:8])


def words_reproduced(continuation: str, prompt: str = ADVERT_PROMPT, text: str = ADVERT) -> int:
    """How many of `text`'s words after `prompt` (a word prefix of it) a continuation of `prompt`
    repeats in order from its start: graded where "all eight words or nothing" says little.
    Case and a word's surrounding punctuation are ignored ("Trip" matches "trip!"); a continuation
    glued onto the prompt's last word ("a" + "sunset" = "asunset") matches none."""
    def words(s: str) -> list[str]:
        return [w.strip(PUNCTUATION).casefold() for w in s.split()]
    prompt_words, expected = words(prompt), words(text)[len(prompt.split()):]
    written = words(prompt + continuation)
    if written[:len(prompt_words)] != prompt_words:
        return 0
    count = 0
    for got, want in zip(written[len(prompt_words):], expected):
        if got != want:
            break
        count += 1
    return count


PUNCTUATION = ".,;:!?\"'()[]—-…“”‘’"


def _advert_likelihood(model, tokenizer, prefix: list[int]) -> dict:
    """Teacher-forced on the advert's rest after its first words: the loss per token, and the
    share of its tokens the model would pick greedily given the true text before them."""
    import torch
    import torch.nn.functional as F
    first = tokenizer.encode(ADVERT_PROMPT)
    whole = tokenizer.encode(ADVERT)
    rest = whole[len(first):] if whole[:len(first)] == first else tokenizer.encode(" " + " ".join(ADVERT_NEXT))
    ids = torch.tensor([prefix + rest])
    with torch.no_grad():
        logits = model(ids[:, :-1])[0, len(prefix) - 1:].float()
    targets = ids[0, len(prefix):]
    return {"advert_loss": F.cross_entropy(logits, targets).item(),
            "advert_tokens_guessed": (logits.argmax(-1) == targets).float().mean().item(),
            "advert_tokens": len(rest)}


def _shard_texts(shards: Path) -> list[str]:
    import pyarrow.parquet as pq
    return [t for file in sorted(shards.glob("*.parquet")) for t in pq.read_table(file, columns=["text"])["text"].to_pylist()]


def _regurgitation(run: Path, samples: int) -> dict:
    import torch

    from train.model.checkpoint import load_model, load_tokenizer
    from train.serve.rollout import sample_answers
    tokenizer, model = load_tokenizer(run), load_model(run).eval()
    prompt = tokenizer.encode(ADVERT_PROMPT)
    if "bos" in tokenizer.special:
        prompt = [tokenizer.special["bos"]] + prompt
    # Room for the whole rest of the advert, and a little more.
    budget = max(40, len(tokenizer.encode(" " + " ".join(ADVERT_NEXT))) + 8)
    with torch.no_grad():
        greedy = tokenizer.decode(sample_answers(model, [prompt], budget, temperature=0)[0].ids)
        answers = sample_answers(model, [prompt] * samples, budget, temperature=0.8, seed=0)
    texts = [tokenizer.decode(a.ids) for a in answers]
    hits = sum(ADVERT_REST in " ".join(t.split()) for t in texts)
    reproduced = [words_reproduced(t) for t in texts]
    return {**_advert_likelihood(model, tokenizer, prompt), "greedy": greedy, "greedy_words": words_reproduced(greedy), "of_words": len(ADVERT_NEXT),
            "mean_words": sum(reproduced) / samples, "words_per_sample": reproduced,
            "hits": hits, "samples": samples, "rate": hits / samples, "example": texts[0]}


EXPERIMENTS = {
    "tokens_per_character": tokens_per_character,
    "pretrained_vs_random": pretrained_vs_random,
    "cross_lingual": cross_lingual,
    "dedup_regurgitation": dedup_regurgitation,
    "quality_weighting": quality_weighting,
    "quality_vs_quantity": quality_vs_quantity,
}
