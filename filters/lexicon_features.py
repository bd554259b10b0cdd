"""Word-list features for the fastText classifiers: a token per category of listed words.

A bag-of-n-grams model trained on one dataset knows only the insults that dataset happened to
contain: trained on COLD, it misses slurs COLD never showed (F1 0.56 on ToxiCN, a separately
annotated set). With the built-in lists as features, every listed word also adds `__lex__` and
`__lex_<category>__` to the text, so a word the training data never showed still counts like
the ones it did; and the offensive list's words are training rows of their own (`rows`).
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

from ._wordlists import Matches, WordList, read_list

LISTS_DIR = Path(__file__).parent / "lists"
#: The lists a Chinese toxicity model uses: the blocklist's (gambling, adult, slur) and the
#: classifier's own offensive words.
CHINESE = ("badwords_zh", "offensive_zh")
#: Lists whose every word is offensive, so it can serve as a positive training row.
OFFENSIVE = ("offensive_zh",)
ROW_REPEATS = 3


@lru_cache(maxsize=None)
def _terms(name: str) -> dict[str, str]:
    return read_list(LISTS_DIR / f"{name}.txt", name)


@lru_cache(maxsize=None)
def word_list(names: tuple[str, ...]) -> WordList:
    terms: dict[str, str] = {}
    for name in names:
        terms.update({t: c for t, c in _terms(name).items() if t not in terms})
    return WordList(terms)


def tokens(text: str, names: tuple[str, ...]) -> list[str]:
    """`__lex__` and one `__lex_<category>__` per category found in (lower-cased) text."""
    found = Matches(Counter(), Counter())
    word_list(names).find(text, found)
    if not found.counts:
        return []
    return ["__lex__", *(f"__lex_{c}__" for c in sorted(found.categories))]


def rows(names: tuple[str, ...]) -> list[str]:
    """The words of the offensive lists among `names`, each ROW_REPEATS times."""
    words = [t for name in names if name in OFFENSIVE for t in _terms(name)]
    return words * ROW_REPEATS
