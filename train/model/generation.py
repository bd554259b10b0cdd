"""Streaming generation: tokens one at a time with the KV cache, and text that is safe to print.

`Transformer.generate` returns a whole continuation; chat, the server and the arena want each
piece as it comes. Byte-level tokens can split a UTF-8 character (a Chinese character is three
bytes), so `stream_text` holds back text until the bytes complete a character.
"""
from __future__ import annotations

import codecs
from collections.abc import Iterator

import torch

from .tokenizer import Tokenizer
from .transformer import KVCache, Transformer, sample


@torch.no_grad()
def stream_tokens(model: Transformer, prompt: list[int], max_new_tokens: int,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  stop: set[int] = frozenset(), generator: torch.Generator | None = None
                  ) -> Iterator[int]:
    """Yield sampled token ids until a stop token (not yielded), the limit, or the context end."""
    device = next(model.parameters()).device
    room = model.config.max_seq_len - len(prompt)
    cache = KVCache(model.config.n_layers)
    logits = model(torch.tensor([prompt], device=device), cache=cache)[:, -1]
    for _ in range(min(max_new_tokens, room)):
        token = sample(logits, temperature, top_k, top_p, generator)
        token_id = int(token.item())
        if token_id in stop:
            return
        yield token_id
        if cache.length >= model.config.max_seq_len:
            return
        logits = model(token, cache=cache)[:, -1]


def stream_text(tokenizer: Tokenizer, tokens: Iterator[int], stop_strings: list[str] = ()) -> Iterator[str]:
    """Pieces of decoded text as tokens arrive, each ending on a character boundary; stops
    before the first of `stop_strings`."""
    sent = 0
    text = ""
    for text in _growing_text(tokenizer, tokens):
        cut = _first_stop(text, stop_strings)
        if cut is not None:
            if cut > sent:
                yield text[sent:cut]
            return
        # Hold back a tail that could still grow into a stop string.
        hold = _partial_stop(text, stop_strings)
        if len(text) - hold > sent:
            yield text[sent:len(text) - hold]
            sent = len(text) - hold
    cut = _first_stop(text, stop_strings)
    end = len(text) if cut is None else cut
    if end > sent:
        yield text[sent:end]


def _growing_text(tokenizer: Tokenizer, tokens: Iterator[int]) -> Iterator[str]:
    """The whole text so far, after each token, complete characters only.

    With a byte-level vocabulary the bytes go through an incremental UTF-8 decoder: a character
    split across tokens waits for its last byte, and bytes that can never form a character (an
    undertrained model's stray lead byte followed by ASCII, say) are dropped rather than shown
    as U+FFFD. Other vocabularies (an imported SentencePiece one) decode the ids so far.
    """
    table = tokenizer.token_bytes()
    if table is not None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        text = ""
        for token in tokens:
            text += decoder.decode(table[token])
            yield text
        yield text + decoder.decode(b"", final=True)
        return
    ids: list[int] = []
    for token in tokens:
        ids.append(token)
        text = tokenizer.decode(ids)
        if not text.endswith("\ufffd"):  # else an incomplete character: wait for its bytes
            yield text
    yield tokenizer.decode(ids)


def _first_stop(text: str, stops) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _partial_stop(text: str, stops) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best
