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


def fold(text: str) -> str:
    """NFKC and casefold: the form every dedup comparison starts from."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """fold() plus whitespace collapsed to single spaces and trimmed (exact-dedup key)."""
    return WHITESPACE.sub(" ", fold(text)).strip()


def tokens(text: str) -> list[str]:
    """Words and unspaced-script characters of fold(text); punctuation and spacing dropped.
    (TOKEN.findall(fold(text)), computed faster; tests/test_dedup.py checks they agree.)"""
    folded = fold(text)
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


def lines(text: str) -> list[str]:
    """The text's lines (paragraphs in most web text: extractors put one per line)."""
    return text.split("\n")
