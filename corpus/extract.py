"""The extract step: main text out of HTML, with trafilatura (default) or resiliparse (fast),
pruned and backed up by a text-density pass (corpus/extraction/).

Extraction hangs are the top complaint in peers' trackers, so each page gets a time limit and a
page that runs past it is removed with reason `timeout` instead of stalling its worker.
Emoji and every other symbol are kept; text is NFC-normalised and leftover entities decoded.
"""
from __future__ import annotations

import html as htmllib
import re
import signal
import threading
import unicodedata
from contextlib import contextmanager

from .document import HTML, Document
from .extraction import choose
from .html_view import made_view, text_view
from .scripts import has_cjk
from .steps import Step, require

_BLANK_RUNS = re.compile(r"\n{3,}")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});")


class ExtractionTimeout(BaseException):
    """BaseException, so that extractor code catching Exception cannot swallow it."""


def _on_alarm(signum, frame):
    raise ExtractionTimeout


@contextmanager
def time_limit(seconds: float | None):
    """Interrupt the block after `seconds` (SIGALRM: Unix, main thread; otherwise no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def normalise(text: str) -> str:
    """NFC, leftover entities decoded, trailing spaces trimmed, at most one blank line in a row.

    Leading whitespace stays: it is noise in prose but meaning in code.
    """
    if "&" in text and _ENTITY.search(text):
        text = htmllib.unescape(text)
    text = unicodedata.normalize("NFC", text)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _trafilatura(html: str, url: str | None, fast: bool) -> str:
    import trafilatura
    # deduplicate=False: trafilatura's dedup cache is process-global, which would make the
    # output depend on which pages a worker happened to see before.
    return trafilatura.extract(html, url=url, include_tables=True, include_comments=False,
                               include_images=False, include_links=False, deduplicate=False,
                               fast=fast, output_format="txt") or ""


def _resiliparse(html: str, url: str | None, fast: bool) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    return extract_plain_text(html, main_content=True, preserve_formatting=True,
                              list_bullets=True, alt_texts=False, links=False, form_fields=False,
                              noscript=False)


BACKENDS = {"trafilatura": _trafilatura, "resiliparse": _resiliparse, "density": None}


class Extract(Step):
    """Turn HTML documents into their main text; plain-text documents are only normalised.

    backend: "trafilatura" (best quality, the default), "resiliparse" (several times faster)
          or "density" (the text-density pass alone).
    density: where the text-density pass prunes the backend's text (link lists, related news,
          comment threads outside the article's container): "cjk" (pages whose letters are
          mostly Chinese/Japanese/Korean, the default: measured to help there, neutral to
          harmful on European pages), "all" or "none". Unless "none", trafilatura reads only
          the container of a page whose text view is mostly CJK (choose.py).
    fallback_chars: a text shorter than this (CJK characters count 3) is replaced by the
          density pass's text when that finds twice as much; 0 disables the fallback.
    timeout: seconds per page before it is removed as `timeout` (0 disables the limit).
    fast: trafilatura only; skip its fallback extractors (readability, jusText): about a third
          faster for 0.002 less F1 on trafilatura's eval pages (docs/BENCHMARKS.md).
    metadata["extractor"] names what produced each text ("trafilatura", "trafilatura+density",
    "density", ...); the manifest's step_counts sum them.
    """

    name = "extract"

    def __init__(self, *, backend: str = "trafilatura", density: str = "cjk",
                 fallback_chars: int = 200, timeout: float = 10.0, fast: bool = True):
        require(backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        require(density in choose.SCOPES,
                f"density must be one of {', '.join(choose.SCOPES)}, not {density!r}")
        require(isinstance(fallback_chars, int) and not isinstance(fallback_chars, bool)
                and fallback_chars >= 0, "fallback_chars must be an integer >= 0")
        require(isinstance(timeout, (int, float)) and timeout >= 0, "timeout must be seconds >= 0")
        require(isinstance(fast, bool), "fast must be true or false")
        self.backend, self.timeout, self.fast = backend, float(timeout), fast
        self.density, self.fallback_chars = density, fallback_chars
        self._extract = BACKENDS[backend]
        # trafilatura is most of a web pipeline's time: steps that can judge a page on a cheap
        # view of it do so first (Pipeline); before resiliparse that would not pay
        self.costly = backend == "trafilatura"

    def _view(self, html: str) -> str | None:
        """The page's cheap text view, which tells a CJK page before the costly extractor runs
        (the language screen has usually made it already: text_view keeps the last one)."""
        if not self.costly or self.density == "none":
            return None
        view = made_view(html)
        if view is not None or not has_cjk(html):  # no CJK character: no CJK view either
            return view
        try:
            return text_view(html)
        except Exception:  # the view is only a shortcut: the whole page goes to the extractor
            return None

    def apply(self, doc: Document) -> str | None:
        if doc.media_type == HTML:
            try:
                with time_limit(self.timeout):
                    text, extractor = choose.extract(
                        doc.text, lambda html: self._extract(html, doc.url, self.fast),
                        self.backend, self.density, self.fallback_chars, self._view(doc.text))
            except ExtractionTimeout:
                return "timeout"
            doc.media_type = "text/plain"
            doc.text = text
            doc.metadata["extractor"] = extractor
            self.count(f"extractor:{extractor}")
        doc.text = normalise(doc.text)
        return None if doc.text else "no_text"
