"""The word_blocklist step: remove gambling, adult and slur-laden pages by the words they use.

C4 dropped every page containing any word of the LDNOOBW list, which also drops medical,
legal and encyclopaedic text that mentions one such word once. Here a page is removed only
when the listed terms are many (`min_terms` different ones) or dense (`max_density` matches
per 1000 words, from at least `density_min_terms` different terms), so a mention or two, or
one term repeated as a topic (马会 in an article on the Hong Kong Jockey Club), keeps the page.
Different terms count only from different clauses: one sentence that lists several (a news
report on a gambling crackdown, a site's disclaimer) is one mention, not several.
"""
from __future__ import annotations

import html as htmllib
import os
import re
from collections import Counter
from pathlib import Path

from corpus.document import HTML, Document
from corpus.steps import Step, require

from ._wordlists import Matches, WordList, count_words, read_list

BUILTIN_DIR = Path(__file__).parent / "lists"
BUILTIN_FILES = ("badwords_en.txt", "badwords_zh.txt")

_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
# Tags that start a line of their own when shown: the clauses of a menu are its items.
_BLOCK_TAG = re.compile(r"</?(?:address|article|aside|blockquote|br|dd|div|dl|dt|footer|form|"
                        r"h[1-6]|header|hr|li|nav|ol|option|p|pre|section|table|td|th|title|tr|"
                        r"ul)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")


def visible_text(html: str) -> str:
    """Title, menus and body text of a page: what the words are matched against before
    extraction (spam pages put their tell-tale words in exactly what extraction throws away).
    Block elements become line breaks, so each menu item is a clause of its own."""
    text = _BLOCK_TAG.sub("\n", _INVISIBLE.sub(" ", html))
    return htmllib.unescape(_TAG.sub(" ", text))


class WordBlocklist(Step):
    """Remove pages crowded with blocklisted words (gambling, adult, slurs; en, zh, LDNOOBW).

    The reason names the category with most matches: `gambling`, `adult`, `slur`, ...

    builtin: use the lists in filters/lists/ (English and Chinese: gambling, adult, slurs),
        checked on every page whatever its language.
    files: more list files (one term a line, `[category]` headers), checked on every page;
        terms before any header take the file's stem as category.
    lists_dir: a folder of `<language>.txt` files, e.g. the LDNOOBW lists; the file named
        after `doc.language` is checked too (read in place, once per language). Its terms take
        the folder's name as category.
    min_terms: remove when this many different terms match, each from a clause of its own
        (a clause ends at a line break, at 。！？；，： or at . ! ? ; : before a space; not at
        、 or a Latin comma, so terms listed in one sentence count once). Default 5: on the
        dev data (docs/filters.md) spam pages matched 6 or more, clean prose at most 1 with the
        built-in lists and at most 4 with LDNOOBW's English list (sexual-health answers).
    max_density, density_min_terms: also remove when matches per 1000 words reach
        `max_density` (default 10) from at least `density_min_terms` (default 3) different
        terms (from different clauses, as above): short spam pages. A Chinese character
        counts as one word; the most repeated term's matches are left out of the density
        (it is the page's topic: 博彩 ×18 in a finance report on Macau's casino operator).
    min_cjk_chars: Chinese/Japanese terms shorter than this are ignored (default 2): single
        characters such as 乳 or 性 are parts of countless innocent words (datatrove
        allowlists 性 for the same reason).

    Placed after `extract` it reads the main text; placed before, it reads the page's visible
    text, title and menus included.
    """

    name = "word_blocklist"

    def __init__(self, *, builtin: bool = True, files: list[str] | tuple = (),
                 lists_dir: str | None = None, min_terms: int = 5, max_density: float = 10.0,
                 density_min_terms: int = 3, min_cjk_chars: int = 2):
        require(isinstance(builtin, bool), "builtin must be true or false")
        require(isinstance(files, (list, tuple)) and all(isinstance(f, str) for f in files),
                "files must be a list of paths")
        for path in files:
            require(os.path.isfile(path), f"word list not found: {path}")
        require(lists_dir is None or os.path.isdir(lists_dir), f"lists_dir not found: {lists_dir}")
        require(builtin or files or lists_dir, "no word lists: set builtin, files or lists_dir")
        require(isinstance(min_terms, int) and min_terms >= 1, "min_terms must be an integer >= 1")
        require(isinstance(max_density, (int, float)) and max_density > 0,
                "max_density must be a number > 0 (matches per 1000 words)")
        require(isinstance(density_min_terms, int) and density_min_terms >= 1,
                "density_min_terms must be an integer >= 1")
        require(isinstance(min_cjk_chars, int) and min_cjk_chars >= 1,
                "min_cjk_chars must be an integer >= 1")
        self.builtin, self.files, self.lists_dir = builtin, list(files), lists_dir
        self.min_terms, self.max_density = min_terms, float(max_density)
        self.density_min_terms, self.min_cjk_chars = density_min_terms, min_cjk_chars
        self._always: WordList | None = None
        self._by_language: dict[str, WordList | None] = {}

    def setup(self) -> None:
        terms: dict[str, str] = {}
        paths = [BUILTIN_DIR / f for f in BUILTIN_FILES] if self.builtin else []
        for path in [*paths, *map(Path, self.files)]:
            for term, category in read_list(path, path.stem).items():
                terms.setdefault(term, category)
        self._always = WordList(terms, self.min_cjk_chars)

    def _language_list(self, language: str | None) -> WordList | None:
        if not self.lists_dir or not language:
            return None
        if language not in self._by_language:
            path = Path(self.lists_dir) / f"{language}.txt"
            category = Path(self.lists_dir).name
            self._by_language[language] = (WordList(read_list(path, category), self.min_cjk_chars)
                                           if path.is_file() else None)
        return self._by_language[language]

    def matches(self, text: str, language: str | None = None) -> Matches:
        if self._always is None:
            self.setup()
        found = Matches(Counter(), Counter())
        lowered = text.lower()
        self._always.find(lowered, found)
        extra = self._language_list(language)
        if extra is not None:
            extra.find(lowered, found)
        return found

    def apply(self, doc: Document) -> str | None:
        text = visible_text(doc.text) if doc.media_type == HTML else doc.text
        found = self.matches(text, doc.language)
        if not found.counts:
            return None
        # The most repeated term is the page's topic (博彩 in a report on Macau's casinos), so
        # it does not count towards density; spam is dense in many terms.
        topic = found.counts.most_common(1)[0][1]
        density = 1000 * (found.total - topic) / max(count_words(text), 1)
        needed = (self.min_terms if density < self.max_density
                  else min(self.min_terms, self.density_min_terms))
        if found.distinct >= needed and found.spread(text.lower()) >= needed:
            return found.top_category()
        return None
