"""Word and phrase lists, compiled into one fast regex per list.

A list file holds one word or phrase a line; `#` starts a comment line and `[name]` starts a
category (lines before any header belong to the file's default category). Terms written in a
script without spaces between words (Chinese, Japanese, Thai) match as substrings; all other
terms match only as whole words, so "ass" never fires inside "class" (the C4 rule).

The alternation is built as a trie (shared prefixes merged), which keeps Python's regex engine
fast with hundreds of terms, so no Aho–Corasick dependency is needed.
"""
from __future__ import annotations

import re
from collections import Counter
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

# Scripts written without spaces between words: a term in one of them matches as a substring.
UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNSPACED_CHAR = re.compile(f"[{UNSPACED}]")
# What counts as a word for the density threshold: one unspaced character, or a run of other
# letters and digits.
_WORD = re.compile(f"[{UNSPACED}]|[^\\W{UNSPACED}]+")
# Where a clause ends: a line break, a mark that ends a sentence or (in Chinese) a clause, or
# a space between two Chinese characters (prose has none: it separates menu items, keywords).
# Not the enumeration comma 、, nor a Latin comma: a list of terms in one sentence is one place.
_CLAUSE_END = re.compile(
    f"[\\n。！？；，：]|[.!?;:](?=\\s|$)|(?<=[{UNSPACED}])\\s+(?=[{UNSPACED}])")
# A "word character" for boundaries: letters and digits of spaced scripts, so "porn" in
# "中文porn视频" still matches while "ass" in "class" does not.
_NOT_SPACED_WORD = f"[^\\W{UNSPACED}]"


def read_list(path: str | Path, default_category: str) -> dict[str, str]:
    """term (lower-case) -> category, from one list file."""
    terms: dict[str, str] = {}
    category = default_category
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                category = line[1:-1].strip() or default_category
                continue
            terms.setdefault(" ".join(line.lower().split()), category)
    return terms


def count_words(text: str) -> int:
    """Words for the density threshold; each Chinese/Japanese/Thai character counts as one."""
    return sum(1 for _ in _WORD.finditer(text))


def _trie_pattern(terms: list[str]) -> str:
    trie: dict = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict) -> str:
        branches = [(r"\s+" if ch == " " else re.escape(ch)) + walk(child)
                    for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if "" in node:
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return walk(trie)


@dataclass
class Matches:
    counts: Counter        # term -> occurrences
    categories: Counter    # category -> occurrences
    starts: list = field(default_factory=list)   # (offset in the text, term) of each match

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def distinct(self) -> int:
        return len(self.counts)

    def top_category(self) -> str:
        return self.categories.most_common(1)[0][0]

    def spread(self, text: str) -> int:
        """Different terms found in different clauses: the most terms that can each be paired
        with a clause of its own (a maximum bipartite matching, Kuhn's augmenting paths). One
        sentence that lists terms ("打击网络赌博、六合彩和百家乐", a site's disclaimer) counts
        once however many it names; spam spreads its terms over titles, menus and lines."""
        ends = [m.start() for m in _CLAUSE_END.finditer(text)]
        by_clause: dict[int, set] = {}
        for start, term in self.starts:
            by_clause.setdefault(bisect_right(ends, start), set()).add(term)
        clauses = [sorted(terms) for _, terms in sorted(by_clause.items())]
        owner: dict[str, int] = {}   # term -> the clause it is paired with

        def pair(clause: int, tried: set) -> bool:
            for term in clauses[clause]:
                if term not in tried:
                    tried.add(term)
                    if term not in owner or pair(owner[term], tried):
                        owner[term] = clause
                        return True
            return False

        return sum(pair(i, set()) for i in range(len(clauses)))


class WordList:
    """A set of terms with categories, matched in one regex pass over lower-cased text."""

    def __init__(self, terms: dict[str, str], min_unspaced_chars: int = 2):
        # A single Chinese character (乳, 性, 奶) is part of countless innocent words.
        self.terms = {t: c for t, c in terms.items()
                      if not _UNSPACED_CHAR.search(t)
                      or sum(1 for _ in _UNSPACED_CHAR.finditer(t)) >= min_unspaced_chars}
        unspaced = sorted(t for t in self.terms if _UNSPACED_CHAR.search(t))
        spaced = sorted(t for t in self.terms if not _UNSPACED_CHAR.search(t))
        # Two regexes, not one: a single alternation of both is four times slower.
        self.regexes = []
        if spaced:
            self.regexes.append(re.compile(
                f"(?<!{_NOT_SPACED_WORD})(?:{_trie_pattern(spaced)})(?!{_NOT_SPACED_WORD})"))
        if unspaced:
            self.regexes.append(re.compile(_trie_pattern(unspaced)))

    def __len__(self) -> int:
        return len(self.terms)

    def find(self, lowered_text: str, into: Matches) -> None:
        for regex in self.regexes:
            for m in regex.finditer(lowered_text):
                term = " ".join(m.group().split())
                into.starts.append((m.start(), term))
                into.counts[term] += 1
                into.categories[self.terms[term]] += 1
