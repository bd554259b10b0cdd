"""A cheap text view of an HTML page, for decisions worth making before the extract step.

trafilatura costs tens of milliseconds a page; resiliparse's plain text without main-content
heuristics costs about a millisecond and says enough to tell a page's language (docs/
pipeline.md, "Language before extraction"). The view is never written anywhere: the page still
goes through the configured extractor if nothing removes it first.
"""
from __future__ import annotations

MAX_CHARS = 20_000   # a screen reads the start of a page; more text only costs time

# The last page viewed (the object itself) and its view: the language screen makes the view
# right before the extract step, which looks at it again on Chinese pages.
_last: tuple[str | None, str] = (None, "")


def text_view(html: str) -> str:
    """The visible text of the page (scripts, styles and tags dropped), its start only."""
    global _last
    if _last[0] is html:
        return _last[1]
    from resiliparse.extract.html2text import extract_plain_text
    view = extract_plain_text(html, main_content=False, alt_texts=False, links=False,
                              form_fields=False, noscript=False)[:MAX_CHARS]
    _last = (html, view)
    return view


def made_view(html: str) -> str | None:
    """The view `text_view` made last, if it was of this very page (no work otherwise)."""
    return _last[1] if _last[0] is html else None
