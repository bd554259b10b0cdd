"""Log-likelihood of a continuation given its context: lm-evaluation-harness's `loglikelihood`
request, batched on our Transformer.

Tokens are cut as the harness cuts them (HFLM._encode_pair): spaces that end the context move to
the front of the continuation, the pair is encoded whole, and the continuation is what follows
the context's own encoding. A sequence longer than the model's context keeps its last
max_seq_len + 1 tokens, as the harness does.

Two things make it faster than the harness without changing a number. Requests whose model input
is the same sequence share one forward pass: a multiple-choice item whose choices are one token
each (MMLU's " A" … " D") costs one row, not four. And the vocabulary projection runs only at
the continuation's positions, not at every position of the batch.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def encode_pairs(tokenizer, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(context ids, continuation ids) for (context, continuation) strings, as the harness
    splits them; contexts repeated across choices are encoded once."""
    contexts, wholes = [], []
    for context, continuation in pairs:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        contexts.append(context)
        wholes.append(context + continuation)
    distinct = list(dict.fromkeys(contexts))
    context_ids = dict(zip(distinct, encode_as_harness(tokenizer, distinct)))
    prefix = tokenizer.special.get("bos", tokenizer.eos_id)  # the harness's prefix for ""
    encoded = []
    for context, whole in zip(contexts, encode_as_harness(tokenizer, wholes)):
        if context:
            ids = context_ids[context]
            encoded.append((ids, whole[len(ids):]))
        else:
            encoded.append(([prefix], whole))
    return encoded


def encode_as_harness(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids with the tokenizer's own special tokens, as the harness encodes by default: none
    for ours (no post-processor), a BOS first for an imported Llama tokenizer that adds one."""
    return [e.ids for e in tokenizer.backend.encode_batch(texts, add_special_tokens=True)]


@torch.inference_mode()
def loglikelihoods(model, requests: list[tuple[list[int], list[int]]], batch_size: int = 32,
                   advance: Callable[[int], None] = lambda n: None) -> list[float]:
    """Sum of log P(continuation token | everything before it) for each request."""
    limit = model.config.max_seq_len
    device = next(model.parameters()).device
    rows: dict[tuple[int, ...], list[int]] = {}   # distinct model input -> the requests it serves
    scored: list[list[int]] = []                   # per request: the continuation tokens scored
    for number, (context, continuation) in enumerate(requests):
        sequence = (context + continuation)[-(limit + 1):]
        inputs = tuple(sequence[:-1])
        scored.append(continuation[-min(len(continuation), len(inputs)):])
        rows.setdefault(inputs, []).append(number)
    # Longest first, as the harness does: a batch that does not fit in memory fails at once.
    ordered = sorted(rows.items(), key=lambda item: -len(item[0]))
    results = [0.0] * len(requests)
    for start in range(0, len(ordered), batch_size):
        batch = ordered[start:start + batch_size]
        ids = torch.zeros(len(batch), len(batch[0][0]), dtype=torch.long)
        for i, (inputs, _) in enumerate(batch):
            ids[i, :len(inputs)] = torch.tensor(inputs)
        hidden = model.hidden_states(ids.to(device))   # right padding: causal, so harmless
        # The final positions some request of each row scores; only they meet the vocabulary.
        tails = [max(len(scored[n]) for n in served) for _, served in batch]
        picked = torch.cat([hidden[i, len(inputs) - tail:len(inputs)]
                            for i, ((inputs, _), tail) in enumerate(zip(batch, tails))])
        logprobs = torch.log_softmax(model.lm_head(picked).float(), dim=-1).cpu()
        offset = 0
        for (_, served), tail in zip(batch, tails):
            for n in served:
                tokens = scored[n]
                rows_of_n = logprobs[offset + tail - len(tokens):offset + tail]
                results[n] = float(rows_of_n[torch.arange(len(tokens)), torch.tensor(tokens)].sum())
            offset += tail
        advance(len(batch))
    return results
