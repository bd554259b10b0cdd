"""`xiulian eval`: perplexity and bits per byte of a checkpoint on held-out text, beside the
n-gram floors of its pretraining data.

Bits per byte divides the summed loss (in bits) by the UTF-8 size of the text, so it compares
models whose tokenizers differ, which perplexity per token cannot. The floors (train/eval/
floors.py) are scored on exactly the targets the model is, so the two losses compare directly.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from corpus.errors import UserError
from train.data.shards import find_files, read_documents
from train.model.checkpoint import load_model, load_tokenizer


@torch.no_grad()
def evaluate_files(ckpt: str, paths: list[str], max_tokens: int = 1_000_000, batch_size: int = 8,
                   device: str = "cpu", floors: bool = True) -> dict:
    """Loss, perplexity and bits per byte on `paths`; with `floors`, the run's n-gram floors on
    the same targets (when its pretraining token shards are found) and a verdict on them."""
    tokenizer = load_tokenizer(ckpt)
    model = load_model(ckpt, device).eval()
    documents, doc_bytes = read_documents(find_files(paths), tokenizer, max_tokens)
    if sum(map(len, documents)) < 2:
        raise UserError("no text to evaluate in " + ", ".join(paths))
    losses = token_losses(model, np.concatenate(documents), batch_size, device)
    result = summarize(losses, int(doc_bytes.sum()))
    if floors:
        from .floors import floors_for
        result.update(floors_for(ckpt, tokenizer, documents, doc_bytes, losses))
    return result


def summarize(losses: np.ndarray, n_bytes: int) -> dict:
    total = float(losses.sum())
    mean = total / max(len(losses), 1)
    return {"tokens": len(losses), "bytes": n_bytes, "loss": mean, "perplexity": math.exp(min(mean, 50)),
            "bits_per_byte": total / math.log(2) / max(n_bytes, 1)}


@torch.no_grad()
def token_losses(model, flat: np.ndarray, batch_size: int = 8, device: str = "cpu",
                 stride: int | None = None) -> np.ndarray:
    """Nats of every target flat[1:] given the tokens before it, each scored once.

    Windows of the model's context slide by `stride` (default: half the context), and a window
    after the first scores only its last `stride` targets, so every target but the first window's
    sees at least context − stride tokens (the sliding-window perplexity of Hugging Face's
    "Perplexity of fixed-length models"). Non-overlapping windows (stride = context) would score
    each window's first target on one token of context: a measure of where the cuts fall as much
    as of the model. The targets are the ones the n-gram floors score, whatever the stride."""
    import torch.nn.functional as F
    seq_len = model.config.max_seq_len
    stride = seq_len // 2 if stride is None else stride
    if not 0 < stride <= seq_len:
        raise UserError(f"stride must be in 1..{seq_len} (the model's context), not {stride}")
    n_targets = len(flat) - 1
    starts = [0] + list(range(stride, max(n_targets - seq_len, 0) + stride, stride))
    out = []
    for i in range(0, len(starts), batch_size):
        windows = [flat[s:s + seq_len + 1] for s in starts[i:i + batch_size]]
        width = max(len(w) for w in windows)
        batch = np.full((len(windows), width), -100, np.int64)
        for row, window in enumerate(windows):
            batch[row, :len(window)] = window
        batch = torch.from_numpy(batch).to(device)
        inputs, targets = batch[:, :-1].clamp(min=0), batch[:, 1:].clone()
        for row, start in enumerate(starts[i:i + batch_size]):
            if start:  # its first targets were scored by the window before, with less context
                targets[row, :seq_len - stride] = -100
        logits = model(inputs).float()
        nats = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none")
        keep = (targets != -100).flatten()
        out.append(nats[keep].cpu().numpy().astype(np.float64))
    return np.concatenate(out)
