"""`xiulian eval`: perplexity and bits per byte of a checkpoint on held-out text.

Bits per byte divides the summed loss (in bits) by the UTF-8 size of the text, so it compares
models whose tokenizers differ, which perplexity per token cannot.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from corpus.errors import UserError
from train.data.shards import find_files, read_token_stream
from train.model.checkpoint import load_model, load_tokenizer


@torch.no_grad()
def evaluate_files(ckpt: str, paths: list[str], max_tokens: int = 1_000_000, batch_size: int = 8,
                   device: str = "cpu") -> dict:
    tokenizer = load_tokenizer(ckpt)
    model = load_model(ckpt, device).eval()
    flat, n_bytes = read_token_stream(find_files(paths), tokenizer, max_tokens)
    if len(flat) < 2:
        raise UserError("no text to evaluate in " + ", ".join(paths))
    seq_len = model.config.max_seq_len
    starts = list(range(0, len(flat) - 1, seq_len))
    loss_sum, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        windows = [flat[s:s + seq_len + 1] for s in starts[i:i + batch_size]]
        width = max(len(w) for w in windows)
        batch = np.full((len(windows), width), -100, np.int64)
        for row, window in enumerate(windows):
            batch[row, :len(window)] = window
        batch = torch.from_numpy(batch).to(device)
        inputs, targets = batch[:, :-1].clamp(min=0), batch[:, 1:]
        _, loss = model(inputs, targets)
        n = int((targets != -100).sum())
        loss_sum += loss.item() * n
        count += n
    mean = loss_sum / count
    return {"tokens": count, "bytes": n_bytes, "loss": mean, "perplexity": math.exp(min(mean, 50)),
            "bits_per_byte": loss_sum / math.log(2) / max(n_bytes, 1)}
