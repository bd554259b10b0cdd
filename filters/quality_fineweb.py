"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web
for the Finest Text Data at Scale", section 3.3; datatrove's FineWebQualityFilter).

FineWeb chose these thresholds by comparing removed and kept documents on English Common
Crawl. "Short" lines are counted in characters, and a Chinese or Japanese character carries
about as much as an English word of 3-4 letters, so 30 characters for spaced languages
becomes 10 for zh/ja (the same sentence fragment "see the photo gallery" is 查看图片集).
"""
from __future__ import annotations

from corpus.document import Document
from filters import text_units
from filters.quality_base import COUNT, FRACTION, NUMBER, LanguageRules
from filters.quality_gopher import duplicates


class FineWebQuality(LanguageRules):
    """Remove list-like, menu-like and repetitive pages (FineWeb's quality filter).

    line_punct_ratio    fewer than min_line_punct_ratio (0.12) of the non-empty lines end in
                        terminal punctuation (. ! ? 。！？… and other scripts' marks, closing
                        quotes/brackets after them allowed). Unlike FineWeb, a last line
                        without it is left out: a clipped document (a crawl cut at a size
                        limit, a dataset that truncates paragraphs) is not a menu. So a one-line
                        text is not judged here; C4's sentence count and Gopher's word count
                        still are.
    short_line_ratio    more than max_short_line_ratio (0.67) of the lines are at most
                        short_line_chars (30; zh/ja 10) characters long
    dup_line_char_ratio repeated lines hold more than max_dup_line_chars (0.01) of the
                        characters (newlines not counted)
    list_ratio          more than max_newlines_per_word (0.3) newlines per word
    languages: which languages are judged (default en, zh; ja has values too).
    """

    name = "fineweb_quality"
    OPTION_KINDS = {
        "min_line_punct_ratio": FRACTION, "max_short_line_ratio": FRACTION,
        "short_line_chars": COUNT, "max_dup_line_chars": FRACTION, "max_newlines_per_word": NUMBER,
    }

    def __init__(self, *, languages: list[str] = ("en", "zh"),
                 min_line_punct_ratio=0.12, max_short_line_ratio=0.67,
                 short_line_chars={"*": 30, "zh": 10, "ja": 10},
                 max_dup_line_chars=0.01, max_newlines_per_word=0.3):
        self.configure(languages, locals())

    def apply(self, doc: Document) -> str | None:
        rules = self.rules_for(doc)
        if rules is None:
            return None
        text = text_units.judged_prose(doc.text, doc.language)
        if text is None:
            return None
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "no_text"
        ends = sum(1 for line in lines if text_units.ends_with_terminal_mark(line))
        # A last line cut off mid-sentence says the text was clipped, not that it is a menu.
        judged = len(lines) - (not text_units.ends_with_terminal_mark(lines[-1]))
        if judged and ends / judged < rules.min_line_punct_ratio:
            return "line_punct_ratio"
        short = sum(1 for line in lines if len(line) <= rules.short_line_chars)
        if short / len(lines) > rules.max_short_line_ratio:
            return "short_line_ratio"
        if duplicates(lines)[1] / (len(text) - text.count("\n")) > rules.max_dup_line_chars:
            return "dup_line_char_ratio"
        words = text_units.words(text, doc.language)
        if not words or text.count("\n") / len(words) > rules.max_newlines_per_word:
            return "list_ratio"
        return None
