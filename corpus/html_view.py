"""A cheap text view of an HTML page, for decisions worth making before the extract step.

trafilatura costs tens of milliseconds a page; resiliparse's plain text without main-content
heuristics costs about a millisecond and says enough to tell a page's language (docs/
pipeline.md, "Language before extraction"). The view is never written anywhere: the page still
goes through the configured extractor if nothing removes it first.
"""
from __future__ import annotations

from functools import lru_cache

MAX_CHARS = 20_000   # a screen reads the start of a page; more text only costs time


@lru_cache(maxsize=1)  # the language screen and the extract step ask for the same page's view
def text_view(html: str) -> str:
    """The visible text of the page (scripts, styles and tags dropped), its start only."""
    from resiliparse.extract.html2text import extract_plain_text
    return extract_plain_text(html, main_content=False, alt_texts=False, links=False,
                              form_fields=False, noscript=False)[:MAX_CHARS]
