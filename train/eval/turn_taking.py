"""How a model answers instructions: does it end its turn, or ramble on asking questions?

The lecture's point about stage 2: a pretrained model asked a question continues the text —
often with more questions — and rarely stops; after instruction tuning it answers and ends its
turn. `behaviour` greedy-decodes held-out instructions and counts both. A base model gets the
instruction as plain text (it knows no chat template); tuned ones get it in the template.

Two guards keep the counts honest. The budget: a model can only be seen to end its turn if the
budget is longer than the answers it was taught to give, so `answer_budget` sets it above the
95th percentile of the SFT answers' lengths. The replies: "ends its turn" means little when the
reply is "3. 3. 3." — `degenerate` marks replies that are mostly punctuation, digits or one unit
repeated, and a page makes no behaviour claim for a model above DEGENERATE_LIMIT of them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from train.model.chat_template import prompt_ids, stop_ids
from train.model.checkpoint import load_model, load_tokenizer
from train.serve.rollout import sample_answers

SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")
UNITS = re.compile(r"[\u4e00-\u9fff]|[^\W\d_]+")   # a Chinese character, or a run of letters
DEGENERATE_LIMIT = 0.5   # above this share of degenerate replies, no claim about a model's behaviour


def degenerate(reply: str) -> bool:
    """Mostly punctuation or digits (under half the visible characters are letters), fewer than
    two words, or one unit repeated (at least eight units, under 35% of them distinct)."""
    visible = [c for c in reply if not c.isspace()]
    units = UNITS.findall(reply)
    if len(units) < 2 or sum(c.isalpha() for c in visible) * 2 < len(visible):
        return True
    return len(units) >= 8 and len(set(units)) < 0.35 * len(units)


def answer_budget(conversations: list[list[dict]], tokenizer, floor: int = 0, step: int = 16) -> tuple[int, float]:
    """(budget, p95): the smallest multiple of `step` above the 95th percentile of the assistant
    turns' lengths in tokens (their end-of-turn token included), and at least `floor`."""
    import numpy as np
    lengths = [len(tokenizer.encode(m["content"])) + 1 for c in conversations for m in c
               if m["role"] == "assistant"]
    if not lengths:
        return floor, 0.0
    p95 = float(np.percentile(lengths, 95))
    return max(floor, step * (int(p95) // step + 1)), p95


def seed_task_prompts(path: str | Path, limit: int) -> list[str]:
    """Instructions of a self-instruct seed-task file (Alpaca, BELLE), with their first input."""
    prompts = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        prompts.append(seed_task_instruction(json.loads(line)))
        if len(prompts) == limit:
            break
    return prompts


def seed_task_instruction(row: dict) -> str:
    """A seed task's user turn: its instruction, then its first instance's input if any."""
    extra = (row.get("instances") or [{}])[0].get("input", "") or row.get("input", "")
    return row["instruction"] + (f"\n\n{extra}" if extra else "")


def mostly_questions(reply: str) -> bool:
    sentences = [s.strip() for s in SENTENCE.findall(reply) if s.strip()]
    asks = sum(s.endswith(("?", "？")) for s in sentences)
    return bool(sentences) and asks * 2 >= len(sentences)


@torch.no_grad()
def behaviour(checkpoint, prompts: list[tuple[str, str]], chat: bool, max_new_tokens: int,
              keep_replies: bool = False) -> dict:
    """{"end_rate", "question_rate", "degenerate_rate", "examples": {language: (prompt, reply)},
    "per_prompt": {"ended", "asks", "degenerate": 0/1 lists}} over (language, instruction) prompts,
    greedy; with `keep_replies`, also "replies", every one in order."""
    tokenizer, model = load_tokenizer(checkpoint), load_model(checkpoint).eval()
    encoded = [(prompt_ids(tokenizer, [{"role": "user", "content": text}]) if chat
                else tokenizer.encode(text + "\n"))[-max(8, model.config.max_seq_len - max_new_tokens):]
               for _, text in prompts]
    # One batch: greedy decoding of every prompt at once, each as it would decode alone.
    answers = sample_answers(model, encoded, max_new_tokens, temperature=0, stop=stop_ids(tokenizer))
    per_prompt: dict[str, list[int]] = {"ended": [], "asks": [], "degenerate": []}
    examples: dict[str, tuple[str, str]] = {}
    replies = []
    for (language, text), answer in zip(prompts, answers):
        reply = tokenizer.decode(answer.ids)
        per_prompt["ended"].append(int(answer.finished))
        per_prompt["asks"].append(int(mostly_questions(reply)))
        per_prompt["degenerate"].append(int(degenerate(reply)))
        examples.setdefault(language, (text, reply))
        replies.append(reply)
    n = max(len(prompts), 1)
    result = {"end_rate": sum(per_prompt["ended"]) / n, "question_rate": sum(per_prompt["asks"]) / n,
              "degenerate_rate": sum(per_prompt["degenerate"]) / n, "examples": examples,
              "per_prompt": per_prompt}
    return {**result, "replies": replies} if keep_replies else result
