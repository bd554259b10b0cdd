"""MinHash signatures by one-permutation hashing (OPH) with optimal densification.

Classic MinHash applies k hash functions to every shingle: k multiplications per shingle,
which is datasketch's cost and rensa's too (in Rust). OPH hashes each shingle once, uses the
high bits to pick one of k bins and keeps the smallest low-bit value per bin (Li, Owen and
Zhang 2012, "One Permutation Hashing"). Bins a short document leaves empty borrow the value
of the first non-empty bin along a fixed pseudo-random probe sequence (Shrivastava 2017,
"Optimal Densification for Fast and Accurate Minwise Hashing"), the same sequence for every
document, so P[bin values agree] = Jaccard still holds and LSH banding works unchanged.
All of it is a few numpy passes over a batch: no per-document loop.
"""
from __future__ import annotations

import numpy as np

from .hashing import U64, fmix64, seed_key

EMPTY = U64(1 << 32)  # above every 32-bit value: "no shingle fell in this bin"
MAX_PROBES = 1 << 16


def signatures(shingles: np.ndarray, starts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(documents, num_perm) uint32 signatures of a batch; a document without shingles gets
    an all-0xFFFFFFFF row (see `has_signature`).

    `shingles` are the batch's 64-bit shingle hashes back to back, document d's starting at
    `starts[d]`. Re-mixing them with the seed gives independent permutations per seed.
    """
    n_docs = len(starts) - 1
    # The shingle hashes are already well mixed (fmix64): a keyed multiply-xorshift is enough
    # to give each seed its own permutation, at a third of fmix64's cost.
    h = shingles ^ seed_key(seed, 1)
    with np.errstate(over="ignore"):
        h *= U64(0xD6E8FEB86659FD93)
    bins = h >> U64(32)
    h ^= bins
    h &= U64(0xFFFFFFFF)                                       # the value: low bits
    bins *= U64(num_perm)
    bins >>= U64(32)                                           # the bin: high bits -> [0, num_perm)
    bins += np.repeat(np.arange(0, n_docs * num_perm, num_perm, dtype=U64), np.diff(starts))
    sig = np.full(n_docs * num_perm, EMPTY, dtype=U64)
    np.minimum.at(sig, bins.view(np.int64), h)
    sig = sig.reshape(n_docs, num_perm)
    _densify(sig, num_perm, seed)
    return np.minimum(sig, U64(0xFFFFFFFF)).astype(np.uint32)


def _densify(sig: np.ndarray, num_perm: int, seed: int) -> None:
    """Fill empty bins from non-empty ones along a per-bin probe sequence shared by all docs."""
    filled = sig != EMPTY
    has_any = filled.any(axis=1)
    rows, cols = np.nonzero(~filled & has_any[:, None])
    key = seed_key(seed, 2)
    attempt = 0
    while len(rows) and attempt < MAX_PROBES:
        attempt += 1
        probe = fmix64(cols.astype(U64) * U64(0x9E3779B97F4A7C15) ^ (U64(attempt) + key))
        target = ((probe >> U64(32)) * U64(num_perm) >> U64(32)).astype(np.int64)
        hit = filled[rows, target]
        sig[rows[hit], cols[hit]] = sig[rows[hit], target[hit]]
        rows, cols = rows[~hit], cols[~hit]


def has_signature(sig: np.ndarray) -> np.ndarray:
    """Documents whose signature came from at least one shingle."""
    return (sig != np.uint32(0xFFFFFFFF)).any(axis=1)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity: the share of bins where two signatures agree (row-wise)."""
    return (a == b).mean(axis=-1)
