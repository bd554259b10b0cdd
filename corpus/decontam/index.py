"""The n-gram index of benchmark (and validation) items, and the scan of one document against it.

An item is one record of a benchmark file. Each string of the item (a question, an answer, one
choice, one ending) is a *unit*, tokenised on its own, so no n-gram spans two fields: a copy on
the web puts "Q:", "Answer:" or "(B)" between them, and an n-gram across that seam would never
match. A unit long enough is indexed by all its n-grams. A shorter unit that is still
distinctive (at least `min_tokens` tokens) is indexed whole. A unit shorter than that (a choice
"B", "True", "4") is not indexed; an item with no indexed unit is counted as skipped. An
n-gram (or whole unit) found in `common_items` items or more is a template (MMLU repeats one
question stem in 895 items), not a benchmark item, and is dropped.

Every entry, n-gram or whole unit, is found through its *probe*, the hash of its first `probe`
tokens, and confirmed by the hash of all its tokens; so a scan hashes one window length per
document whatever the n-gram sizes. The index is a few numpy arrays sorted by probe (memory
grows with the benchmarks, never with the corpus) plus a bit table that turns away ~97% of a
document's windows before the binary search.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .benchmarks import read_records, record_strings
from .normalize import Tokens, fold_joined, tokenize_points

_BATCH_CHARS = 1 << 20   # units tokenised together
_SLOTS_PER_ENTRY = 32   # bit-table bits per entry: ~3% of windows not in the index pass it


@dataclass(frozen=True)
class Settings:
    ngram: int = 13          # tokens per n-gram in spaced scripts (words)
    cjk_ngram: int = 15      # tokens per n-gram in Chinese/Japanese (characters)
    min_tokens: int = 8      # a shorter unit is too generic to match whole (words)
    cjk_min_tokens: int = 12  # the same for Chinese/Japanese (characters)
    common_items: int = 10   # an n-gram in this many items or more is a template
    min_matches: int = 1     # n-grams a document must share with one item (or all it has)


@dataclass
class SourceFile:
    """One benchmark or validation file and what the index took from it."""

    path: str
    label: str               # how ledger reasons name it
    settings: Settings
    items: int = 0           # records read
    indexed: int = 0         # records with at least one indexed unit
    skipped_short: int = 0   # records whose every string is shorter than min_tokens
    entries: int = 0         # n-grams and whole units indexed
    templates_dropped: int = 0


@dataclass
class Hit:
    """An item a document contains, with the token spans [start, end) that matched it."""

    item: int
    ngrams: set = field(default_factory=set)     # distinct index entries matched
    whole: bool = False                          # a short unit matched whole
    spans: list = field(default_factory=list)


def _same_as_previous(values: np.ndarray) -> np.ndarray:
    """Per element: equal to the one before it (the first never is; empty stays empty)."""
    same = np.zeros(len(values), bool)
    same[1:] = values[1:] == values[:-1]
    return same


class NgramIndex:
    """Build with `add_file` for each file, then `freeze`; then `scan` documents."""

    def __init__(self, probe: int = Settings.min_tokens):
        self.probe = probe        # every entry is looked up by the hash of its first `probe` tokens
        self.sources: list[SourceFile] = []
        self.item_source: list[int] = []   # item -> index into sources
        self.item_record: list[int] = []   # item -> record number in its file, from 1
        self._parts: list[tuple[np.ndarray, ...]] = []

    def add_file(self, path: str, fields: list[str] | None = None,
                 settings: Settings = Settings(), label: str | None = None) -> SourceFile:
        if min(settings.min_tokens, settings.cjk_min_tokens) < self.probe:
            raise ValueError(f"min_tokens below the index's probe length {self.probe}")
        source = SourceFile(path, label or os.path.basename(path), settings)
        self.sources.append(source)
        units, unit_item, chars, indexed = [], [], 0, []
        for number, record in enumerate(read_records(path), 1):
            self.item_source.append(len(self.sources) - 1)
            self.item_record.append(number)
            source.items += 1
            for text in record_strings(record, fields):
                units.append(text.replace("\x00", " "))
                unit_item.append(len(self.item_source) - 1)
                chars += len(text)
            if chars > _BATCH_CHARS:  # bounded memory, and a rare NFKC-needing unit costs little
                indexed.append(self._add_units(units, np.array(unit_item, np.int64), settings))
                units, unit_item, chars = [], [], 0
        if not source.items:
            raise UserError(f"benchmark {path}: no records")
        if fields and not units and not indexed:
            raise UserError(f"benchmark {path}: no record has the field(s) {', '.join(fields)}")
        indexed.append(self._add_units(units, np.array(unit_item, np.int64), settings))
        source.indexed = len(np.unique(np.concatenate(indexed)))
        source.skipped_short = source.items - source.indexed
        return source

    def _add_units(self, units: list[str], unit_item: np.ndarray, s: Settings) -> np.ndarray:
        """Index many units with one tokeniser pass -> the item of every entry made.

        Every entry is looked up by the hash of its first `probe` tokens (so a scan hashes one
        window length, whatever the n-gram sizes) and confirmed by the hash of all the tokens it
        covers: an n-gram, or a whole short unit.
        """
        if not units:
            return np.empty(0, np.int64)
        points = fold_joined(units)
        tokens = tokenize_points(points)
        unit_of = np.searchsorted(np.flatnonzero(points == 0), tokens.starts)
        sizes = np.bincount(unit_of, minlength=len(units))
        is_cjk = np.bincount(unit_of, weights=tokens.cjk, minlength=len(units)) * 2 > sizes
        ngram = np.where(is_cjk, s.cjk_ngram, s.ngram)
        least = np.where(is_cjk, s.cjk_min_tokens, s.min_tokens)
        made = []
        probes = tokens.windows(self.probe)
        for n in np.unique(ngram[sizes >= ngram]).tolist():
            start = np.arange(len(tokens) - n + 1)
            unit = unit_of[start]
            inside = (unit == unit_of[start + n - 1]) & (ngram[unit] == n)
            start, unit = start[inside], unit[inside]
            made.append(self._part(probes[start], unit_item[unit], n, tokens.windows(n)[start],
                                   False))
        short = (sizes >= least) & (sizes < ngram)
        if short.any():
            first = np.searchsorted(unit_of, np.flatnonzero(short))
            made.append(self._part(probes[first], unit_item[short], sizes[short],
                                   tokens.window_at(first, sizes[short]), True))
        return np.concatenate(made) if made else np.empty(0, np.int64)

    def _part(self, keys, items, span, full, whole) -> np.ndarray:
        """Entries: probe hash, item, tokens covered, their hash, whether a whole unit."""
        n = len(keys)
        self._parts.append((keys, items, np.broadcast_to(span, n).astype(np.int32), full,
                            np.broadcast_to(whole, n).astype(bool)))
        return items

    def freeze(self) -> None:
        """Deduplicate, drop templates, sort, and build the bit table."""
        if not self._parts:
            self._part(np.empty(0, np.uint64), np.empty(0, np.int64), 0, np.empty(0, np.uint64), False)
        cols = [np.concatenate([p[i] for p in self._parts]) for i in range(5)]
        self._parts = []
        # An entry is identified by `full`, the hash of all its tokens (its probe is their start).
        order = np.lexsort((cols[1], cols[3]))
        cols = [c[order] for c in cols]
        items, full = cols[1], cols[3]
        fresh = ~(_same_as_previous(full) & _same_as_previous(items))   # one row per (entry, item)
        cols = [c[fresh] for c in cols]
        items, full = cols[1], cols[3]
        group = np.cumsum(~_same_as_previous(full))
        items_per_entry = np.bincount(group)[group]
        limit = np.array([s.settings.common_items for s in self.sources])[self.source_of(items)]
        template = items_per_entry >= limit
        templates = np.bincount(self.source_of(items[template]), minlength=len(self.sources))
        order = np.argsort(cols[0][~template], kind="stable")
        self.keys, self.items, self.span, self.full, self.whole = (c[~template][order] for c in cols)
        self.item_ngrams = np.bincount(self.items[~self.whole], minlength=len(self.item_source))
        entries = np.bincount(self.source_of(self.items), minlength=len(self.sources))
        for source, n_templates, n_entries in zip(self.sources, templates, entries):
            source.templates_dropped, source.entries = int(n_templates), int(n_entries)
        self.item_min_matches = np.minimum(
            np.array([s.settings.min_matches for s in self.sources])[self.source_of(
                np.arange(len(self.item_source)))], self.item_ngrams)
        self._build_table()

    def source_of(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.item_source, np.int64)[items]

    def _build_table(self) -> None:
        bits = max(12, int(np.ceil(np.log2(max(1, len(self.keys)) * _SLOTS_PER_ENTRY))))
        self._shift = np.uint64(64 - bits)
        slots = self.keys >> self._shift
        self._table = np.zeros(1 << (bits - 6), np.uint64)
        np.bitwise_or.at(self._table, slots >> np.uint64(6), np.uint64(1) << (slots & np.uint64(63)))

    def _maybe(self, windows: np.ndarray) -> np.ndarray:
        """Which windows may be lookup keys (the bit table rules out the rest)."""
        slots = windows >> self._shift
        words = self._table[slots >> np.uint64(6)]
        return np.flatnonzero((words >> (slots & np.uint64(63))) & np.uint64(1))

    # ---- scanning -------------------------------------------------------------------------

    def scan(self, tokens: Tokens) -> list[Hit]:
        """The items a document contains: enough of their n-grams, or a whole short unit."""
        windows = tokens.windows(self.probe)
        if not len(windows) or not len(self.keys):
            return []
        maybe = self._maybe(windows)
        lo = np.searchsorted(self.keys, windows[maybe])
        real = self.keys[np.minimum(lo, len(self.keys) - 1)] == windows[maybe]
        if not real.any():
            return []
        # Expand each real lookup key to its entries, then confirm each entry's full hash.
        maybe, lo = maybe[real], lo[real]
        hi = np.searchsorted(self.keys, windows[maybe], side="right")
        per_key = hi - lo
        entry = np.arange(per_key.sum()) - np.repeat(np.cumsum(per_key) - per_key - lo, per_key)
        position = np.repeat(maybe, per_key)
        span = self.span[entry]
        ok = position + span <= len(tokens)
        entry, position, span = entry[ok], position[ok], span[ok]
        confirmed = tokens.window_at(position, span) == self.full[entry]
        found: dict[int, Hit] = {}
        for e, p, n in zip(entry[confirmed].tolist(), position[confirmed].tolist(),
                           span[confirmed].tolist()):
            item = int(self.items[e])
            hit = found.setdefault(item, Hit(item))
            if self.whole[e]:
                hit.whole = True
            else:
                hit.ngrams.add(e)
            hit.spans.append((p, p + n))
        return [h for h in found.values()
                if h.whole or len(h.ngrams) >= self.item_min_matches[h.item] > 0]

    def label(self, item: int) -> str:
        return f"{self.sources[self.item_source[item]].label}#{self.item_record[item]}"
