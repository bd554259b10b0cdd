"""The results page's pretraining section: the loss curve, the model against the n-gram floors on
every held-out document, and base-model continuations of held-out text in each language.

A loss alone does not say the model learnt anything; a count table fit on the same training
tokens is the floor it has to beat (train/eval/ngram.py). The comparison is in bits per byte,
over the same targets, with a bootstrap interval over documents; the page says plainly whether
the model beats the best floor and whether it meets the recipe's target (`[evaluate]
floor_target`, 0.15: bits per byte at least 15% below the best floor).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from corpus.finalize import write_atomic_json
from train.core.plots import read_metrics

CONTINUATIONS_PER_LANGUAGE = 2
PROMPT_TOKENS, NEW_TOKENS = 40, 48


def pretraining_section(recipe, evaluate, out, figures, cmd) -> list[str]:
    metrics = read_metrics(out / "pretrain")
    if not metrics:
        return []
    val = [r for r in metrics if "val_loss" in r]
    train = [r for r in metrics if "loss" in r]
    plot = figures / "pretrain_loss.png"
    shutil.copyfile(out / "pretrain" / "loss.png", plot)
    tokens = sum(r.get("tokens", 0) for r in train)
    text = ["### Pretraining", "", cmd("pretrain"), "",
            f"{train[-1]['step']:,} steps, {tokens:,} tokens (from `metrics.jsonl`; a resumed run "
            "logs each step once)."]
    planned = _planned_steps(out / "pretrain")
    if planned and train[-1]["step"] < planned:
        text[-1] += (f" **The run stopped at step {train[-1]['step']:,} of the {planned:,} it was set for**; "
                     "everything below is that checkpoint's, not the recipe's finished model.")
    if val:
        text[-1] += (f" Validation loss (the trainer's fixed validation batches) {val[0]['val_loss']:.3f} at "
                     f"step {val[0]['step']} → {val[-1]['val_loss']:.3f} at step {val[-1]['step']}.")
    lines = [*text, "", f"![pretraining loss](figures/{plot.name})", ""]
    if (out / "pretrain" / "checkpoint").is_dir():
        lines += _floors(out, evaluate.get("floor_target", 0.15))
        lines += _continuations(out)
    return lines


def _planned_steps(run: Path) -> int | None:
    import json
    record = run / "run.json"
    return json.loads(record.read_text()).get("train", {}).get("max_steps") if record.is_file() else None


def held_out_against_floors(run: Path) -> dict | None:
    """A pretraining run's checkpoint and its n-gram floors on every held-out document: loss, bits
    per byte, the floors and the gap to the best (train/eval/floors.py); None without held-out
    documents. The results page and bench/small_recipe_sweep.py score runs this one way."""
    from train.eval.floors import floors_for, held_out_documents, pretraining_data, token_bytes
    from train.eval.perplexity import summarize, token_losses
    from train.model.checkpoint import load_model, load_tokenizer
    tokenizer, model = load_tokenizer(run), load_model(run).eval()
    prepared = pretraining_data(run)
    documents = held_out_documents(prepared, tokenizer.eos_id) if prepared is not None else []
    if not documents:
        return None
    import numpy as np
    sizes = token_bytes(tokenizer)
    doc_bytes = np.array([int(sizes[d].sum()) for d in documents], np.int64)
    losses = token_losses(model, np.concatenate(documents))
    return {**summarize(losses, int(doc_bytes.sum())), **floors_for(run, tokenizer, documents, doc_bytes, losses),
            "documents": len(documents), "parameters": model.num_params()}


def _floors(out: Path, target: float) -> list[str]:
    result = held_out_against_floors(out / "pretrain")
    if result is None:
        return ["No held-out documents (val_fraction 0), so no n-gram floors.", ""]
    write_atomic_json(str(out / "pretrain_floors.json"), result)
    gap = result["floor_gap"]
    rows = [f"| the model ({result['parameters'] / 1e6:.1f} M parameters) | {result['loss']:.3f} | "
            f"{result['bits_per_byte']:.3f} |"]
    rows += [f"| {f['name']} count model (smoothing {_smoothing(f['smoothing'])}) | {f['loss']:.3f} | "
             f"{f['bits_per_byte']:.3f} |" for f in result["floors"]]
    if gap["low"] >= target:
        goal = f"The recipe's target, at least {target:.0%} below the best floor, is met (the whole interval is above it)."
    elif gap["mean"] >= target:
        goal = (f"The recipe's target, at least {target:.0%} below the best floor, is met by the estimate but "
                "not by the whole interval.")
    else:
        goal = f"The recipe's target, at least {target:.0%} below the best floor, is NOT met."
    return ["#### Against the n-gram floors", "",
            f"All {result['documents']:,} held-out documents ({result['tokens']:,} target tokens, "
            f"{result['bytes']:,} bytes of UTF-8), never trained on, read in windows of the model's context that "
            "slide by half of it (every target scored once, all but the first window's with at least half a "
            "context before them; `train/eval/perplexity.py`). The floors are count models fit on the "
            f"same {result['floor_training_tokens']:,} training tokens (smoothing chosen on a tenth of the "
            "training documents, `train/eval/ngram.py`) and scored on the same targets.", "",
            "| model | nats per token | bits per byte |", "|---|---|---|", *rows, "",
            f"Bits per byte below the best floor: {gap['mean']:.1%} (95% interval over documents, bootstrap: "
            f"{gap['low']:.1%} to {gap['high']:.1%}). {result['verdict']} {goal}", ""]


def _smoothing(smoothing: dict) -> str:
    if "add" in smoothing:
        return f"add {smoothing['add']:g}"
    return "Kneser-Ney D = " + ", ".join(f"{d:g}" for d in smoothing["discounts"])


def _continuations(out: Path) -> list[str]:
    """Sampled continuations of the first words of held-out documents, in each language."""
    import torch
    from train.eval.floors import held_out_documents, pretraining_data
    from train.model.checkpoint import load_model, load_tokenizer
    from .experiments_sft import mostly_chinese
    from .report import quote
    run = out / "pretrain"
    tokenizer, model = load_tokenizer(run), load_model(run).eval()
    chosen: dict[str, list] = {"en": [], "zh": []}
    for doc in held_out_documents(pretraining_data(run), tokenizer.eos_id):
        if len(doc) <= PROMPT_TOKENS + 8:
            continue
        language = "zh" if mostly_chinese(tokenizer.decode(doc[:PROMPT_TOKENS].tolist())) else "en"
        if len(chosen[language]) < CONTINUATIONS_PER_LANGUAGE:
            chosen[language].append(doc)
    lines = ["#### The base model continues held-out text", "",
             f"The first {PROMPT_TOKENS} tokens of held-out documents, then {NEW_TOKENS} sampled tokens "
             "(temperature 0.7, top-k 50, seed 0), beside what the document really says next:", ""]
    generator = torch.Generator().manual_seed(0)
    for language, docs in chosen.items():
        for doc in docs:
            cut = PROMPT_TOKENS
            while cut > 1 and tokenizer.decode(doc[:cut].tolist()).endswith("\ufffd"):
                cut -= 1  # a Chinese character's bytes split across tokens: end the prompt before it
            prompt = doc[:cut].tolist()
            ids = model.generate(torch.tensor([prompt]), NEW_TOKENS, temperature=0.7, top_k=50,
                                 stop_tokens={tokenizer.eos_id}, generator=generator)[0].tolist()
            lines.append(f"- {language}: {quote(tokenizer.decode(prompt), 160)} → model: "
                         f"{quote(_after(tokenizer, prompt, ids), 200)}; document: "
                         f"{quote(_after(tokenizer, prompt, doc[:cut + NEW_TOKENS].tolist()), 120)}")
    return [*lines, ""]


def _after(tokenizer, prompt: list[int], ids: list[int]) -> str:
    """The text `ids` adds after `prompt`, decoded together so no character is cut in two."""
    return tokenizer.decode(ids)[len(tokenizer.decode(prompt)):]
