"""The lecture's claims about instruction tuning (stage 2), measured: each reruns the recipe's
SFT with one thing changed (the starting weights, the data's languages, the data's quality)."""
from __future__ import annotations

import json
from pathlib import Path

from corpus.errors import UserError
from corpus.finalize import write_atomic_json
from train.eval.turn_taking import seed_task_instruction

from .experiment_commands import _final_val, _stage, _with, xiulian
from .report import evaluation_prompts, quote


def pretrained_vs_random(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """The same SFT data and steps from the pretrained checkpoint and from random weights."""
    import torch

    from train.eval.turn_taking import behaviour
    from train.model.checkpoint import load_model, load_tokenizer, save
    from train.model.transformer import Transformer
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
    from train.eval.turn_taking import behaviour
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


def _mostly_chinese(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum("\u4e00" <= c <= "\u9fff" for c in letters) * 2 >= len(letters)


def quality_vs_quantity(recipe: dict, out: Path, work: Path, figures: Path) -> list[str]:
    """LIMA's "less is more for alignment": the recipe's SFT from the pretrained checkpoint, once
    on a small curated set and once on a larger, noisier one (same config, steps and batch)."""
    from train.data.sft_formats import load_conversations
    evaluate = recipe.get("evaluate", {})
    sets = {"curated": evaluate.get("curated_sft_data"), "noisy": evaluate.get("noisy_sft_data")}
    if not all(sets.values()):
        raise UserError("quality_vs_quantity needs [evaluate] curated_sft_data and noisy_sft_data: "
                        "lists of SFT files")
    prompts = evaluation_prompts(evaluate, ("en",))
    if not prompts:
        raise UserError("quality_vs_quantity needs English evaluation prompts: [evaluate] prompts = { en = ... }")
    loaded = {label: load_conversations(list(files))[0] for label, files in sets.items()}
    trained_users = {m["content"].strip() for conversations in loaded.values()
                     for c in conversations for m in c if m["role"] == "user"}
    answers = seed_task_answers(evaluate["prompts"]["en"])
    held_out = [c for c in answers if c[0]["content"].strip() not in trained_users]
    judge, judged_on = None, None
    if (out / "reward" / "checkpoint").is_dir():
        from train.stages.reward.reward_function import load_reward_function
        judge = load_reward_function(str(out / "reward"))
        judged_on = [Path(p).name for p in json.loads((out / "reward" / "run.json").read_text())["data_paths"]]
    max_new = evaluate.get("max_new_tokens", 64)
    commands, results = [], {}
    for label, files in sets.items():
        run = work / f"sft_{label}"
        commands.append(xiulian(_with(_stage(recipe, out, "sft"), data=list(files), output=run)))
        results[label] = {"data": list(map(str, files)), "examples": len(loaded[label]),
                          **_sft_measures(run, prompts, held_out, judge, max_new)}
    write_atomic_json(str(work / "results.json"), results)
    return _quality_section(results, commands, prompts, evaluate["prompts"]["en"], answers, held_out,
                            judged_on, max_new)


def seed_task_answers(path: str | Path) -> list[list[dict]]:
    """The human-written answers of a self-instruct seed-task file (each task's first instance)
    as conversations; tasks without an instance output give none."""
    from train.data.sft_formats import read_records
    conversations = []
    for row in read_records(str(path)):
        output = ((row.get("instances") or [{}])[0] if isinstance(row, dict) else {}).get("output")
        if isinstance(output, str) and output.strip() and isinstance(row.get("instruction"), str):
            conversations.append([{"role": "user", "content": seed_task_instruction(row)},
                                  {"role": "assistant", "content": output}])
    return conversations


def _sft_measures(run: Path, prompts: list[tuple[str, str]], held_out: list[list[dict]], judge,
                  max_new: int) -> dict:
    """What the training saw (from the run's own records) and how the model answers."""
    from train.core.plots import read_metrics
    from train.eval.turn_taking import behaviour
    counts = json.loads((run / "run.json").read_text())["conversations"]
    tokens = {r["step"]: r["tokens"] for r in read_metrics(run) if "tokens" in r}  # a resume logs again
    acts = behaviour(run, prompts, True, max_new, keep_replies=True)
    replies = acts["replies"]
    rewards = judge([[{"role": "user", "content": p}, {"role": "assistant", "content": r}]
                     for (_, p), r in zip(prompts, replies)]) if judge else None
    return {"trained_on": counts["train"], "dropped_overlong": counts["dropped_overlong"],
            "truncated": counts["truncated"], "tokens_seen": sum(tokens.values()),
            "held_out_answer_loss": _answer_loss(run, held_out) if held_out else None,
            "end_rate": acts["end_rate"], "question_rate": acts["question_rate"],
            "mean_words": sum(len(r.split()) for r in replies) / len(replies),
            "reward": sum(rewards) / len(rewards) if rewards else None,
            "first_reply": acts["examples"]["en"][1], "replies": replies}


def _answer_loss(run: Path, conversations: list[list[dict]]) -> float | None:
    """Mean loss per answer token (and end-of-turn) of `conversations`, as SFT validation
    measures it; conversations longer than the context are left out."""
    import torch

    from train.model.checkpoint import load_model, load_tokenizer
    from train.stages.sft.sft import build_examples, collate, token_loss
    tokenizer, model = load_tokenizer(run), load_model(run).eval()
    examples, _ = build_examples(conversations, tokenizer, model.config.max_seq_len + 1, "assistant", "drop")
    pad = tokenizer.special.get("pad", tokenizer.eos_id)
    total = count = 0.0
    with torch.no_grad():
        for start in range(0, len(examples), 16):
            batch = collate(examples[start:start + 16], pad)
            supervised = int((batch["targets"] != -100).sum())
            total += token_loss(model, batch).item() * supervised
            count += supervised
    return total / count if count else None


def _quality_section(results: dict, commands: list[str], prompts: list, source: str, answers: list,
                     held_out: list, judged_on: list[str] | None, max_new: int) -> list[str]:
    """The section's text and table; `judged_on`: the reward model's training files (None: no RM)."""
    def number(value, form):
        return "—" if value is None else format(value, form)

    rows = [f"| {label} | {r['examples']:,} | {r['trained_on']:,} | {r['tokens_seen']:,} | "
            f"{number(r['held_out_answer_loss'], '.3f')} | {r['end_rate']:.0%} | {r['question_rate']:.0%} | "
            f"{r['mean_words']:.1f} | {number(r['reward'], '+.3f')} | {quote(r['first_reply'])} |"
            for label, r in results.items()]
    dropped = ", ".join(f"{r['dropped_overlong']:,} of the {label} set's" for label, r in results.items()
                        if r["dropped_overlong"])
    left_out = len(answers) - len(held_out)
    loss_text = (f"*Held-out answer loss*: per answer token, on the answers written for {len(held_out)} seed "
                 f"tasks of `{Path(source).name}` (the English prompts' file), whose instructions neither "
                 "training set contains" + (f" ({left_out} that one does are left out)" if left_out else "")
                 + "; a self-instruct set such as Alpaca was generated with such tasks as examples, which "
                   "favours it if anything." if held_out else
                 f"No held-out answer loss: `{Path(source).name}` has no written answers (seed-task instances) "
                 "to instructions neither training set contains.")
    return ["#### Quality over quantity (LIMA)", "",
            "The recipe's SFT from the pretrained checkpoint with the same settings, steps and batch, on a "
            "small curated set and on a larger, noisier one:", "", *[f"- `{line}`" for line in commands], "",
            "*Examples*: usable conversations loaded; *trained on*: those left after the validation split"
            + (f" and after dropping conversations longer than the context ({dropped})" if dropped else "")
            + f"; *tokens seen*: read in training, prompts included. Then {len(prompts)} held-out English "
            f"instructions, greedy, at most {max_new} new tokens: *ends turn*, *self-questions* (half or more "
            "of the reply's sentences are questions) and *words* (mean reply length) as in the behaviour "
            "section above; *RM score*: "
            + (f"the recipe's reward model's mean score of the replies (it was trained on "
               f"{', '.join(f'`{n}`' for n in judged_on)})." if judged_on is not None else
               "— (the recipe has no reward model).") + " " + loss_text, "",
            "| set | examples | trained on | tokens seen | held-out answer loss | ends turn | self-questions | "
            "words | RM score | first English reply |", "|---|---|---|---|---|---|---|---|---|---|",
            *rows, "", _quality_verdict(results["curated"], results["noisy"]), ""]


def _quality_verdict(curated: dict, noisy: dict) -> str:
    """One sentence from the numbers: on which measures the curated set's model does better."""
    measures = [("ending its turn", "end_rate", 1, ".0%"),
                ("self-questioning", "question_rate", -1, ".0%"),
                ("reward-model score", "reward", 1, "+.3f"),
                ("held-out answer loss", "held_out_answer_loss", -1, ".3f")]
    better, worse, parts = [], [], []
    for name, key, sign, form in measures:
        a, b = curated[key], noisy[key]
        if a is None or b is None:
            continue
        parts.append(f"{name} {format(a, form)} vs {format(b, form)}")
        (better if (a - b) * sign > 0 else worse if (a - b) * sign < 0 else []).append(name)
    if not better and not worse:
        verdict = "the two sets' models measure the same here"
    elif not worse:
        verdict = "the curated set did better on every measure that differs, as LIMA claims"
    elif not better:
        verdict = ("the larger, noisier set did better on every measure that differs, against LIMA's claim "
                   "at this scale")
    else:
        verdict = f"mixed: the curated set did better on {_listed(better)}, and worse on {_listed(worse)}"
    return (f"With {curated['examples']:,} curated examples against {noisy['examples']:,} noisier ones "
            f"({curated['trained_on']:,} and {noisy['trained_on']:,} trained on; curated first: "
            f"{'; '.join(parts)}), {verdict}.")


def _listed(names: list[str]) -> str:
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]
