"""N-gram floors: the loss a count table reaches on the same tokens, so a model's loss means something.

A transformer's held-out loss says little alone: 6.9 nats per token sounds like learning until a
bigram table fit on the same training tokens scores 6.6. `ngram_floors` fits three count models
on a training token stream and scores them on a held-out one, target for target as the model's
evaluation does (every token after the first, documents joined by end-of-text tokens):

  unigram  additive smoothing, (c(w) + a) / (N + aV)
  bigram   interpolated Kneser-Ney: discounted bigram counts, continuation unigrams, uniform
  trigram  interpolated Kneser-Ney: discounted trigram counts, continuation bigrams and
           unigrams, uniform (Chen & Goodman 1998, the usual strong count baseline)

The smoothing (a, and one discount per order) is chosen on the training split only: every tenth
training document is set aside, each parameter is picked on it from a grid with the counts of the
other nine tenths, and the counts are then refit on all training documents. The held-out
documents are never looked at until they are scored.

Counts are numpy arrays of exact int64 keys (u·V + v, (u·V + v)·V + w; exact for vocabularies up
to 2^21), sorted once with `np.unique` and looked up with `np.searchsorted`: a few seconds for ten
million tokens, so every report can afford it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ORDERS = ("unigram", "bigram", "trigram")
DISCOUNTS = np.round(np.arange(0.05, 1.0001, 0.05), 2)     # Kneser-Ney discounts tried
ADDITIVE = np.array([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0])  # unigram pseudo-counts tried
TUNE_EVERY = 10                                           # every tenth training document tunes


@dataclass
class Floor:
    """One count model's score on the held-out stream."""
    name: str
    loss: float                  # nats per target token
    bits_per_byte: float | None  # None when the byte count is unknown
    smoothing: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "loss": self.loss, "bits_per_byte": self.bits_per_byte,
                "smoothing": self.smoothing}


def ngram_floors(train: np.ndarray, held_out: np.ndarray, vocab_size: int, eos_id: int,
                 held_out_bytes: int | None = None) -> list[Floor]:
    """Unigram, bigram and trigram floors fit on `train` and scored on `held_out[1:]`.

    Both are flat token streams, documents separated by `eos_id` (the layout the model trains and
    is evaluated on). `held_out_bytes`: the UTF-8 size of the held-out text, for bits per byte."""
    train = np.asarray(train, np.int64)
    held_out = np.asarray(held_out, np.int64)
    if vocab_size ** 3 >= 2 ** 63:
        raise ValueError(f"vocabulary of {vocab_size:,} is too large for exact trigram keys")
    if len(held_out) < 2 or len(train) < 2:
        raise ValueError("n-gram floors need at least two tokens of training and held-out text")
    fit, tune = _split_for_tuning(train, eos_id)
    counts = Counts(fit, vocab_size, eos_id)
    tuning = counts.lookup(tune, eos_id)
    alpha = _best(ADDITIVE, lambda a: counts.unigram_loss(tuning, a))
    d1 = _best(DISCOUNTS, lambda d: counts.bigram_loss(tuning, d, 0.75))
    d2 = _best(DISCOUNTS, lambda d: counts.bigram_loss(tuning, d1, d))
    d3 = _best(DISCOUNTS, lambda d: counts.trigram_loss(tuning, d1, d2, d))
    t2 = _best(DISCOUNTS, lambda d: counts.trigram_loss(tuning, d1, d, d3))  # lower orders refit
    counts = Counts(train, vocab_size, eos_id)                               # under the trigram
    scoring = counts.lookup(held_out, eos_id)
    n = len(held_out) - 1
    losses = {"unigram": (counts.unigram_loss(scoring, alpha), {"add": float(alpha)}),
              "bigram": (counts.bigram_loss(scoring, d1, d2), {"discounts": [float(d1), float(d2)]}),
              "trigram": (counts.trigram_loss(scoring, d1, t2, d3),
                          {"discounts": [float(d1), float(t2), float(d3)]})}
    return [Floor(name, float(loss), _bits_per_byte(loss * n, held_out_bytes), smoothing)
            for name, (loss, smoothing) in losses.items()]


def best_floor(floors: list[Floor]) -> Floor:
    """The lowest floor (by bits per byte when known, else by loss)."""
    return min(floors, key=lambda f: f.bits_per_byte if f.bits_per_byte is not None else f.loss)


def verdict(model_bits_per_byte: float, floors: list[Floor]) -> str:
    """One plain sentence: does the model beat the best count model, and by how much?"""
    best = best_floor(floors)
    if best.bits_per_byte is None:
        raise ValueError("a verdict needs the floors' bits per byte")
    gap = 1 - model_bits_per_byte / best.bits_per_byte
    if gap > 0:
        return (f"The model beats the best n-gram floor ({best.name}, {best.bits_per_byte:.3f} bits per "
                f"byte) by {gap:.1%}.")
    return (f"The model does NOT beat the best n-gram floor: a {best.name} count table scores "
            f"{best.bits_per_byte:.3f} bits per byte on the same documents, the model "
            f"{model_bits_per_byte:.3f} ({-gap:.1%} worse); it has not learnt more than that table.")


def _bits_per_byte(nats: float, n_bytes: int | None) -> float | None:
    return nats / math.log(2) / n_bytes if n_bytes else None


def _best(grid: np.ndarray, loss) -> float:
    return float(grid[int(np.argmin([loss(value) for value in grid]))])


def _split_for_tuning(train: np.ndarray, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Every TUNE_EVERY-th document (documents end at `eos_id`) to tune on, the rest to fit on;
    with fewer than TUNE_EVERY documents, the stream's last tenth tunes."""
    ends = np.flatnonzero(train == eos_id) + 1
    bounds = np.concatenate([[0], ends, [len(train)]]) if not len(ends) or ends[-1] != len(train) \
        else np.concatenate([[0], ends])
    if len(bounds) - 1 < TUNE_EVERY:
        cut = len(train) - max(2, len(train) // TUNE_EVERY)
        return train[:cut], train[cut:]
    doc_of = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    tune = doc_of % TUNE_EVERY == TUNE_EVERY - 1
    return train[~tune], train[tune]


def _contexts(stream: np.ndarray, eos_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, w) for every target w = stream[i], i >= 1; before the stream's start, end-of-text."""
    padded = np.concatenate([[eos_id, eos_id], stream])
    return padded[1:-2], padded[2:-1], padded[3:]


def _find(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[k] for each query found among the sorted unique `keys`, else 0."""
    if not len(keys):
        return np.zeros(len(queries), values.dtype)
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[at] == queries, values[at], 0)


@dataclass
class Lookup:
    """The counts a scored stream needs, position by position (they do not depend on smoothing)."""
    unigram: np.ndarray           # c(w)
    bigram: np.ndarray            # c(v w)
    bigram_context: np.ndarray    # c(v ·)
    bigram_types: np.ndarray      # N1+(v ·): distinct words after v
    continuation_unigram: np.ndarray   # N1+(· w): distinct words before w
    trigram: np.ndarray           # c(u v w)
    trigram_context: np.ndarray   # c(u v ·)
    trigram_types: np.ndarray     # N1+(u v ·)
    continuation_bigram: np.ndarray    # N1+(· v w)
    continuation_context: np.ndarray   # N1+(· v ·) = sum over w of N1+(· v w)
    continuation_types: np.ndarray     # distinct w with N1+(· v w) > 0


class Counts:
    """Unigram, bigram and trigram counts of one stream, and the Kneser-Ney statistics of them."""

    def __init__(self, stream: np.ndarray, vocab_size: int, eos_id: int):
        V = self.V = vocab_size
        u, v, w = _contexts(stream, eos_id)
        self.total = len(w)
        self.unigram = np.bincount(w, minlength=V).astype(np.float64)
        self.bi_keys, bi_counts = np.unique(v * V + w, return_counts=True)
        self.bi_counts = bi_counts.astype(np.float64)
        self.bi_ctx_keys, self.bi_ctx_counts, self.bi_ctx_types = _group(self.bi_keys // V, self.bi_counts)
        # Continuation unigram: how many distinct words precede w.
        self.cont_unigram = np.bincount(self.bi_keys % V, minlength=V).astype(np.float64)
        self.bigram_types_total = float(len(self.bi_keys))
        self.tri_keys, tri_counts = np.unique((u * V + v) * V + w, return_counts=True)
        self.tri_counts = tri_counts.astype(np.float64)
        self.tri_ctx_keys, self.tri_ctx_counts, self.tri_ctx_types = _group(self.tri_keys // V, self.tri_counts)
        # Continuation bigram: how many distinct words precede the pair (v, w).
        self.cont_bi_keys, cont_bi = np.unique(self.tri_keys % (V * V), return_counts=True)
        self.cont_bi_counts = cont_bi.astype(np.float64)
        self.cont_ctx_keys, self.cont_ctx_counts, self.cont_ctx_types = _group(
            self.cont_bi_keys // V, self.cont_bi_counts)

    def lookup(self, stream: np.ndarray, eos_id: int) -> Lookup:
        return self.lookup_targets(*_contexts(stream, eos_id))

    def lookup_targets(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> Lookup:
        """The counts behind P(w | u v) for each (u, v, w)."""
        V = self.V
        bigram, trigram_context = v * V + w, u * V + v
        return Lookup(
            unigram=self.unigram[w],
            bigram=_find(self.bi_keys, self.bi_counts, bigram),
            bigram_context=_find(self.bi_ctx_keys, self.bi_ctx_counts, v),
            bigram_types=_find(self.bi_ctx_keys, self.bi_ctx_types, v),
            continuation_unigram=self.cont_unigram[w],
            trigram=_find(self.tri_keys, self.tri_counts, trigram_context * V + w),
            trigram_context=_find(self.tri_ctx_keys, self.tri_ctx_counts, trigram_context),
            trigram_types=_find(self.tri_ctx_keys, self.tri_ctx_types, trigram_context),
            continuation_bigram=_find(self.cont_bi_keys, self.cont_bi_counts, bigram),
            continuation_context=_find(self.cont_ctx_keys, self.cont_ctx_counts, v),
            continuation_types=_find(self.cont_ctx_keys, self.cont_ctx_types, v))

    # Each *_probability is the model's probability of every looked-up target; *_loss its mean
    # negative log. They are written for arrays, so tuning a discount is a few vector passes.

    def unigram_probability(self, at: Lookup, add: float) -> np.ndarray:
        return (at.unigram + add) / (self.total + add * self.V)

    def continuation_probability(self, at: Lookup, d1: float) -> np.ndarray:
        """Kneser-Ney's lowest order: discounted continuation counts, the rest spread uniformly."""
        seen = float(np.count_nonzero(self.cont_unigram))
        total = self.bigram_types_total
        return (np.maximum(at.continuation_unigram - d1, 0) + d1 * seen / self.V) / total

    def bigram_probability(self, at: Lookup, d1: float, d2: float) -> np.ndarray:
        lower = self.continuation_probability(at, d1)
        return _interpolate(at.bigram, at.bigram_context, at.bigram_types, d2, lower)

    def trigram_probability(self, at: Lookup, d1: float, d2: float, d3: float) -> np.ndarray:
        lowest = self.continuation_probability(at, d1)
        middle = _interpolate(at.continuation_bigram, at.continuation_context, at.continuation_types,
                              d2, lowest)
        return _interpolate(at.trigram, at.trigram_context, at.trigram_types, d3, middle)

    def unigram_loss(self, at: Lookup, add: float) -> float:
        return float(-np.log(self.unigram_probability(at, add)).mean())

    def bigram_loss(self, at: Lookup, d1: float, d2: float) -> float:
        return float(-np.log(self.bigram_probability(at, d1, d2)).mean())

    def trigram_loss(self, at: Lookup, d1: float, d2: float, d3: float) -> float:
        return float(-np.log(self.trigram_probability(at, d1, d2, d3)).mean())


def _interpolate(count, context, types, discount, lower):
    """max(c - D, 0)/c(ctx) + D·N1+(ctx ·)/c(ctx)·lower; the lower order alone for an unseen context."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mixed = (np.maximum(count - discount, 0) + discount * types * lower) / context
    return np.where(context > 0, mixed, lower)


def _group(prefixes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted keys' prefixes: each distinct prefix, its summed count and its number of keys."""
    keys, starts, types = np.unique(prefixes, return_index=True, return_counts=True)
    return keys, np.add.reduceat(counts, starts) if len(counts) else counts, types.astype(np.float64)
