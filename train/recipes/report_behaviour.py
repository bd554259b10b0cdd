"""The results page's behaviour section: does each model answer held-out instructions and stop?

The budget is set above the 95th percentile of the SFT answers' lengths (a shorter one cannot
see a model that learnt to give a whole answer stop); each rate has a 95% bootstrap interval
over prompts; the SFT-versus-base difference in ending the turn is called "shown" only when its
interval excludes zero; and a model whose replies are mostly punctuation or repetition (above
DEGENERATE_LIMIT) gets no behaviour claim at all.
"""
from __future__ import annotations

from pathlib import Path

from corpus.finalize import write_atomic_json

MODELS = {"base (pretrained)": ("pretrain", False), "SFT": ("sft", True), "SFT, LoRA": ("sft_lora", True),
          "DPO": ("dpo", True), "PPO": ("ppo", True)}


def behaviour_budget(recipe: dict, out: Path) -> tuple[int, float | None, int | None]:
    """(budget, p95, context): the recipe's `max_new_tokens`, raised above the SFT answers' 95th
    percentile when they are longer, and capped to leave the prompt 32 tokens of the model's context
    (`context` is returned only when the cap bit, so the page can say so)."""
    from train.data.sft_formats import load_conversations
    from train.eval.turn_taking import answer_budget
    from train.model.checkpoint import load_model, load_tokenizer
    configured = recipe.get("evaluate", {}).get("max_new_tokens", 64)
    data = recipe.get("sft", {}).get("data")
    budget, p95 = configured, None
    if data:
        conversations, _ = load_conversations(list(data))
        budget, p95 = answer_budget(conversations, load_tokenizer(out / "pretrain"), configured)
    context = load_model(out / "pretrain").config.max_seq_len
    return (context - 32, p95, context) if budget > context - 32 else (budget, p95, None)


def budget_words(budget: int, p95: float | None, capped_by: int | None) -> str:
    """The budget as a page says it, with why it is that long (or why it could not be longer)."""
    if capped_by:
        return (f"at most {budget} new tokens: the model's {capped_by}-token context leaves no room for a "
                f"budget above the SFT answers' 95th percentile ({p95:.0f} tokens), so a turn that would "
                "end later counts as not ended")
    if p95 is not None:
        return (f"at most {budget} new tokens (above the 95th percentile, {p95:.0f} tokens, of the SFT "
                "answers' lengths, so a model that learnt to answer and stop has room to)")
    return f"at most {budget} new tokens"


def behaviour_section(recipe, evaluate, out, figures, cmd) -> list[str]:
    from train.eval.intervals import bootstrap_interval, paired_difference, verdict_word
    from train.eval.turn_taking import DEGENERATE_LIMIT, behaviour
    from .report import evaluation_prompts, quote
    prompts_by_language = evaluate.get("prompts", {})
    if not prompts_by_language or not (out / "pretrain" / "checkpoint").is_dir():
        return []
    per_language = evaluate.get("per_language", 20)
    prompts = evaluation_prompts(evaluate)
    budget, p95, capped_by = behaviour_budget(recipe, out)
    results = {label: behaviour(out / run, prompts, chat, budget)
               for label, (run, chat) in MODELS.items() if (out / run / "checkpoint").is_dir()}
    write_atomic_json(str(out / "behaviour.json"), {"budget": budget, "sft_answer_p95": p95, "models": results})

    def rate(values: list[int]) -> str:
        interval = bootstrap_interval(lambda i: sum(values[j] for j in i) / len(i), len(values))
        return f"{interval.mean:.0%} [{interval.low:.0%}, {interval.high:.0%}]"

    rows = []
    for label, r in results.items():
        share = r["degenerate_rate"]
        if share > DEGENERATE_LIMIT:
            rows.append(f"| {label} | {share:.0%} | — | — |")
        else:
            rows.append(f"| {label} | {share:.0%} | {rate(r['per_prompt']['ended'])} | "
                        f"{rate(r['per_prompt']['asks'])} |")
    budget_text = budget_words(budget, p95, capped_by)
    lines = ["### Base vs fine-tuned: does the model answer and stop?", "",
             f"{len(prompts)} held-out instructions ({', '.join(f'{per_language} {l}' for l in prompts_by_language)}; "
             f"from {', '.join(f'`{Path(p).name}`' for p in prompts_by_language.values())}, never trained on), "
             f"greedy, {budget_text}. The base model gets the instruction as plain text, the others in the "
             "chat template. *Degenerate*: replies that are mostly punctuation or digits, or one word repeated "
             f"(`train/eval/turn_taking.py`); above {DEGENERATE_LIMIT:.0%} of them a model gets no behaviour "
             "claim (—). *Ends its turn*: an end token within the budget; *asks questions*: half or more of the "
             "reply's sentences are questions. Brackets: 95% bootstrap intervals over the prompts.", "",
             "| model | degenerate replies | ends its turn | asks questions |", "|---|---|---|---|", *rows, ""]
    base, sft = results.get("base (pretrained)"), results.get("SFT")
    if base and sft:
        if max(base["degenerate_rate"], sft["degenerate_rate"]) > DEGENERATE_LIMIT:
            lines += [f"No claim about what SFT changes: more than {DEGENERATE_LIMIT:.0%} of the base or SFT "
                      "model's replies are degenerate, so their rates count stops, not answers.", ""]
        else:
            diff = paired_difference(sft["per_prompt"]["ended"], base["per_prompt"]["ended"])
            lines += [f"SFT minus base, share of prompts whose turn ends: {diff.mean:+.0%} (95% interval "
                      f"{diff.low:+.0%} to {diff.high:+.0%}); that SFT teaches the model to end its turn is "
                      f"{verdict_word(diff)}.", ""]
    lines += ["Transcripts (the first prompt of each language):", ""]
    for label, r in results.items():
        for language, (prompt, reply) in r["examples"].items():
            lines.append(f"- **{label}**, {language}: {quote(prompt, 100)} → {quote(reply, 200)}")
    return [*lines, ""]
