"""Text normalisation and tokens shared by the dedup steps.

Two texts that differ only in Unicode form, case or spacing are the same document, so every
dedup hash is taken over `normalize(text)`. Near-dedup compares token n-grams: a token is a
word in spaced scripts and a single character in scripts written without spaces (Chinese,
Japanese kana, Thai, Lao, Khmer, Myanmar), so one shingle size works for both.
"""
from __future__ import annotations

import re
import unicodedata

# Scripts without spaces between words: every character is a token.
UNSPACED = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
            "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f")
# Combining marks belong to the word they sit in (Python's \w leaves them out, which would
# split Hindi or Vietnamese words at every vowel sign).
MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff"
TOKEN = re.compile(f"[{UNSPACED}]|(?:[^\\W{UNSPACED}]|[{MARKS}])+")
# The same tokens, faster: a token never spans a character outside [\w MARKS UNSPACED], so
# the text is first cut into runs of those with one character class (the repeated alternation
# of TOKEN is most of its time), and only runs holding an unspaced character are cut further.
_RUN = re.compile(f"[\\w{MARKS}{UNSPACED}]+")
_HAS_UNSPACED = re.compile(f"[{UNSPACED}]").search
WHITESPACE = re.compile(r"\s+")
# For token_stream: ASCII bytes that are not word characters become spaces; others stay.
_ASCII_WORDS = bytes(b if chr(b).isalnum() or b == 0x5F else 0x20 for b in range(128)) + bytes(range(128, 256))
# The same, lower-casing ASCII letters too: fold() of an ASCII text is its lower case.
_ASCII_FOLDED_WORDS = _ASCII_WORDS.translate(bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                                            b"abcdefghijklmnopqrstuvwxyz"))
_ASCII_RUNS = re.compile("[\x00-\x7f]+")
_IS_WORDISH = re.compile(f"[\\w{MARKS}]").fullmatch
_IS_UNSPACED = re.compile(f"[{UNSPACED}]").fullmatch
MAX_GAP_CHARS = 32  # token_stream replaces each distinct non-ASCII non-word character: a pass each
_KIND: dict[str, int] = {}  # non-ASCII character -> 0 (not in a token), 1 (word or mark), 2 (unspaced)


def fold(text: str) -> str:
    """NFKC and casefold: the form every dedup comparison starts from."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """fold() plus whitespace collapsed to single spaces and trimmed (exact-dedup key)."""
    return WHITESPACE.sub(" ", fold(text)).strip()


def tokens(text: str) -> list[str]:
    """Words and unspaced-script characters of fold(text); punctuation and spacing dropped.
    (TOKEN.findall(fold(text)), computed faster; tests/test_dedup.py checks they agree.)"""
    return _tokens_of(fold(text))


def _tokens_of(folded: str) -> list[str]:
    runs = _RUN.findall(folded)
    if _HAS_UNSPACED(folded) is None:
        return runs
    out: list[str] = []
    for run in runs:
        if _HAS_UNSPACED(run) is None:
            out.append(run)
        else:
            out += TOKEN.findall(run)
    return out


def _kind(char: str) -> int:
    kind = _KIND.get(char)
    if kind is None:
        kind = _KIND[char] = 2 if _IS_UNSPACED(char) else 1 if _IS_WORDISH(char) else 0
    return kind


def token_stream(text: str) -> bytes:
    """The UTF-8 bytes of tokens(text), separated by one or more spaces (bytes 0x20, which no
    token holds): what the token hashes are taken over, cut at the spaces in numpy
    (hashing.token_hashes). No regex and no Python object per token on text without unspaced
    scripts: an ASCII text is lower-cased and its punctuation blanked by one bytes.translate;
    otherwise the few distinct non-ASCII characters that are not word characters become spaces
    first."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_FOLDED_WORDS)
    # fold(text) in parts: NFKC only where the text is not in NFKC already, casefolding only
    # for the few distinct non-ASCII characters it changes (it maps each character on its
    # own), ASCII letters lower-cased by the final translate.
    folded = text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)
    others = set(_ASCII_RUNS.sub("", folded))
    changed = [char for char in others if char.casefold() != char]
    for char in changed:
        folded = folded.replace(char, char.casefold())
    if changed:
        others = set(_ASCII_RUNS.sub("", folded))
    kinds = {char: _kind(char) for char in others}
    gaps = [char for char, kind in kinds.items() if kind == 0]
    if 2 in kinds.values() or len(gaps) > MAX_GAP_CHARS:  # Chinese, Thai ...; or symbols galore
        return " ".join(_tokens_of(fold(text))).encode("utf-8")
    for char in gaps:
        folded = folded.replace(char, " ")
    return folded.encode("utf-8").translate(_ASCII_FOLDED_WORDS)


def lines(text: str) -> list[str]:
    """The text's lines (paragraphs in most web text: extractors put one per line)."""
    return text.split("\n")
