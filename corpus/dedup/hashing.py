"""Hashes for dedup: 128-bit document keys, 64-bit token and shingle hashes (vectorised).

Token hashes are cut out of prefix sums over a whole batch's bytes and shingle hashes are
built from them, all in numpy: a batch of documents costs a handful of array operations per
byte and per shingle size, and no Python object per token.
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


# Token hashes: a polynomial in P over the token's bytes, mod 2^64 (numpy's wrap-around), then
# fmix64 with the length. P is odd, so it has an inverse mod 2^64 and a token's value can be cut
# out of the prefix sums of the whole byte stream: no Python object per token.
P = U64(0xC2B2AE3D27D4EB4F)  # xxHash's PRIME64_2: odd
P_INV = U64(pow(int(P), -1, 1 << 64))
GROUP_BYTES = 1 << 20  # bytes hashed at once: bounds the power tables (8 bytes a byte, twice)
_powers: list[np.ndarray] = [np.ones(1, U64), np.ones(1, U64)]  # P^k, P^-k for k < len


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(_powers[0]) < n:
        size = max(n, 2 * len(_powers[0]))
        for i, base in enumerate((P, P_INV)):
            table = np.full(size, base, dtype=U64)
            table[0] = 1
            _powers[i] = np.cumprod(table, dtype=U64)
    return _powers[0][:n], _powers[1][:n]


def token_hashes(streams: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the tokens of `token_stream` outputs (tokens = runs of bytes other than
    0x20), back to back, and where each stream's start in them (starts[-1] = total). A token's
    hash depends on its bytes only, not on where or with what it is hashed."""
    hashes, counts = [], []
    group: list[bytes] = []
    size = 0
    for i, stream in enumerate(streams):
        group.append(stream)
        size += len(stream) + 1
        if size >= GROUP_BYTES or i == len(streams) - 1:
            h, c = _group_hashes(group)
            hashes.append(h)
            counts.append(c)
            group, size = [], 0
    starts = np.zeros(len(streams) + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=starts[1:])
    return (np.concatenate(hashes) if hashes else np.zeros(0, U64)), starts


def _group_hashes(streams: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(token hashes, tokens per stream) of streams joined by spaces, as one byte array."""
    data = np.frombuffer(b" ".join(streams) + b" ", dtype=np.uint8)
    in_token = np.empty(len(data) + 1, dtype=np.int8)
    in_token[0] = 0
    np.not_equal(data, 0x20, out=in_token[1:].view(bool))
    edges = np.diff(in_token)
    first, end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # [first, end)
    powers, inverse = _power_tables(len(data))
    prefix = np.zeros(len(data) + 1, dtype=U64)
    with np.errstate(over="ignore"):
        np.cumsum(data * powers, out=prefix[1:])
        h = (prefix[end] - prefix[first]) * inverse[first]
        h ^= (end - first).astype(U64) * GOLDEN
    stream_starts = np.zeros(len(streams) + 1, dtype=np.int64)
    np.cumsum([len(s) + 1 for s in streams], out=stream_starts[1:])
    return fmix64(h), np.diff(np.searchsorted(first, stream_starts))


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
