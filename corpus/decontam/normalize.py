"""Text -> tokens -> 64-bit n-gram hashes, the one normalisation the index and the scan share.

Normalisation: NFKC (full-width letters, digits and punctuation become their ASCII forms,
ligatures split), lower case, and every character that is not a letter, digit or combining mark
counts as a separator, so punctuation, symbols and runs of whitespace all vanish the same way.
A token is a run of letters/digits/marks, except in Chinese and Japanese (Han, kana, bopomofo),
where every character is a token of its own: those scripts do not put spaces between words.

Why numpy instead of a regex and a hash call per token: tokenising with a Unicode-aware regex
and hashing each token with xxhash runs at ~13 MB/s in CPython; vectorising the same work runs
several times faster. Hashes are polynomial hashes mod 2**64 (multiplications wrap), first over
the code points of a token, then, after a splitmix64 finaliser scrambles each token's hash,
over the tokens of a window. They depend only on the text, never on the process (unlike
Python's salted `hash()`), so an index built in one process is valid in every other.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

SEPARATOR, WORD, CJK = 0, 1, 2
# Scripts written without spaces between words: each character is one token.
CJK_RANGES = (
    (0x2E80, 0x2FE0),    # CJK radicals, Kangxi radicals
    (0x3005, 0x3008),    # 々 〆 〇
    (0x3040, 0x3100),    # hiragana, katakana
    (0x3100, 0x3130),    # bopomofo
    (0x31A0, 0x3200),    # bopomofo extended, CJK strokes, katakana extension
    (0x3400, 0x4DC0),    # CJK extension A
    (0x4E00, 0xA000),    # CJK unified ideographs
    (0xF900, 0xFB00),    # CJK compatibility ideographs
    (0x20000, 0x323B0),  # CJK extensions B-H
)
_CHAR_BASE = 0x10000019B        # odd multiplier for the code points of a token
_TOKEN_BASE = 0x100000001B3     # odd multiplier for the tokens of a window (the FNV prime)
_MASK = (1 << 64) - 1

_tables: dict[str, np.ndarray] = {}


def char_classes() -> np.ndarray:
    """SEPARATOR / WORD / CJK for every code point (1.1 MB, built once per process, ~0.2 s)."""
    if "classes" not in _tables:
        table = np.zeros(0x110000, np.uint8)
        table[[c for c in range(0x110000) if unicodedata.category(chr(c))[0] in "LNM"]] = WORD
        for lo, hi in CJK_RANGES:
            part = table[lo:hi]
            part[part == WORD] = CJK
        _tables["classes"] = table
    return _tables["classes"]


def _powers(name: str, base: int, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) mod 2**64, cached and grown by doubling."""
    have = _tables.get(name)
    if have is None or len(have) < n:
        size = max(n, 2 * len(have) if have is not None else 1 << 16)
        powers = np.full(size, base, np.uint64)
        powers[0] = 1
        _tables[name] = have = np.cumprod(powers, dtype=np.uint64)
    return have[:n]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def normalize(text: str) -> str:
    """NFKC then lower case; separators are dropped later, by the tokeniser."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass
class Tokens:
    """Tokens of a normalised text: character spans, hashes and which are CJK characters."""

    starts: np.ndarray   # int64 offsets into the normalised text
    ends: np.ndarray
    hashes: np.ndarray   # uint64, one per token
    cjk: np.ndarray      # bool, one per token
    _prefix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.hashes)

    def windows(self, length: int) -> np.ndarray:
        """Hash of every run of `length` consecutive tokens (len(self) - length + 1 of them)."""
        m = len(self.hashes)
        if m < length:
            return np.empty(0, np.uint64)
        if self._prefix is None:
            self._prefix = np.zeros(m + 1, np.uint64)
            np.cumsum(self.hashes * _powers("token", _TOKEN_BASE, m), out=self._prefix[1:])
        count = m - length + 1
        inverse = _powers("token_inverse", pow(_TOKEN_BASE, -1, 1 << 64), count)
        return (self._prefix[length:] - self._prefix[:count]) * inverse

    def window_at(self, positions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Hashes of the windows starting at `positions` with the given `lengths` (same rule)."""
        self.windows(1)  # builds the prefix sums
        inverse = _powers("token_inverse", pow(_TOKEN_BASE, -1, 1 << 64), len(self.hashes))
        return (self._prefix[positions + lengths] - self._prefix[positions]) * inverse[positions]


def tokenize(normalized: str) -> Tokens:
    """Split an already normalised text into tokens and hash each one."""
    points = np.frombuffer(normalized.encode("utf-32-le", "surrogatepass"), np.uint32)
    classes = char_classes()[points]
    word = classes == WORD
    cjk = classes == CJK
    after_word = np.zeros(len(word), bool)
    after_word[1:] = word[:-1]
    before_word = np.zeros(len(word), bool)
    before_word[:-1] = word[1:]
    starts = np.flatnonzero((word & ~after_word) | cjk)
    ends = np.flatnonzero((word & ~before_word) | cjk) + 1
    prefix = np.zeros(len(points) + 1, np.uint64)
    np.cumsum(points * _powers("char", _CHAR_BASE, len(points)), out=prefix[1:])
    inverse = _powers("char_inverse", pow(_CHAR_BASE, -1, 1 << 64), len(points) + 1)
    hashes = _mix((prefix[ends] - prefix[starts]) * inverse[starts])
    return Tokens(starts, ends, hashes, cjk[starts])


def tokens_of(text: str) -> Tokens:
    return tokenize(normalize(text))


def aligned_normalize(text: str) -> tuple[str, np.ndarray]:
    """Normalise character by character, with each normalised character's origin in `text`.

    Slower than `normalize` and blind to compositions across characters; used only to cut
    matched spans out of the few documents that hit.
    """
    pieces = [normalize(c) for c in text]
    origin = np.repeat(np.arange(len(text)), [len(p) for p in pieces])
    return "".join(pieces), origin
