"""Sampling many answers at once, for best-of-N, PPO and AI feedback.

The serving engine (serve_engine.py) already decodes a batch of prompts with one KV cache;
here it runs in the caller's thread, with no server around it. Each answer draws from its own
generator seeded by (seed, answer index), so an answer is the same whatever the batch size it
was sampled in (up to the float noise of batched matmuls).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from train.model.transformer import Transformer

from .engine import Engine, Job


@dataclass
class Answer:
    ids: list[int]       # sampled token ids, the stop token not included
    finished: bool       # True when a stop token ended it, False when it ran out of room


def room_for_answer(model: Transformer, prompt: list[int]) -> int:
    """How many new tokens fit after `prompt` in the model's context."""
    return model.config.max_seq_len - len(prompt)


@torch.no_grad()
def sample_answers(model: Transformer, prompts: list[list[int]], max_new_tokens: int,
                   temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   stop: set[int] = frozenset(), seed: int = 0, max_batch: int = 64) -> list[Answer]:
    """One sampled answer per prompt (repeat a prompt to get several), in order.

    A prompt's budget is cut to the room left in the context; a prompt with no room at all is a
    ValueError (callers drop or cut long prompts first)."""
    was_training = model.training
    engine = Engine(model, max_batch=max_batch)
    device = next(model.parameters()).device
    jobs = []
    for index, prompt in enumerate(prompts):
        room = room_for_answer(model, prompt)
        if room < 1:
            raise ValueError(f"prompt {index} of {len(prompt)} tokens leaves no room in the "
                             f"{model.config.max_seq_len}-token context")
        generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + index)
        jobs.append(engine.submit(Job(prompt, min(max_new_tokens, room), temperature, top_p, top_k,
                                      stop, generator)))
    engine.drain()
    answers = []
    for job in jobs:
        ids = list(job.tokens())  # every token is already in the outbox: this does not block
        answers.append(Answer(ids, job.finish_reason == "stop"))
    model.train(was_training)
    return answers
