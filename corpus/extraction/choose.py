"""Which text a page gives: the main extractor's, pruned by the density container, or the
density extractor's when the main one found nothing, too little, or the wrong part.

1. Pruning (pages whose text is mostly CJK by default). trafilatura keeps what follows a
   Chinese article: "相关新闻" with summaries, ranked hot lists, comment threads, share bars.
   Each of its lines is found again among the page's blocks, in order; a line whose blocks lie
   outside the density container, or are link lists or boilerplate-named, is dropped.
2. Disagreement. If fewer than half of trafilatura's characters lie in the container, one of
   the two picked the wrong part of the page (trafilatura takes the whole page when the article
   is a two-line news flash); the text with more of its characters in sentences wins -- unless
   the container of a Chinese page holds no Chinese (a footer: the page has no article).
3. Fallback. If the text is still shorter than `fallback_chars` (weighted by script) and the
   density extractor finds at least twice as much, or the density text is four times longer
   and more of it is sentences, the density text is used: forum and blog pages where
   trafilatura returns nothing, a caption or a profile box. The density pass costs about a fifth of
   trafilatura's time, and on pages trafilatura handles well it is not run at all.

On a page whose cheap text view (corpus/html_view.py) is mostly CJK, the density pass runs
first and the main extractor reads only the container's HTML, not the whole page: a Chinese
portal page is mostly navigation, rankings and scripts around a short article, and trafilatura's
time grows with all of it. Its text is then judged as above (every line now lies in the
container, so pruning only drops link lists and boilerplate-named blocks); on xmu_zh_finance_news
this scores token F1 0.967 (0.965 reading the whole page) in a sixth of trafilatura's time
(docs/BENCHMARKS.md, "Chinese extraction").

Each result names its extractor, so a user can audit a run: "trafilatura", "trafilatura+density"
(pruned, or read from the container alone), "density" (chosen over the main extractor), or the
plain backend name.
"""
from __future__ import annotations

import bisect
import re
from typing import Callable

import lxml.etree

from corpus.scripts import cjk_share, weighted_length

from . import density

#: Below this share of CJK letters a page is not pruned under scope "cjk".
CJK_PAGE_SHARE = 0.3
#: trafilatura's text must have at least this share of its characters in the container.
MIN_AGREEMENT = 0.5
#: A container with a smaller share of its characters in sentences is not read alone.
MIN_PROSE_SHARE = 0.5
SCOPES = ("cjk", "all", "none")

_NON_WORD = re.compile(r"[\W_]+")


def _key(text: str) -> str:
    """Letters and digits only: trafilatura re-spaces text, adds list dashes and table bars."""
    return _NON_WORD.sub("", text)


def prune(text: str, page: density.Page) -> tuple[str, float]:
    """(text without the lines outside the page's main content, share of characters kept).
    The text comes back unchanged (the same object) when no line goes.

    Lines are matched to blocks in document order (a short line such as "评论" is looked for
    after the previous match, not anywhere on the page); a line that matches no block (text
    the extractor rewrote) is kept.
    """
    keys = [_key(b.text) for b in page.blocks]
    starts, offset = [], 0
    for k in keys:
        starts.append(offset)
        offset += len(k)
    page_key = "".join(keys)
    kept, position = [], 0
    for line in text.split("\n"):
        k = _key(line)
        found = page_key.find(k, position) if k else -1
        if found < 0 and k:
            found = page_key.find(k)
        if found < 0:
            kept.append(line)
            continue
        position = found + len(k)
        first = bisect.bisect_right(starts, found) - 1
        last = bisect.bisect_right(starts, position - 1) - 1
        span = range(first, last + 1)
        main = sum(len(keys[i]) for i in span if page.main[i])
        if 2 * main >= sum(len(keys[i]) for i in span):
            kept.append(line)
    lines = text.split("\n")
    if len(kept) == len(lines):
        return text, 1.0
    total = sum(map(len, lines))
    return "\n".join(kept).strip(), sum(map(len, kept)) / total if total else 1.0


def _same_script(found: str, main_text: str) -> bool:
    """The density container of a Chinese page that holds no Chinese is its footer (a spam
    page of link lists keeps only "Copyright ... All Rights Reserved" there), not its article."""
    return cjk_share(main_text) < CJK_PAGE_SHARE or cjk_share(found) >= CJK_PAGE_SHARE


def choose(html: str, main_text: str, backend: str, scope: str = "cjk",
           fallback_chars: int = 200, page: density.Page | None = None) -> tuple[str, str]:
    """(text, extractor) for a page whose main extractor (`backend`) gave `main_text`;
    `page` is the page's density pass when it was already made."""
    pruning = scope == "all" or (scope == "cjk" and cjk_share(main_text) >= CJK_PAGE_SHARE)
    short = weighted_length(main_text) < fallback_chars
    if not (pruning or short):
        return main_text, backend
    if page is None:
        try:
            page = density.analyse(html)
        except RecursionError:  # nesting deeper than Python's stack: keep what the backend found
            return main_text, backend
    text, extractor = main_text, backend
    if pruning and main_text:
        pruned, share = prune(main_text, page)
        if share >= MIN_AGREEMENT:
            text, extractor = pruned, (backend if pruned is main_text else f"{backend}+density")
        elif (_same_script(page.text, main_text)
              and density.prose_share(page.text.split("\n")) > density.prose_share(main_text.split("\n"))):
            text, extractor = page.text, "density"
    found = page.text
    too_little = weighted_length(text) < fallback_chars and len(found) >= 2 * max(len(text), 1)
    # trafilatura kept a corner of the container (a WeChat profile box, a caption) and missed
    # the article: the density text is four times longer and more of it is sentences.
    missed = (len(found) >= 4 * max(len(text), 1)
              and density.prose_share(found.split("\n")) > density.prose_share(text.split("\n")))
    if too_little or missed:
        text, extractor = found, "density"
    return text, extractor


def _looks_like_article(page: density.Page, fallback_chars: int) -> bool:
    """Is the density container worth reading alone: mostly sentences, and not a line or two?
    A footer or a list page's one caption is not, and only the main extractor's reading of
    the whole page can tell where the article went (the disagreement rule above)."""
    lines = page.text.split("\n")
    return (density.prose_share(lines) >= MIN_PROSE_SHARE
            and weighted_length(page.text) >= fallback_chars)


def container_html(page: density.Page) -> str | None:
    """The density container's own HTML as a page of its own (None: no container, or the
    container is the whole page)."""
    if page.container is None or page.container.tag in ("html", "body"):
        return None
    inner = lxml.etree.tostring(page.container, encoding="unicode", method="html", with_tail=False)
    return f"<html><body>{inner}</body></html>"


def extract(html: str, main: Callable[[str], str], backend: str, scope: str,
            fallback_chars: int, view: str | None = None) -> tuple[str, str]:
    """Run the main extractor (`main(html)`), then `choose`; backend "density" is the density
    pass alone. With `view` (the page's cheap text view) mostly CJK and density pruning on, the
    main extractor reads only the density container (see above)."""
    if backend == "density":
        return density.analyse(html).text, "density"
    if scope != "none" and view is not None and cjk_share(view) >= CJK_PAGE_SHARE:
        try:
            page = density.analyse(html)
        except RecursionError:
            page = None
        if page is not None and _looks_like_article(page, fallback_chars):
            text, extractor = choose(html, main(container_html(page) or html), backend, scope,
                                     fallback_chars, page)
            # the main extractor read the container only: its text is the density pass's doing too
            return text, (f"{backend}+density" if extractor == backend else extractor)
        return choose(html, main(html), backend, scope, fallback_chars, page)
    return choose(html, main(html), backend, scope, fallback_chars)
