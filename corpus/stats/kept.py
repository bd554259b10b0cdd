"""One streaming pass over the kept shards: counts, lengths, tokens, languages, domains,
sources, scores, quality tiers, licences and consent flags.

Batches of a few thousand rows are read with only the columns needed and reduced with
vectorised pyarrow/numpy operations, so memory is bounded by one batch plus the counters
(domains are capped, see DOMAIN_CAP) and the pass runs at hundreds of MB/s of shard data.

Approximate tokens: characters/4, plus 5/24 of a token for every UTF-8 byte beyond the first
of a character. So ASCII text comes to 4 characters a token, CJK (3 bytes a character) to 1.5
characters a token, Cyrillic, Greek or Arabic (2 bytes) to about 2.2: the usual rules of thumb
for byte-level BPE tokenizers with CJK in their vocabulary. It needs only the character and
byte counts, so it costs nothing beyond counting characters.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .histograms import LENGTH_BINS, ScoreHistogram, length_bins, length_summary

BATCH_ROWS = 8192
CHARS_PER_TOKEN = 4.0
CJK_CHARS_PER_TOKEN = 1.5
# A CJK character has 2 extra bytes and should come to 1/1.5 token instead of 1/4: 5/24 a byte.
TOKENS_PER_EXTRA_BYTE = (1 / CJK_CHARS_PER_TOKEN - 1 / CHARS_PER_TOKEN) / 2
DOMAIN_CAP = 200_000           # distinct domains held; beyond it the rarest half is dropped
NO_LANGUAGE = "(none)"
HOST = r"^<?[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/@?#]*@)?(?P<host>[^/:?#]+)"
# metadata is JSON text; these read a key from it without parsing every row
TIER = r'"tier":\s*"?(?P<v>[^",}]*)'
LICENSE_FROM = r'"license_from":\s*"(?P<v>[^"]*)"'
PII = r'"pii":\s*(?P<v>\{[^{}]*\})'
CONSENT_FLAGS = {"tdm_reserved": r'"tdm_reserved":\s*true', "noai": r'"noai":\s*\['}
BASE_COLUMNS = ("text", "language", "url", "source", "license", "metadata")


def score_columns(names: list[str]) -> list[str]:
    return [n for n in names if n == "language_score" or n.startswith("score_")]


def float_ranges(files: list[str], columns: list[str]) -> dict[str, tuple[float, float]]:
    """Min and max of each float column, from the Parquet row-group statistics when every row
    group has them (no data read), else from one pass over that column alone."""
    ranges: dict[str, tuple[float, float]] = {}
    for column in columns:
        lo, hi, complete = np.inf, -np.inf, True
        for path in files:
            meta = pq.ParquetFile(path).metadata
            names = [meta.schema.column(i).name for i in range(meta.num_columns)]
            if column not in names:
                continue
            index = names.index(column)
            for g in range(meta.num_row_groups):
                chunk = meta.row_group(g).column(index)
                stats = chunk.statistics
                if stats is not None and stats.has_min_max:
                    lo, hi = min(lo, float(stats.min)), max(hi, float(stats.max))
                elif stats is None or stats.null_count != meta.row_group(g).num_rows:
                    complete = False
        if not complete:
            for path in files:
                if column in pq.read_schema(path).names:
                    values = pq.read_table(path, columns=[column])[column]
                    finite = pc.filter(values, pc.is_finite(values))
                    if len(finite):
                        extremes = pc.min_max(finite)
                        lo = min(lo, extremes["min"].as_py())
                        hi = max(hi, extremes["max"].as_py())
        ranges[column] = (lo, hi) if np.isfinite(lo) else (0.0, 1.0)
    return ranges


def _text_measures(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Characters (code points, as polars' len_chars counts them) and UTF-8 bytes of each text."""
    text = text.fill_null("") if text.null_count else text
    chars = pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
    utf8_bytes = pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
    return chars, utf8_bytes


def _value_counts(array: pa.Array) -> Counter:
    counts = pc.value_counts(array.drop_null())
    return Counter(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _extract(array: pa.Array, pattern: str) -> pa.Array:
    return pc.struct_field(pc.extract_regex(array, pattern), [0])


class KeptStats:
    """Accumulate statistics of kept documents batch by batch; `result()` gives the JSON."""

    def __init__(self, score_ranges: dict[str, tuple[float, float]]):
        self.documents = self.characters = self.bytes = 0
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.languages: dict[str, dict] = {}
        self.domains: Counter = Counter()
        self.domains_pruned = False
        self.without_url = 0
        self.sources: Counter = Counter()
        self.licenses: Counter = Counter()
        self.no_license = 0
        self.tiers: Counter = Counter()
        self.license_from: Counter = Counter()
        self.consent: Counter = Counter()
        self.pii_documents: Counter = Counter()
        self.pii_replaced: Counter = Counter()
        self.scores = {c: ScoreHistogram(*r) for c, r in score_ranges.items()}

    def add(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        if n == 0:
            return
        names = batch.schema.names
        text = batch.column("text")
        chars, utf8_bytes = _text_measures(text)
        self.documents += n
        self.characters += int(chars.sum())
        self.bytes += int(utf8_bytes.sum())
        lo, hi = int(chars.min()), int(chars.max())
        self.min_length = lo if self.min_length is None else min(self.min_length, lo)
        self.max_length = hi if self.max_length is None else max(self.max_length, hi)
        self._add_languages(batch.column("language") if "language" in names else None, chars, utf8_bytes)
        if "url" in names:
            self._add_domains(batch.column("url"))
        else:
            self.without_url += n
        if "source" in names:
            self.sources.update(_value_counts(batch.column("source")))
        if "license" in names:
            license_column = batch.column("license")
            self.no_license += license_column.null_count
            self.licenses.update(_value_counts(license_column))
        else:
            self.no_license += n
        if "metadata" in names and _is_text(batch.schema.field("metadata").type):
            self._add_metadata(batch.column("metadata"))
        for column, histogram in self.scores.items():
            if column in names:
                values = batch.column(column)
                histogram.add(values.drop_null().to_numpy(zero_copy_only=False).astype(np.float64),
                              values.null_count)
            else:
                histogram.add(np.empty(0), n)

    def _add_languages(self, language: pa.Array | None, chars: np.ndarray,
                       utf8_bytes: np.ndarray) -> None:
        if language is None:
            language = pa.nulls(len(chars), pa.string())
        encoded = pc.dictionary_encode(language, null_encoding="encode")
        labels = [NO_LANGUAGE if v is None else v for v in encoded.dictionary.to_pylist()]
        index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        k = len(labels)
        docs = np.bincount(index, minlength=k)
        char_sums = np.bincount(index, weights=chars, minlength=k)
        byte_sums = np.bincount(index, weights=utf8_bytes, minlength=k)
        bins = np.bincount(index * LENGTH_BINS + length_bins(chars),
                           minlength=k * LENGTH_BINS).reshape(k, LENGTH_BINS)
        lows = np.full(k, np.iinfo(np.int64).max)
        np.minimum.at(lows, index, chars)
        highs = np.full(k, -1)
        np.maximum.at(highs, index, chars)
        for i, label in enumerate(labels):
            entry = self.languages.get(label)
            if entry is None:
                entry = self.languages[label] = {"documents": 0, "characters": 0, "bytes": 0,
                                                 "min": None, "max": None,
                                                 "bins": np.zeros(LENGTH_BINS, np.int64)}
            entry["documents"] += int(docs[i])
            entry["characters"] += int(char_sums[i])
            entry["bytes"] += int(byte_sums[i])
            entry["bins"] += bins[i]
            if docs[i]:
                lo, hi = int(lows[i]), int(highs[i])
                entry["min"] = lo if entry["min"] is None else min(entry["min"], lo)
                entry["max"] = hi if entry["max"] is None else max(entry["max"], hi)

    def _add_domains(self, url: pa.Array) -> None:
        host = _extract(url, HOST)
        self.without_url += host.null_count
        host = pc.replace_substring_regex(pc.utf8_lower(host), r"^www\.", "")
        self.domains.update(_value_counts(host))
        if len(self.domains) > DOMAIN_CAP:
            self.domains = Counter(dict(self.domains.most_common(DOMAIN_CAP // 2)))
            self.domains_pruned = True

    def _add_metadata(self, metadata: pa.Array) -> None:
        self.tiers.update(_value_counts(_extract(metadata, TIER)))
        self.license_from.update(_value_counts(_extract(metadata, LICENSE_FROM)))
        for found in _extract(metadata, PII).drop_null().to_pylist():
            try:
                counts = json.loads(found)
            except ValueError:
                continue
            for kind, n in counts.items():
                if isinstance(n, (int, float)):
                    self.pii_documents[kind] += 1
                    self.pii_replaced[kind] += int(n)
        for flag, needle in CONSENT_FLAGS.items():
            self.consent[flag] += int(pc.sum(pc.match_substring_regex(metadata, needle)).as_py() or 0)

    def result(self, top: int) -> dict:
        languages = sorted(self.languages.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))
        all_bins = sum((e["bins"] for _, e in languages), np.zeros(LENGTH_BINS, np.int64))
        return {
            "kept": {"documents": self.documents, "characters": self.characters,
                     "approx_tokens": approx_tokens(self.characters, self.bytes),
                     "utf8_bytes": self.bytes},
            "languages": [{"language": label, "documents": e["documents"],
                           "characters": e["characters"],
                           "approx_tokens": approx_tokens(e["characters"], e["bytes"])}
                          for label, e in languages],
            "length": length_summary(all_bins, self.characters, self.min_length, self.max_length),
            "length_by_language": {label: length_summary(e["bins"], e["characters"], e["min"], e["max"])
                                   for label, e in languages[:8]},
            "domains": {"distinct": len(self.domains), "approximate": self.domains_pruned,
                        "documents_without_url": self.without_url,
                        "top": [{"domain": d, "documents": n}
                                for d, n in _most_common(self.domains, top)]},
            "sources": [{"source": s, "documents": n} for s, n in _most_common(self.sources, top)],
            # a column no document has a value in (language_score without a language step) is left out
            "scores": {c: h.summary() for c, h in sorted(self.scores.items()) if h.n},
            "tiers": [{"tier": t, "documents": n} for t, n in sorted(self.tiers.items())],
            "licenses": {"declared": self.documents - self.no_license, "none": self.no_license,
                         "top": [{"license": s, "documents": n}
                                 for s, n in _most_common(self.licenses, top)],
                         "found_in": dict(_most_common(self.license_from, top))},
            "consent_flags_kept": {k: v for k, v in self.consent.items() if v},
            "pii": [{"kind": k, "documents": self.pii_documents[k], "replaced": self.pii_replaced[k]}
                    for k in sorted(self.pii_documents)],
        }


def approx_tokens(characters: int, utf8_bytes: int) -> int:
    return int(round(characters / CHARS_PER_TOKEN + (utf8_bytes - characters) * TOKENS_PER_EXTRA_BYTE))


def _most_common(counter: Counter, n: int) -> list[tuple]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


def scan_kept(files: list[str], top: int = 20) -> dict:
    """Statistics of every kept document in `files` (one streaming pass)."""
    scores = sorted({c for f in files for c in score_columns(pq.read_schema(f).names)})
    stats = KeptStats(float_ranges(files, scores))
    for path in files:
        parquet = pq.ParquetFile(path)
        present = parquet.schema_arrow.names
        wanted = [c for c in (*BASE_COLUMNS, *scores) if c in present]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            stats.add(batch)
    return stats.result(top)
