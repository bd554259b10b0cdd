"""Hashes for dedup: 128-bit document keys, 64-bit token and shingle hashes (vectorised).

Shingle hashes are built in numpy from per-token hashes, so a batch of documents costs one
Python call per token (cached per batch) and a handful of array operations per shingle size.
"""
from __future__ import annotations

import numpy as np
import xxhash

from .text import normalize

U64 = np.uint64
GOLDEN = U64(0x9E3779B97F4A7C15)


def text_key(text: str) -> bytes:
    """16-byte xxh3_128 digest of the normalised text: equal keys = the same document."""
    return xxhash.xxh3_128_digest(normalize(text).encode("utf-8"))


def line_key(normalized_line: str) -> int:
    """64-bit hash of one line already passed through `normalize` (repeated paragraphs)."""
    return xxhash.xxh3_64_intdigest(normalized_line.encode("utf-8"))


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place: spreads every input bit over every output bit."""
    with np.errstate(over="ignore"):
        h ^= h >> U64(33)
        h *= U64(0xFF51AFD7ED558CCD)
        h ^= h >> U64(33)
        h *= U64(0xC4CEB93FE1A85EC3)
        h ^= h >> U64(33)
    return h


def seed_key(seed: int, salt: int = 0) -> np.uint64:
    """A 64-bit key derived from a user seed (and a salt for independent uses of one seed)."""
    return U64(xxhash.xxh3_64_intdigest(f"xiulian-dedup:{seed}:{salt}".encode()))


class _HashCache(dict):
    def __missing__(self, token: str | bytes) -> int:
        h = self[token] = xxhash.xxh3_64_intdigest(
            token.encode("utf-8") if isinstance(token, str) else token)
        return h


class TokenHasher:
    """xxh3_64 of tokens (str, or their UTF-8 bytes: the same hash), cached: web text reuses a
    few thousand words most of the time."""

    def __init__(self, max_cache: int = 1 << 20):
        self.cache = _HashCache()
        self.max_cache = max_cache

    def __call__(self, toks: list[str] | list[bytes]) -> np.ndarray:
        if len(self.cache) > self.max_cache:
            self.cache.clear()
        return np.fromiter(map(self.cache.__getitem__, toks), dtype=U64, count=len(toks))


def shingle_hashes(token_hashes: np.ndarray, starts: np.ndarray, n: int, key: np.uint64
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-token window of each document in a batch.

    `token_hashes` holds the documents' token hashes back to back, document d starting at
    `starts[d]` (with `starts[-1]` = total). A document shorter than n tokens gives one shingle
    (all its tokens); an empty one gives none. Returns (hashes, shingle starts per document).
    """
    lengths = np.diff(starts)
    total = int(starts[-1])
    padded = np.concatenate([token_hashes, np.zeros(n, dtype=U64)])
    windows = _mix_windows(padded, total, n, key)            # window at every token position
    position = np.arange(total) - np.repeat(starts[:-1], lengths)
    valid = position <= np.repeat(lengths - n, lengths)      # the window stays inside its doc
    short = np.nonzero((lengths > 0) & (lengths < n))[0]
    for d in short:  # rare: one shingle of all the document's tokens
        own = np.concatenate([token_hashes[starts[d]:starts[d + 1]],
                              np.zeros(n - lengths[d], dtype=U64)])
        windows[starts[d]] = _mix_windows(own, 1, n, key)[0]
        valid[starts[d]] = True
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    out_starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_starts[1:])
    return windows[valid], out_starts


def _mix_windows(padded: np.ndarray, count: int, n: int, key: np.uint64) -> np.ndarray:
    """Order-sensitive hash of padded[i:i+n] for i < count (contiguous slices, no gathers)."""
    h = np.full(count, key, dtype=U64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h ^= padded[j:j + count]
            h *= GOLDEN
            h ^= h >> U64(29)
    return fmix64(h)
