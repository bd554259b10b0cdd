"""The n-gram index of benchmark (and validation) items, and the scan of one document against it.

An item is one record of a benchmark file. Each string of the item (a question, an answer, one
choice, one ending) is a *unit*, tokenised on its own, so no n-gram spans two fields: a copy on
the web puts "Q:", "Answer:" or "(B)" between them, and an n-gram across that seam would never
match. A unit long enough is indexed by all its n-grams; a shorter unit that is still
distinctive (at least `min_tokens`) is indexed whole: its first `min_tokens` tokens are an
anchor, and a document window matching the anchor is checked against the whole unit. A unit
shorter than that (a choice "B", "True", "4") is not indexed; an item with no indexed unit is
counted as skipped.

Everything is held in sorted numpy arrays of 64-bit hashes (memory grows with the benchmarks,
never with the corpus), plus a bit table that turns away ~97% of a document's windows before
the exact (binary search) test.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .benchmarks import read_records, record_strings
from .normalize import Tokens, normalize, tokenize

_BITS_PER_KEY = 32   # bit-table size per indexed hash: ~3% of non-matching windows pass it


@dataclass(frozen=True)
class Settings:
    ngram: int = 13          # tokens per n-gram in spaced scripts (words)
    cjk_ngram: int = 13      # tokens per n-gram in Chinese/Japanese (characters)
    min_tokens: int = 8      # shorter units are too generic to match whole (words)
    cjk_min_tokens: int = 8  # the same for Chinese/Japanese (characters)
    common_items: int = 10   # an n-gram in this many items or more is a template, not an item


@dataclass
class SourceFile:
    """One benchmark or validation file and what the index took from it."""

    path: str
    label: str               # what ledger reasons call it: the file name, or the path if ambiguous
    role: str                # "benchmark" or "holdout"
    items: int = 0           # records read
    indexed: int = 0         # records with at least one indexed unit
    skipped_short: int = 0   # records whose every string is shorter than min_tokens
    ngrams: int = 0          # distinct n-grams and whole units indexed
    common_dropped: int = 0  # n-grams dropped as templates shared by many items


@dataclass
class Hit:
    """One item a document matched, with the token spans [start, end) that matched it."""

    item: int
    matches: int
    spans: list[tuple[int, int]] = field(default_factory=list)


class NgramIndex:
    def __init__(self, settings: Settings = Settings()):
        self.settings = settings
        self.sources: list[SourceFile] = []
        self.item_source: list[int] = []      # item id -> index into sources
        self.item_record: list[int] = []      # item id -> record number in its file (from 1)
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []        # (n-gram hash, item)
        self._anchor_parts: list[tuple[np.ndarray, ...]] = []        # (anchor, item, length, full)
        self.frozen = False

    # ---- building -------------------------------------------------------------------------

    def add_file(self, path: str, fields: list[str] | None = None, role: str = "benchmark") -> SourceFile:
        source = SourceFile(path, os.path.basename(path), role)
        self.sources.append(source)
        units: list[str] = []
        unit_item: list[int] = []
        for number, record in enumerate(read_records(path), 1):
            item = len(self.item_source)
            self.item_source.append(len(self.sources) - 1)
            self.item_record.append(number)
            source.items += 1
            for text in record_strings(record, fields):
                units.append(normalize(text))
                unit_item.append(item)
        indexed = self._add_units(units, np.array(unit_item, np.int64))
        source.indexed = len(np.unique(indexed))
        source.skipped_short = source.items - source.indexed
        return source

    def _add_units(self, units: list[str], unit_item: np.ndarray) -> np.ndarray:
        """Index many units in one tokeniser pass -> the items that got at least one entry."""
        if not units:
            return np.empty(0, np.int64)
        # "\n" separates units: no token crosses it, and NFKC never composes across it.
        offsets = np.cumsum([0] + [len(u) + 1 for u in units[:-1]])
        tokens = tokenize("\n".join(units))
        unit_of = np.searchsorted(offsets, tokens.starts, side="right") - 1
        sizes = np.bincount(unit_of, minlength=len(units))
        cjk_share = np.bincount(unit_of, weights=tokens.cjk, minlength=len(units)) / np.maximum(sizes, 1)
        is_cjk = cjk_share > 0.5
        s = self.settings
        ngram = np.where(is_cjk, s.cjk_ngram, s.ngram)
        least = np.where(is_cjk, s.cjk_min_tokens, s.min_tokens)
        first_token = np.searchsorted(unit_of, np.arange(len(units)))
        indexed_items = []
        for n in np.unique(ngram):
            windows = tokens.windows(int(n))
            start = np.arange(len(windows))
            inside = (unit_of[start] == unit_of[start + n - 1]) & (ngram[unit_of[start]] == n)
            items = unit_item[unit_of[start[inside]]]
            self._pairs.append((windows[inside], items))
            indexed_items.append(items)
        short = (sizes >= least) & (sizes < ngram)
        if short.any():
            first = first_token[short]
            anchors = tokens.window_at(first, least[short])
            full = tokens.window_at(first, sizes[short])
            self._anchor_parts.append((anchors, unit_item[short], sizes[short], full,
                                       least[short]))
            indexed_items.append(unit_item[short])
        return np.concatenate(indexed_items)

    def freeze(self) -> None:
        """Deduplicate, drop template n-grams, sort, and build the bit table."""
        hashes, items = self._concat(self._pairs, 2)
        order = np.lexsort((items, hashes))
        hashes, items = hashes[order], items[order]
        fresh = np.ones(len(hashes), bool)
        fresh[1:] = (hashes[1:] != hashes[:-1]) | (items[1:] != items[:-1])
        hashes, items = hashes[fresh], items[fresh]          # one row per (n-gram, item)
        source_of = np.array(self.item_source, np.int64)
        starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
        per_key = np.diff(np.r_[starts, len(hashes)])
        common = np.repeat(per_key >= self.settings.common_items, per_key)
        for i, n in enumerate(np.bincount(source_of[items[common]], minlength=len(self.sources))):
            self.sources[i].common_dropped = int(n)
        self.keys, self.key_items = hashes[~common], items[~common]
        self.item_ngrams = np.bincount(self.key_items, minlength=len(self.item_source))
        anchors, a_items, a_len, a_full, a_least = self._concat(self._anchor_parts, 5)
        order = np.lexsort((a_items, anchors))
        self.anchors, self.anchor_items = anchors[order], a_items[order]
        self.anchor_lengths, self.anchor_full = a_len[order], a_full[order]
        self.anchor_least = a_least[order]
        per_source = np.bincount(source_of[self.key_items], minlength=len(self.sources)) + \
            np.bincount(source_of[self.anchor_items], minlength=len(self.sources))
        for source, n in zip(self.sources, per_source):
            source.ngrams = int(n)
        self.long_lengths = sorted({self.settings.ngram, self.settings.cjk_ngram})
        self.anchor_lengths_used = sorted(int(x) for x in np.unique(self.anchor_least))
        self._build_bits(np.concatenate([self.keys, self.anchors]))
        self._pairs, self._anchor_parts = [], []
        self.frozen = True

    @staticmethod
    def _concat(parts: list, width: int) -> tuple[np.ndarray, ...]:
        if not parts:
            return tuple([np.empty(0, np.uint64)] + [np.empty(0, np.int64)] * (width - 1))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(width))

    def _build_bits(self, hashes: np.ndarray) -> None:
        bits = max(10, int(np.ceil(np.log2(max(1, len(hashes)) * _BITS_PER_KEY))))
        self._shift = np.uint64(64 - bits)
        table = np.zeros(1 << (bits - 6), np.uint64)
        slots = hashes >> self._shift
        np.bitwise_or.at(table, slots >> np.uint64(6), np.uint64(1) << (slots & np.uint64(63)))
        self._bits = table

    def _maybe(self, windows: np.ndarray) -> np.ndarray:
        """Positions of windows that may be in the index (the bit table says no to the rest)."""
        slots = windows >> self._shift
        bit = (self._bits[slots >> np.uint64(6)] >> (slots & np.uint64(63))) & np.uint64(1)
        return np.flatnonzero(bit)

    # ---- scanning -------------------------------------------------------------------------

    def scan(self, tokens: Tokens) -> list[Hit]:
        """Items whose units the document contains: n-gram hits or whole short units."""
        found: dict[int, Hit] = {}
        for n in self.long_lengths:
            windows = tokens.windows(n)
            if not len(windows):
                continue
            maybe = self._maybe(windows)
            if not len(maybe):
                continue
            lo = np.searchsorted(self.keys, windows[maybe], side="left")
            hi = np.searchsorted(self.keys, windows[maybe], side="right")
            for position, a, b in zip(maybe[hi > lo], lo[hi > lo], hi[hi > lo]):
                for item in self.key_items[a:b]:
                    hit = found.setdefault(int(item), Hit(int(item), 0))
                    hit.matches += 1
                    hit.spans.append((int(position), int(position) + n))
        whole: set[int] = set()
        for least in self.anchor_lengths_used:
            windows = tokens.windows(least)
            if not len(windows):
                continue
            maybe = self._maybe(windows)
            if not len(maybe):
                continue
            lo = np.searchsorted(self.anchors, windows[maybe], side="left")
            hi = np.searchsorted(self.anchors, windows[maybe], side="right")
            for position, a, b in zip(maybe[hi > lo], lo[hi > lo], hi[hi > lo]):
                for k in range(a, b):
                    length = int(self.anchor_lengths[k])
                    if self.anchor_least[k] != least or position + length > len(tokens):
                        continue
                    full = tokens.window_at(np.array([position]), np.array([length]))[0]
                    if full == self.anchor_full[k]:
                        item = int(self.anchor_items[k])
                        hit = found.setdefault(item, Hit(item, 0))
                        hit.spans.append((int(position), int(position) + length))
                        whole.add(item)
        return [h for h in found.values() if h.item in whole or
                h.matches >= min(self._min_matches, int(self.item_ngrams[h.item]))]

    _min_matches = 1

    def label(self, item: int) -> str:
        return f"{self.sources[self.item_source[item]].label}#{self.item_record[item]}"
