"""How a model answers instructions: does it end its turn, or ramble on asking questions?

The lecture's point about stage 2: a pretrained model asked a question continues the text —
often with more questions — and rarely stops; after instruction tuning it answers and ends its
turn. `behaviour` greedy-decodes held-out instructions and counts both. A base model gets the
instruction as plain text (it knows no chat template); tuned ones get it in the template.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from train.model.chat_template import prompt_ids, stop_ids
from train.model.checkpoint import load_model, load_tokenizer
from train.model.generation import stream_tokens

SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")


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
    """{"end_rate", "question_rate", "examples": {language: (prompt, reply)}} over (language,
    instruction) prompts, greedy; with `keep_replies`, also "replies", every one in order."""
    tokenizer, model = load_tokenizer(checkpoint), load_model(checkpoint).eval()
    stops = stop_ids(tokenizer)
    ended = questions = 0
    examples: dict[str, tuple[str, str]] = {}
    replies = []
    for language, text in prompts:
        ids = (prompt_ids(tokenizer, [{"role": "user", "content": text}]) if chat
               else tokenizer.encode(text + "\n"))
        ids = ids[-(model.config.max_seq_len - max_new_tokens):]
        out = list(stream_tokens(model, ids, max_new_tokens, temperature=0, stop=set()))
        stopped_at = next((i for i, t in enumerate(out) if t in stops), None)
        reply = tokenizer.decode(out[:stopped_at] if stopped_at is not None else out)
        ended += stopped_at is not None
        questions += mostly_questions(reply)
        examples.setdefault(language, (text, reply))
        replies.append(reply)
    n = max(len(prompts), 1)
    result = {"end_rate": ended / n, "question_rate": questions / n, "examples": examples}
    return {**result, "replies": replies} if keep_replies else result
