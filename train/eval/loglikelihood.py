"""Log-likelihood of a continuation given its context: lm-evaluation-harness's `loglikelihood`
request, batched on our Transformer.

Tokens are cut as the harness cuts them (HFLM._encode_pair): spaces that end the context move to
the front of the continuation, the pair is encoded whole, and the continuation is what follows
the context's own encoding. A sequence longer than the model's context keeps its last
max_seq_len + 1 tokens, as the harness does.

Two things make it faster than the harness without changing a number (beyond float rounding).
The choices of an item share its context: the context runs once, its keys and values cached,
and the choices run on top of them, so HellaSwag reads each context once instead of four times
and MMLU's one-token choices (" A" … " D") cost one context pass in all. And the vocabulary
projection runs only at the positions that are scored.
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
    """Sum of log P(continuation token | everything before it) for each request.

    Requests that share a context (a multiple-choice item's choices) read it once: `batch_size`
    contexts run through the model with a KV cache, then all their continuations run on top of
    it. Requests too long for the model's context are cut from the left one by one (`_whole_rows`)."""
    limit = model.config.max_seq_len
    groups: dict[tuple[int, ...], list[int]] = {}
    alone = []
    for number, (context, continuation) in enumerate(requests):
        if len(context) + len(continuation) - 1 <= limit:
            groups.setdefault(tuple(context), []).append(number)
        else:
            alone.append(number)
    results = [0.0] * len(requests)
    # Longest contexts first: a batch that does not fit in memory fails at once.
    ordered = sorted(groups.items(), key=lambda item: -len(item[0]))
    batch: list[tuple[tuple[int, ...], list[int]]] = []
    for group in ordered:
        longest = max(len(requests[n][1]) for _, served in batch + [group] for n in served)
        fits = len(batch[0][0]) + longest - 1 <= limit if batch else True
        if batch and (not fits or len(batch) >= batch_size):
            _shared_context(model, requests, batch, results)
            advance(sum(len(s) for _, s in batch))
            batch = []
        batch.append(group)
    if batch:
        _shared_context(model, requests, batch, results)
        advance(sum(len(s) for _, s in batch))
    _whole_rows(model, requests, alone, batch_size, results, advance)
    return results


def _shared_context(model, requests, batch, results) -> None:
    """One batch of contexts (left-padded, the padding masked) and then all their continuations
    on the cached keys and values: RoPE sees only relative positions, so a context that starts
    after padding scores as it would alone."""
    from train.model.transformer import KVCache
    device = next(model.parameters()).device
    width = len(batch[0][0])
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.bool)
    for i, (context, _) in enumerate(batch):
        ids[i, width - len(context):] = torch.tensor(context)
        mask[i, width - len(context):] = True
    padded = not bool(mask.all())
    cache = KVCache(model.config.n_layers)
    last = model.hidden_states(ids.to(device), mask.to(device) if padded else None, cache)[:, -1]
    served = [(i, n) for i, (_, numbers) in enumerate(batch) for n in numbers]
    longer = [(i, n) for i, n in served if len(requests[n][1]) > 1]
    picked = [last[[i for i, _ in served]]]                   # each first token's distribution
    if longer:
        rows = torch.tensor([i for i, _ in longer], device=device)
        cache.layers = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in cache.layers]
        steps = max(len(requests[n][1]) for _, n in longer) - 1
        tails = torch.zeros(len(longer), steps, dtype=torch.long)
        for row, (_, n) in enumerate(longer):
            tail = requests[n][1][:-1]
            tails[row, :len(tail)] = torch.tensor(tail)
        keys = torch.cat([mask.to(device).index_select(0, rows),
                          torch.ones(len(longer), steps, dtype=torch.bool, device=device)], dim=1)
        hidden = model.hidden_states(tails.to(device), keys if padded else None, cache)
        picked += [hidden[row, :len(requests[n][1]) - 1] for row, (_, n) in enumerate(longer)]
    logprobs = torch.log_softmax(model.lm_head(torch.cat(picked)).float(), dim=-1).cpu()
    if torch.isnan(logprobs).any():
        raise RuntimeError("NaN log-probabilities in a left-padded batch; this attention kernel "
                           "does not zero fully masked rows")
    firsts, rest = logprobs[:len(served)], logprobs[len(served):]
    offset, at = 0, {n: row for row, (_, n) in enumerate(longer)}
    follow = {}
    for _, n in longer:
        count = len(requests[n][1]) - 1
        follow[n] = rest[offset:offset + count]
        offset += count
    for row, (_, n) in enumerate(served):
        continuation = requests[n][1]
        total = float(firsts[row, continuation[0]])
        if n in at:
            total += float(follow[n][torch.arange(len(continuation) - 1), torch.tensor(continuation[1:])].sum())
        results[n] = total


def _whole_rows(model, requests, numbers, batch_size, results, advance) -> None:
    """The harness's way for requests that overflow the context: each one's last max_seq_len + 1
    tokens as one row; rows that are the same sequence run once."""
    limit = model.config.max_seq_len
    device = next(model.parameters()).device
    rows: dict[tuple[int, ...], list[int]] = {}   # distinct model input -> the requests it serves
    scored: dict[int, list[int]] = {}             # per request: the continuation tokens scored
    for number in numbers:
        context, continuation = requests[number]
        sequence = (context + continuation)[-(limit + 1):]
        inputs = tuple(sequence[:-1])
        scored[number] = continuation[-min(len(continuation), len(inputs)):]
        rows.setdefault(inputs, []).append(number)
    ordered = sorted(rows.items(), key=lambda item: -len(item[0]))
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
        advance(sum(len(served) for _, served in batch))
