"""Preference examples as token ids and batches: what the reward model, DPO and KTO share.

An example is one prompt with two answers — chosen and rejected for a pair; for KTO, the judged
completion and a mismatched one (another example's completion, for the KL reference point).
Each is rendered with the chat template exactly as `render(prompt + [answer], train_on="last")`
would: the prompt up to `<|assistant|>`, then the answer and its `<|end_of_turn|>`, which is what
the log-probabilities sum over and where a reward model reads its score.

A batch puts every example's first answer in rows 0..B-1 and its second in rows B..2B-1, right-
padded (causal attention needs no mask; see sft.py), so one forward pass scores both answers.
Too long for the context: the prompt keeps its beginning-of-text token and its last tokens, and
answers are cut at the end (TRL's "keep_end" for prompts), or the example is dropped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from corpus.errors import UserError
from train.core.stage import ExampleStage
from train.model.chat_template import prompt_ids

from .shards import unit_hash


@dataclass
class PreferenceDataConfig:
    """`[data]` in a reward, DPO or KTO config."""
    val_fraction: float = 0.1    # prompts held out for validation (accuracy, margins)
    max_val: int = 500
    overlong: str = "truncate"   # longer than the context: "truncate" it, or "drop" it
    split_seed: int = 0
    max_train: int | None = None  # train on only this many items (a stable sample): a proxy RM

    def __post_init__(self):
        if self.max_train is not None and self.max_train < 1:
            raise UserError("[data] max_train must be at least 1")
        if self.overlong not in ("truncate", "drop"):
            raise UserError("[data] overlong must be 'truncate' or 'drop'")
        if not 0 <= self.val_fraction < 1:
            raise UserError("[data] val_fraction must be in [0, 1)")


@dataclass
class Example:
    prompt: np.ndarray                   # int64 ids, ending with <|assistant|>
    answers: tuple[np.ndarray, ...]      # int64 ids, each ending with <|end_of_turn|>
    values: dict[str, float] = field(default_factory=dict)  # margin, reference log-probs, label


def answer_ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text) + [tokenizer.special["end_of_turn"]]


def fit(prompt: list[int], answers: list[list[int]], max_len: int) -> tuple[list[int], list[list[int]]]:
    """Prompt and answers cut so each prompt + answer fits `max_len` tokens.

    The prompt gives way first, down to half the context, keeping its first token (beginning of
    text) and its end (the last turn and `<|assistant|>`); then answers lose their ends.
    """
    longest = max(len(a) for a in answers)
    if len(prompt) + longest <= max_len:
        return prompt, answers
    budget = min(len(prompt), max(max_len - longest, max_len // 2))
    if budget < len(prompt):
        prompt = prompt[:1] + prompt[len(prompt) - budget + 1:]
    return prompt, [a[:max_len - len(prompt)] for a in answers]


def make_example(prompt: list[int], answers: list[list[int]], max_len: int, overlong: str,
                 counts: dict, values: dict | None = None) -> Example | None:
    """An Example, or None when it is too long and `overlong` is "drop" (counted either way)."""
    if len(prompt) + max(len(a) for a in answers) > max_len:
        if overlong == "drop":
            counts["dropped_overlong"] = counts.get("dropped_overlong", 0) + 1
            return None
        counts["truncated"] = counts.get("truncated", 0) + 1
        prompt, answers = fit(prompt, answers, max_len)
    return Example(np.asarray(prompt, np.int64), tuple(np.asarray(a, np.int64) for a in answers),
                   dict(values or {}))


def pair_examples(pairs, tokenizer, max_len: int, overlong: str) -> tuple[list[Example], dict]:
    """Examples of (chosen, rejected) with the pair's margin (0 when unrated); counts of cut or
    dropped ones."""
    counts: dict = {}
    examples = [make_example(prompt_ids(tokenizer, p.prompt),
                             [answer_ids(tokenizer, p.chosen), answer_ids(tokenizer, p.rejected)],
                             max_len, overlong, counts, {"margin": p.margin or 0.0}) for p in pairs]
    return [e for e in examples if e is not None], counts


def collate(examples: list[Example], pad_id: int) -> dict:
    """ids (K*B, T) right-padded: answer k of every example in rows k*B..(k+1)*B-1;
    answer_mask marks answer tokens; lengths the real lengths; each `values` key a (B,) tensor."""
    rows = [np.concatenate([e.prompt, e.answers[k]]) for k in range(len(examples[0].answers))
            for e in examples]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, np.int64)
    answer_mask = np.zeros((len(rows), width), bool)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        prompt_len = len(examples[i % len(examples)].prompt)
        answer_mask[i, prompt_len:len(row)] = True
    batch = {"ids": torch.from_numpy(ids), "answer_mask": torch.from_numpy(answer_mask),
             "lengths": torch.tensor([len(r) for r in rows])}
    for name in examples[0].values:
        batch[name] = torch.tensor([e.values[name] for e in examples], dtype=torch.float32)
    return batch


def sequence_logps(model, ids: torch.Tensor, answer_mask: torch.Tensor) -> torch.Tensor:
    """Sum of the answer tokens' log-probabilities, one per row (fp32), as TRL's DPO and KTO sum."""
    logits = model(ids[:, :-1])
    targets = ids[:, 1:]
    token_logps = -F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(),
                                   reduction="none").view(targets.shape)
    return (token_logps * answer_mask[:, 1:]).sum(-1)


def split_by_prompt(items: list, config: PreferenceDataConfig) -> tuple[list, list]:
    """(train, validation) by a stable hash of each item's prompt, so a held-out prompt is never
    seen in training, with any of its answers."""
    keyed = [(unit_hash(json.dumps(item.prompt, ensure_ascii=False, sort_keys=True), config.split_seed), i)
             for i, item in enumerate(items)]
    held = {i for h, i in sorted(keyed)[:config.max_val] if h < config.val_fraction}
    train = [i for h, i in sorted(keyed, reverse=True) if i not in held]  # highest hashes first
    if config.max_train is not None:
        train = train[:config.max_train]
    return [items[i] for i in sorted(train)], [items[i] for i in sorted(held)]


class PreferenceStage(ExampleStage):
    """Examples of two answers; subclasses give the loss. `units` are examples (pairs, or
    judged answers for KTO)."""
    collate = staticmethod(collate)

    @staticmethod
    def units(batch: dict) -> int:
        return int(batch["ids"].shape[0] // 2)


