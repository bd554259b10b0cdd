"""`action = "cut"`: take the matched benchmark text out of a document and keep the rest.

GPT-3 removed each matched 13-gram with a 200-character window around it; here the cut is the
matched text itself (first to last matched token, plus the item's closing punctuation), and a
line the cut leaves as a bare label ("Q:", "答：") goes too, so the rest reads as before.
"""
from __future__ import annotations

import unicodedata

import numpy as np

from .index import Hit, NgramIndex
from .normalize import Tokens, aligned_tokens, tokenize


def cut(text: str, tokens: Tokens, hits: list[Hit], index: NgramIndex) -> str:
    """`text` without the matched spans, and without lines a cut left as a bare label ("Q:")."""
    if not tokens.aligned:  # normalisation changed lengths: redo the scan on aligned offsets
        tokens, origin = aligned_tokens(text)
        hits = index.scan(tokens)
    else:
        origin = np.arange(len(text) + 1)
    spans = sorted((int(origin[tokens.starts[a]]), int(origin[tokens.ends[b - 1] - 1]) + 1)
                   for h in hits for a, b in h.spans)
    pieces, kept_from, length, cut_at = [], 0, 0, set()
    for start, end in spans:
        while end < len(text) and unicodedata.category(text[end])[0] in "PS":
            end += 1  # the item's closing "?" or "." goes with it
        if end <= kept_from:
            continue
        start = max(start, kept_from)
        pieces.append(text[kept_from:start])
        length += start - kept_from
        cut_at.add(length)
        kept_from = end
    pieces.append(text[kept_from:])
    return _drop_label_lines("".join(pieces), cut_at)


def _drop_label_lines(text: str, cut_at: set[int]) -> str:
    """Remove lines that a cut touched and left with at most two tokens ("Q:", "A) ", "答案：")."""
    lines, offset, kept = text.split("\n"), 0, []
    for line in lines:
        end = offset + len(line)
        touched = any(offset <= c <= end for c in cut_at)
        if not (touched and len(tokenize(line)) <= 2):
            kept.append(line)
        offset = end + 1
    return "\n".join(kept)
