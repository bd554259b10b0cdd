"""Text -> tokens -> 64-bit n-gram hashes: the one normalisation the index and the scan share.

Normalisation is NFKC (full-width letters, digits and punctuation become their ASCII forms,
ligatures and circled digits are spelled out) followed by lower case; then every character that
is not a letter, digit or combining mark is a separator, so punctuation, symbols and runs of
whitespace all vanish alike. A token is a run of letters/digits/marks, except in Chinese and
Japanese (Han, kana, bopomofo), where each character is a token: those scripts put no spaces
between words. So "Question：Ｊａｎｅｔ’s ducks" and "question: janet's  ducks" give the same
tokens, and so do "下列说法，正确的是" and "下列说法, 正确的是".

Speed: CPython's NFKC runs at ~30 MB/s on Chinese (full-width commas defeat its quick check),
and a Unicode regex plus an xxhash call per token at ~13 MB/s. Here most text is folded code
point by code point through a lookup table (NFKC + lower case of each character); only text
holding a character whose NFKC is not one character, or that can compose with its neighbour
(combining marks, conjoining jamo), goes through `unicodedata.normalize` first. Both paths give
the same code points. Hashes are polynomial hashes mod 2**64 (numpy multiplications wrap),
over the code points of a token, scrambled by splitmix64, then over the tokens of a window;
they depend only on the text, never on the process (unlike Python's salted `hash()`), so an
index built in one process is valid in any other.
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
    (0x3040, 0x3130),    # hiragana, katakana, bopomofo
    (0x31A0, 0x3200),    # bopomofo extended, CJK strokes, katakana extension
    (0x3400, 0x4DC0),    # CJK extension A
    (0x4E00, 0xA000),    # CJK unified ideographs
    (0xF900, 0xFB00),    # CJK compatibility ideographs
    (0x20000, 0x323B0),  # CJK extensions B-H
)
# Conjoining Hangul jamo compose with their neighbours under NFKC, like combining marks.
COMPOSING_RANGES = ((0x1100, 0x1200), (0xA960, 0xA980), (0xD7B0, 0xD800))

_CHAR_BASE = 0x10000019B        # odd multiplier over the code points of a token
_TOKEN_BASE = 0x100000001B3     # odd multiplier over the tokens of a window (the FNV prime)
_CHAR_INVERSE = pow(_CHAR_BASE, -1, 1 << 64)
_TOKEN_INVERSE = pow(_TOKEN_BASE, -1, 1 << 64)


class _Tables:
    """Per-code-point lookup tables, built once per process (~0.4 s, 7 MB)."""

    def __init__(self):
        chars = [chr(c) for c in range(0x110000)]
        categories = list(map(unicodedata.category, chars))
        decompositions = list(map(unicodedata.decomposition, chars))
        self.fold = np.arange(0x110000, dtype=np.uint32)   # NFKC, then lower case
        self.special = np.zeros(0x110000, bool)            # needs the real NFKC first
        for c, (category, decomposition) in enumerate(zip(categories, decompositions)):
            if not decomposition and category not in ("Lu", "Lt", "Mn", "Mc", "Me"):
                continue
            nfkc = unicodedata.normalize("NFKC", chars[c]) if decomposition else chars[c]
            kinds = [unicodedata.category(x)[0] for x in nfkc]
            if not any(k in "LNM" for k in kinds):
                self.fold[c] = ord(nfkc) if len(nfkc) == 1 else ord(" ")   # "…" -> "..." -> " "
            elif len(nfkc) != 1 or kinds[0] == "M":
                self.special[c] = True
            else:
                self.fold[c] = ord(nfkc.lower()[0])
        for lo, hi in COMPOSING_RANGES:
            self.special[lo:hi] = True
        self.fold[ord("ς")] = ord("σ")   # str.lower() writes final sigma by context
        word = np.array([k[0] in "LNM" for k in categories])
        classes = np.where(word, WORD, SEPARATOR).astype(np.uint8)
        for lo, hi in CJK_RANGES:
            part = classes[lo:hi]
            part[part == WORD] = CJK
        self.classes = classes            # indexed by folded code points
        self.powers: dict[int, np.ndarray] = {}


_TABLES: _Tables | None = None


def tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _Tables()
    return _TABLES


def _powers(base: int, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) mod 2**64, cached and grown by doubling."""
    cache = tables().powers
    have = cache.get(base)
    if have is None:
        have = cache[base] = np.ones(1, np.uint64)
    if len(have) < n:
        more = np.full(max(n, 2 * len(have), 1 << 16) - len(have), base, np.uint64)
        more[0] = (int(have[-1]) * base) & ((1 << 64) - 1)
        cache[base] = have = np.concatenate([have, np.cumprod(more, dtype=np.uint64)])
    return have[:n]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def fold(text: str) -> tuple[np.ndarray, bool]:
    """Normalised code points of `text`, and whether they align one to one with its characters."""
    t = tables()
    points = _points(text)
    if t.special[points].any():
        return t.fold[_points(unicodedata.normalize("NFKC", text))], False
    return t.fold[points], True


def fold_joined(texts: list[str]) -> np.ndarray:
    """Normalised code points of many texts joined by NUL (texts must not contain NUL).

    NUL is a separator that NFKC neither changes nor composes across, so it still marks the
    boundaries; only the texts that need the real NFKC pay for it.
    """
    t = tables()
    points = _points("\x00".join(texts))
    special = np.flatnonzero(t.special[points])
    if len(special):
        texts = list(texts)
        for i in np.unique(np.searchsorted(np.flatnonzero(points == 0), special)).tolist():
            texts[i] = unicodedata.normalize("NFKC", texts[i])
        points = _points("\x00".join(texts))
    return t.fold[points]


def normalize(text: str) -> str:
    """The normalised text as a string (for reading and tests; the scan uses `fold`)."""
    return fold(text)[0].tobytes().decode("utf-32-le", "surrogatepass")


@dataclass
class Tokens:
    """Tokens of a text: spans in the folded code points, hashes, which are CJK characters."""

    starts: np.ndarray   # int64 offsets into the folded code points
    ends: np.ndarray
    hashes: np.ndarray   # uint64, one per token
    cjk: np.ndarray      # bool, one per token
    aligned: bool = True  # offsets are offsets into the original text too
    _prefix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.hashes)

    def _prefix_sums(self) -> np.ndarray:
        if self._prefix is None:
            m = len(self.hashes)
            self._prefix = np.zeros(m + 1, np.uint64)
            np.cumsum(self.hashes * _powers(_TOKEN_BASE, m), out=self._prefix[1:])
        return self._prefix

    def windows(self, length: int) -> np.ndarray:
        """Hash of every run of `length` consecutive tokens (len(self) - length + 1 of them)."""
        m = len(self.hashes)
        if m < length:
            return np.empty(0, np.uint64)
        prefix = self._prefix_sums()
        count = m - length + 1
        return (prefix[length:] - prefix[:count]) * _powers(_TOKEN_INVERSE, count)

    def window_at(self, positions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Hashes of the windows starting at `positions` with the given `lengths`."""
        prefix = self._prefix_sums()
        inverse = _powers(_TOKEN_INVERSE, len(self.hashes) + 1)
        return (prefix[positions + lengths] - prefix[positions]) * inverse[positions]


def tokenize_points(points: np.ndarray, aligned: bool = True) -> Tokens:
    """Split folded code points into tokens and hash each token."""
    classes = tables().classes[points]
    word = classes == WORD
    cjk = classes == CJK
    after_word = np.zeros(len(word), bool)
    after_word[1:] = word[:-1]
    before_word = np.zeros(len(word), bool)
    before_word[:-1] = word[1:]
    starts = np.flatnonzero((word & ~after_word) | cjk)
    ends = np.flatnonzero((word & ~before_word) | cjk) + 1
    prefix = np.zeros(len(points) + 1, np.uint64)
    np.cumsum(points * _powers(_CHAR_BASE, len(points)), out=prefix[1:])
    inverse = _powers(_CHAR_INVERSE, len(points) + 1)
    hashes = _mix((prefix[ends] - prefix[starts]) * inverse[starts])
    return Tokens(starts, ends, hashes, cjk[starts], aligned)


def tokenize(text: str) -> Tokens:
    return tokenize_points(*fold(text))


def aligned_tokens(text: str) -> tuple[Tokens, np.ndarray]:
    """Tokens whose spans map back to `text` through the returned origin array.

    For the rare text that needed the real NFKC: each character is normalised on its own, so
    an offset in the result can be traced to the character it came from. Used only to cut
    matched spans out of a document that hit.
    """
    tokens = tokenize(text)
    if tokens.aligned:
        return tokens, np.arange(len(text) + 1)
    pieces = [normalize(c) for c in text]
    origin = np.repeat(np.arange(len(text)), [len(p) for p in pieces])
    origin = np.append(origin, len(text))
    return tokenize_points(_points("".join(pieces)), aligned=False), origin
