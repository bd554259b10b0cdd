"""A page as a sequence of text blocks: the unit that link and text density are measured on.

A block is a run of text between two block-level boundaries (<p>, <div>, <li>, <br>, ...), as
in boilerpipe, jusText and CETD. Each block knows the element that holds it (its owner), how
many non-space characters it has and how many of those sit inside links, so a container's worth
is the sum over the blocks under it. Scripts, styles, forms' widgets and hidden elements carry
no text a reader sees and are skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import lxml.etree
import lxml.html

SKIPPED = frozenset({
    "script", "style", "noscript", "template", "head", "title", "meta", "link", "iframe",
    "frame", "object", "embed", "svg", "math", "canvas", "video", "audio", "map", "select",
    "option", "button", "textarea", "input"})
BOUNDARIES = frozenset({
    "address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd",
    "details", "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p",
    "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


@dataclass
class Block:
    owner: object                      # the lxml element whose direct text this is
    parts: list[str] = field(default_factory=list)
    chars: int = 0                     # non-space characters
    link_chars: int = 0                # of which inside <a>
    text: str = ""                     # whitespace collapsed, set when the block closes


# lxml.html's own parser gives HtmlElement proxies through a Python class lookup, called for
# every element the walk touches (a third of the walk's time); nothing here needs their
# methods, so plain etree elements of the same tree do.
_PARSER = lxml.etree.HTMLParser()
_UTF8_PARSER = lxml.etree.HTMLParser(encoding="utf-8")


def parse(html: str) -> list:
    """The top-level elements of a page (broken pages can have more than one <html>)."""
    try:
        root = lxml.html.document_fromstring(html, parser=_PARSER)
    except ValueError:  # a str that declares its encoding (<?xml ... encoding=...?>)
        root = lxml.html.document_fromstring(html.encode("utf-8"), parser=_UTF8_PARSER)
    except lxml.etree.ParserError:  # nothing to parse
        return []
    return [root, *(el for el in root.itersiblings() if isinstance(el.tag, str))]


def _hidden(el) -> bool:
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    style = el.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def text_blocks(tops: list) -> list[Block]:
    """The page's visible text, cut at block boundaries, in document order."""
    blocks: list[Block] = []
    current = Block(tops[0] if tops else None)

    def add(text: str | None, in_link: bool) -> None:
        if not text:
            return
        current.parts.append(text)
        if text.isspace():  # most tails: the indentation between two tags
            return
        n = len("".join(text.split()))
        current.chars += n
        if in_link:
            current.link_chars += n

    def close(next_owner) -> None:
        nonlocal current
        if current.chars:
            current.text = " ".join("".join(current.parts).split())
            blocks.append(current)
            current = Block(next_owner)
        else:  # nothing but spacing: reuse it (most boundaries close an empty block)
            current.owner = next_owner
            current.parts.clear()

    def walk(el, in_link: bool) -> None:
        tag = el.tag
        if not isinstance(tag, str) or tag in SKIPPED or _hidden(el):
            return
        in_link = in_link or tag == "a"
        boundary = tag in BOUNDARIES
        if boundary:
            close(el)
        add(el.text, in_link)
        for child in el:
            walk(child, in_link)
            if boundary and not current.chars:
                current.owner = el  # text after a child block belongs to this element again
            add(child.tail, in_link)
        if boundary:
            close(el.getparent())

    for top in tops:
        walk(top, False)
    close(None)
    return blocks
