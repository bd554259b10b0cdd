"""Writing systems: which characters are CJK, how much a text weighs, where a sentence ends.

Shared by extraction (is this page Chinese? is this block prose?) and the filters (length by
script, FineWeb's line rules), so that every step draws the line in the same place.

Why weigh text: a length threshold in characters punishes Chinese for being dense. One CJK
character carries about what a short English word does (Chinese Wikipedia averages 1.7
characters a jieba word; English text averages ~6 characters a word, space included), so a
200-character minimum is a tweet in English but a full paragraph in Chinese.
"""
from __future__ import annotations

import re

# Han (extension A, unified, compatibility, extensions B+) and kana, Hangul syllables: scripts
# where one character carries a syllable or a word, not a letter.
CJK_CLASS = ("\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
             "\U00020000-\U0003134f")
_CJK = re.compile(f"[{CJK_CLASS}]")

#: How many characters of spaced text one CJK character stands for in `weighted_length`.
CJK_CHAR_WEIGHT = 3

# Sentence-final marks. Latin ".!?"; CJK full-width and half-width forms; Devanagari danda,
# Arabic/Urdu, Armenian, Ethiopic, Myanmar, Khmer, Tibetan and the interrobangs.
SENTENCE_END_CHARS = ".!?。！？｡．‼⁇⁈⁉‽।॥؟۔։።፧၊။។៕༎"
# Quotes and brackets that may close a sentence after its mark: 。」 or ." both end one.
CLOSING_CHARS = "\"'”’」』）)]》〉»›"
ELLIPSES = ("...", "…")
TERMINAL_MARKS = (*SENTENCE_END_CHARS, "…")


def has_cjk(text: str) -> bool:
    return not text.isascii() and _CJK.search(text) is not None


def cjk_count(text: str) -> int:
    if text.isascii():  # most web text: no pass of the regex at all
        return 0
    return len(text) - len(_CJK.sub("", text))  # no match objects or strings per character


def cjk_share(text: str, sample: int = 5000) -> float:
    """The share of CJK characters among the letters of (the first `sample` characters of) text."""
    head = text[:sample]
    if head.isascii():
        return 0.0
    letters = sum(map(str.isalpha, head))
    return cjk_count(head) / letters if letters else 0.0


def weighted_length(text: str, cjk_weight: int = CJK_CHAR_WEIGHT) -> int:
    """Characters, a CJK character counting `cjk_weight`: about the length of the same content
    in a spaced script. 200 is about 35 English words, or 67 Chinese characters (two sentences)."""
    return len(text) + (cjk_weight - 1) * cjk_count(text)


def ends_with_terminal_mark(line: str) -> bool:
    """Does the line end in a sentence mark (any script, ellipsis included), closing quotes and
    brackets after it allowed? FineWeb's line test; language-independent."""
    return line.rstrip().rstrip(CLOSING_CHARS).endswith(TERMINAL_MARKS)
