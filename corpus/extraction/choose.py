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

Each result names its extractor, so a user can audit a run: "trafilatura", "trafilatura+density"
(pruned), "density" (chosen over the main extractor), or the plain backend name.
"""
from __future__ import annotations

import bisect
import re
from typing import Callable

from corpus.scripts import cjk_share, weighted_length

from . import density

#: Below this share of CJK letters a page is not pruned under scope "cjk".
CJK_PAGE_SHARE = 0.3
#: trafilatura's text must have at least this share of its characters in the container.
MIN_AGREEMENT = 0.5
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
           fallback_chars: int = 200) -> tuple[str, str]:
    """(text, extractor) for a page whose main extractor (`backend`) gave `main_text`."""
    pruning = scope == "all" or (scope == "cjk" and cjk_share(main_text) >= CJK_PAGE_SHARE)
    short = weighted_length(main_text) < fallback_chars
    if not (pruning or short):
        return main_text, backend
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


def extract(html: str, main: Callable[[], str], backend: str, scope: str,
            fallback_chars: int) -> tuple[str, str]:
    """Run the main extractor, then `choose`; backend "density" is the density pass alone."""
    if backend == "density":
        return density.analyse(html).text, "density"
    return choose(html, main(), backend, scope, fallback_chars)
