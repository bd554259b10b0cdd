"""A run's n-gram floors: count models fit on its pretraining tokens, scored on the documents the
model is scored on, with a bootstrap interval (over documents) of how far the model beats the best.

The training tokens are the ones the pretraining run tokenised into RUN/data (its training
split: validation documents, and training documents that overlap them, left out); a fine-tuned
run's floors are its pretraining run's, found through the `init` its run.json records.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from train.data.token_shards import TRAIN, VALIDATION, Prepared, load_prepared

from .intervals import Interval, bootstrap_interval
from .ngram import Floor, best_floor, ngram_floors, verdict


def pretraining_data(run: str | Path, hops: int = 8) -> Prepared | None:
    """The token shards of the pretraining run behind `run` (a run or checkpoint folder)."""
    path = Path(run)
    if path.name in ("checkpoint", "checkpoint.old"):
        path = path.parent
    for _ in range(hops):
        prepared = load_prepared(path / "data")
        if prepared is not None:
            return prepared
        record = path / "run.json"
        init = json.loads(record.read_text()).get("init") if record.is_file() else None
        if not init:
            return None
        path = Path(init)
        if path.name in ("checkpoint", "checkpoint.old"):
            path = path.parent
    return None


def training_stream(prepared: Prepared, eos_id: int) -> np.ndarray:
    """Every training document the model may sample (weight above 0), once, each then end-of-text."""
    docs = prepared.split(TRAIN)
    docs = docs[prepared.doc_weight[docs] > 0]
    return _join([prepared.tokens_of(d) for d in docs], eos_id)


def held_out_documents(prepared: Prepared, eos_id: int) -> list[np.ndarray]:
    """The validation documents, each followed by end-of-text (the layout `token_losses` reads)."""
    return [np.append(np.asarray(prepared.tokens_of(d), np.int64), eos_id) for d in prepared.split(VALIDATION)]


def token_bytes(tokenizer) -> np.ndarray:
    """UTF-8 bytes each token id stands for (0 for special tokens): byte-level BPE writes every
    byte as one character of its alphabet, so a token's string length is its byte count."""
    vocab = tokenizer.backend.get_vocab()
    sizes = np.zeros(max(vocab.values()) + 1, np.int64)
    for token, token_id in vocab.items():
        sizes[token_id] = len(token)
    for token_id in tokenizer.special.values():
        sizes[token_id] = 0
    return sizes


def floors_for(run, tokenizer, documents: list[np.ndarray], doc_bytes: np.ndarray,
               model_losses: np.ndarray) -> dict:
    """{"floors", "floor_gap", "verdict", "floor_training_tokens"} for a model's per-target losses
    on `documents`; {"floors": None} when the run's pretraining tokens are not found."""
    prepared = pretraining_data(run)
    if prepared is None:
        return {"floors": None}
    train = training_stream(prepared, tokenizer.eos_id)
    floors = ngram_floors(train, np.concatenate(documents), tokenizer.vocab_size, tokenizer.eos_id,
                          int(doc_bytes.sum()), keep_losses=True)
    gap = floor_gap(model_losses, best_floor(floors), documents, doc_bytes)
    model_bpb = float(model_losses.sum() / np.log(2) / doc_bytes.sum())
    return {"floors": [f.to_dict() for f in floors], "floor_training_tokens": int(len(train)),
            "floor_gap": gap.to_dict(), "verdict": verdict(model_bpb, floors)}


def floor_gap(model_losses: np.ndarray, floor: Floor, documents: list[np.ndarray],
              doc_bytes: np.ndarray) -> Interval:
    """1 − model bits / floor bits over the same documents (0.15 = 15% fewer bits than the floor),
    with a 95% bootstrap interval over documents. The first target of the stream belongs to the
    first document; target i + 1 is token i + 1 of the joined documents."""
    doc_of_target = np.repeat(np.arange(len(documents)), [len(d) for d in documents])[1:]
    model = np.bincount(doc_of_target, model_losses, len(documents))
    count = np.bincount(doc_of_target, floor.losses, len(documents))
    return bootstrap_interval(lambda i: 1 - model[i].sum() / count[i].sum(), len(documents))


def _join(documents: list[np.ndarray], eos_id: int) -> np.ndarray:
    if not documents:
        return np.empty(0, np.int64)
    parts = []
    for tokens in documents:
        parts += [np.asarray(tokens, np.int64), np.array([eos_id], np.int64)]
    return np.concatenate(parts)


def floor_lines(result: dict) -> list[str]:
    """The floors as `xiulian eval` prints them, under the model's own line."""
    if not result.get("floors"):
        return ["n-gram floors: none (no pretraining token shards found for this run)"]
    lines = [f"n-gram floors (fit on the run's {result['floor_training_tokens']:,} pretraining tokens, "
             "scored on the same targets):"]
    for floor in result["floors"]:
        bpb = floor["bits_per_byte"]
        lines.append(f"  {floor['name']:<8} loss {floor['loss']:.4f}, bits per byte "
                     + (f"{bpb:.4f}" if bpb is not None else "—"))
    gap = result["floor_gap"]
    lines.append(f"  model's bits per byte below the best floor's: {gap['mean']:.1%} "
                 f"(95% interval over documents {gap['low']:.1%} to {gap['high']:.1%}; negative = above it)")
    lines.append(result["verdict"])
    return lines
