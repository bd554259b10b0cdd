"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods,
Analysis & Insights from Training Gopher", appendix A.1.1 and table A1; the MassiveText rules).

Defaults are the published values. Where the paper leaves a detail open we do what
datatrove's GopherQualityFilter / GopherRepetitionFilter (the implementation FineWeb used)
does, except that words are words: punctuation is not a word (datatrove counts spaCy's
punctuation tokens as non-alphabetic words, which removes 12% of LIMA's human answers) and
Chinese words come from jieba. Chinese and Japanese words are 1-2 characters long and numbers
stand apart from their units (1981年), so those languages get their own mean-word-length range
and alphabetic-word share; every other threshold is the paper's.
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np

from corpus.document import Document
from filters import text_units
from filters.quality_base import COUNT, FRACTION, NUMBER, LanguageRules

STOPWORDS_DIR = Path(__file__).with_name("stopwords")
# Stop words are matched as substrings in these (no segmenter, see text_units).
SUBSTRING_STOPWORD_LANGUAGES = frozenset({"ja"})
# "-" and "*" are bullets only before a space ("- item", not "-5 °C" or "-{"); the rest always.
BULLETS = ("•", "- ", "* ", "·", "●", "▪", "◦", "‣", "○", "■", "□", "►", "– ")
_ELLIPSIS = re.compile(r"\.\.\.|…")
_HAS_ALPHA = re.compile(r"[^\W\d_]").search
_HAS_ALNUM = re.compile(r"[^\W_]").search


@lru_cache(maxsize=None)
def stop_words(language: str | None) -> frozenset[str]:
    """The shipped stop-word list for a language (filters/stopwords/<code>.txt), or empty."""
    path = STOPWORDS_DIR / f"{language}.txt"
    if language is None or not path.is_file():
        return frozenset()
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


class GopherQuality(LanguageRules):
    """Remove documents that do not look like prose (Gopher's quality filter).

    Rules in order, each with its removal reason (defaults from Rae et al. 2021):
    too_few_words / too_many_words  words outside [min_words, max_words] = [50, 100000]
    mean_word_length    mean word length (characters) outside [3, 10]; zh/ja [1, 4.5]
    hash_ratio          "#" per word above 0.1
    ellipsis_ratio      "..." or "…" per word above 0.1
    bullet_lines        more than 90% of lines start with a bullet (•, -, * ...)
    ellipsis_lines      more than 30% of lines end with an ellipsis (the last line left out)
    alpha_words         fewer than 80% of words contain an alphabetic character; zh/ja 70%,
                        as numbers are words of their own there (1981年7月 is four words,
                        two of them numbers; "July 1981" is two)
    stop_words          fewer than 2 different stop words (filters/stopwords/<lang>.txt; the
                        English list is Gopher's eight; languages without a list skip this)
    languages: which languages are judged (default en, zh; ja has a rule set too).
    """

    name = "gopher_quality"
    OPTION_KINDS = {
        "min_words": COUNT, "max_words": COUNT, "min_mean_word_length": NUMBER,
        "max_mean_word_length": NUMBER, "max_hash_ratio": NUMBER, "max_ellipsis_ratio": NUMBER,
        "max_bullet_lines": FRACTION, "max_ellipsis_lines": FRACTION,
        "min_alpha_words": FRACTION, "min_stop_words": COUNT,
    }

    def __init__(self, *, languages: list[str] = ("en", "zh"),
                 min_words=50, max_words=100_000,
                 min_mean_word_length={"*": 3, "zh": 1, "ja": 1},
                 max_mean_word_length={"*": 10, "zh": 4.5, "ja": 4.5},
                 max_hash_ratio=0.1, max_ellipsis_ratio=0.1,
                 max_bullet_lines=0.9, max_ellipsis_lines=0.3,
                 min_alpha_words={"*": 0.8, "zh": 0.7, "ja": 0.7}, min_stop_words=2):
        self.configure(languages, locals())

    def apply(self, doc: Document) -> str | None:
        rules = self.rules_for(doc)
        if rules is None:
            return None
        language = doc.language
        # Size counts the whole document, code included; the prose rules below read the prose.
        all_words = text_units.words(doc.text, language)
        size = len(all_words)
        if size < rules.min_words:
            return "too_few_words"
        if size > rules.max_words:
            return "too_many_words"
        text = text_units.judged_prose(doc.text, language)
        if text is None:
            return None
        words = text_units.words(text, language) if text is not doc.text else all_words
        n_words = len(words)
        if n_words == 0:
            return None
        mean_length = sum(map(len, words)) / n_words
        if not rules.min_mean_word_length <= mean_length <= rules.max_mean_word_length:
            return "mean_word_length"
        if text.count("#") / n_words > rules.max_hash_ratio:
            return "hash_ratio"
        if len(_ELLIPSIS.findall(text)) / n_words > rules.max_ellipsis_ratio:
            return "ellipsis_ratio"
        # Blank lines count as lines (as datatrove): "Tips:" and a list of ten is not 90% bullets.
        lines = text.splitlines()
        if sum(line.lstrip().startswith(BULLETS) for line in lines) / len(lines) > rules.max_bullet_lines:
            return "bullet_lines"
        # The last line is not judged: a clipped document ends in "..." once, a page of
        # teasers on every line. (So a one-line text is not judged here.)
        judged = lines[:-1]
        if judged and (sum(line.rstrip().endswith(text_units.ELLIPSES) for line in judged)
                       / len(judged) > rules.max_ellipsis_lines):
            return "ellipsis_lines"
        alpha_words = sum(1 for match in map(_HAS_ALPHA, words) if match)
        if alpha_words / n_words < rules.min_alpha_words:
            return "alpha_words"
        wanted = stop_words(language)  # languages without a list skip this rule
        if wanted and count_stop_words(wanted, text, words, language) < rules.min_stop_words:
            return "stop_words"
        return None


def count_stop_words(wanted: frozenset[str], text: str, words: list[str], language: str | None) -> int:
    """How many different stop words the text holds."""
    if language in SUBSTRING_STOPWORD_LANGUAGES:
        return sum(1 for w in wanted if w in text)
    return len(wanted.intersection(map(str.lower, words)))


_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile(r"\n+")
TOP_NGRAMS = (2, 3, 4)
DUPLICATE_NGRAMS = (5, 6, 7, 8, 9, 10)


def duplicates(items: list[str]) -> tuple[int, int]:
    """(items seen before, their characters): the first copy is not a duplicate, and neither
    is a line without a letter or digit ("```", "----", "|", "* * *"): layout, not the repeated
    boilerplate text these rules look for (a code sample's fences removed 17 of LIMA's answers)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen and _HAS_ALNUM(item):
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def repeated_ngram_chars(grams: list[int], ends: list[int], n: int) -> int:
    """Characters in n-grams that repeat an earlier one, overlaps counted once.

    As datatrove: walk the text; an n-gram already seen adds its characters and the walk
    jumps past it. `ends[i]` is the character count of words[:i] (spaces excluded).
    """
    seen: set[int] = set()
    chars, i, last = 0, 0, len(grams)
    while i < last:
        gram = grams[i]
        if gram in seen:
            chars += ends[i + n] - ends[i]
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


class GopherRepetition(LanguageRules):
    """Remove documents that repeat themselves (Gopher's repetition filter).

    Thresholds from Rae et al. 2021, table A1. Fractions are of the document's characters;
    the removal reason is the rule's option name.

    dup_para_frac 0.30, dup_para_char_frac 0.20   repeated paragraphs (split on blank lines)
    dup_line_frac 0.30, dup_line_char_frac 0.20   repeated lines
    top_2gram 0.20, top_3gram 0.18, top_4gram 0.16   characters in the most frequent word n-gram
    dup_5gram 0.15, dup_6gram 0.14 ... dup_10gram 0.10   characters in repeated word n-grams
    A value of 1 turns a rule off. Words as in gopher_quality (jieba for Chinese); n-grams of
    unspaced languages have no spaces between their words.
    languages: default all ("*"): repetition needs no language knowledge beyond word splitting.
    """

    name = "gopher_repetition"
    OPTION_KINDS = {
        "dup_para_frac": FRACTION, "dup_para_char_frac": FRACTION,
        "dup_line_frac": FRACTION, "dup_line_char_frac": FRACTION,
        **{f"top_{n}gram": FRACTION for n in TOP_NGRAMS},
        **{f"dup_{n}gram": FRACTION for n in DUPLICATE_NGRAMS},
    }

    def __init__(self, *, languages: list[str] = ("*",),
                 dup_para_frac=0.3, dup_para_char_frac=0.2, dup_line_frac=0.3, dup_line_char_frac=0.2,
                 top_2gram=0.2, top_3gram=0.18, top_4gram=0.16,
                 dup_5gram=0.15, dup_6gram=0.14, dup_7gram=0.13, dup_8gram=0.12,
                 dup_9gram=0.11, dup_10gram=0.10):
        self.configure(languages, locals())

    def apply(self, doc: Document) -> str | None:
        rules = self.rules_for(doc)
        if rules is None:
            return None
        text = text_units.judged_prose(doc.text, doc.language)
        if not text or not text.strip():
            return None
        language = doc.language
        n_chars = len(text)
        paragraphs = _PARAGRAPH_BREAK.split(text.strip())
        count, chars = duplicates(paragraphs)
        if count / len(paragraphs) > rules.dup_para_frac:
            return "dup_para_frac"
        if chars / n_chars > rules.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = _LINE_BREAKS.split(text)
        count, chars = duplicates(lines)
        if count / len(lines) > rules.dup_line_frac:
            return "dup_line_frac"
        if chars / n_chars > rules.dup_line_char_frac:
            return "dup_line_char_frac"
        return self.ngram_rules(text_units.words(text, language), n_chars,
                                text_units.is_unspaced(language), rules)

    @staticmethod
    def ngram_rules(words: list[str], n_chars: int, unspaced: bool, rules) -> str | None:
        # Each n-gram is an integer id, equal n-grams equal ids: the ids of the n-grams are
        # the (n-1)-gram's id and the next word's, made dense again by numpy's sort. No tuple
        # per position, and counting is done in C.
        vocabulary = {word: i for i, word in enumerate(dict.fromkeys(words))}
        ids = np.fromiter(map(vocabulary.__getitem__, words), np.int64, len(words))
        ends = [0, *accumulate(map(len, words))]
        separator = 0 if unspaced else 1
        grams = ids
        for n in range(2, DUPLICATE_NGRAMS[-1] + 1):
            if len(ids) < n:
                return None
            keys = grams[:-1] * len(ids) + ids[n - 1:]  # both below len(ids): exact in int64
            _, first, grams, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                return_counts=True)
            if n in TOP_NGRAMS:
                top = int(counts.max())
                start = int(first[counts == top].min())  # the first one seen, as Counter.most_common
                gram_chars = ends[start + n] - ends[start] + separator * (n - 1)
                if gram_chars * top / n_chars > getattr(rules, f"top_{n}gram"):
                    return f"top_{n}gram"
            else:
                if len(counts) == len(keys):
                    return None  # no repeated n-gram, so no repeated longer one either
                if repeated_ngram_chars(grams.tolist(), ends, n) / n_chars > getattr(rules, f"dup_{n}gram"):
                    return f"dup_{n}gram"
        return None
