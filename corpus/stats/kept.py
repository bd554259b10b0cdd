"""The statistics of the kept shards: counts, lengths, tokens, languages, domains, sources,
scores, quality tiers, licences, PII and consent flags.

Each number is a small aggregate query over the shards, and polars' streaming engine runs them
together, reading each needed column once and only the text column for the lengths: 1.3x the
speed of the pyarrow pass this replaced, at the same memory, which stays flat as the input
grows (docs/BENCHMARKS.md, "Stats: polars or pyarrow"). Memory grows only with the number of
distinct keys: domains, sources, licences.

Approximate tokens: characters/4, plus 5/24 of a token for every UTF-8 byte beyond the first
of a character. So ASCII text comes to 4 characters a token, CJK (3 bytes a character) to 1.5
characters a token, Cyrillic, Greek or Arabic (2 bytes) to about 2.2: the usual rules of thumb
for byte-level BPE tokenizers with CJK in their vocabulary. It needs only the character and
byte counts, so it costs nothing beyond counting characters.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .histograms import (LENGTH_BINS, LENGTH_BINS_PER_DECADE, SCORE_BINS, ScoreHistogram,
                         length_summary, nice_range)

CHARS_PER_TOKEN = 4.0
CJK_CHARS_PER_TOKEN = 1.5
# A CJK character has 2 extra bytes and should come to 1/1.5 token instead of 1/4: 5/24 a byte.
TOKENS_PER_EXTRA_BYTE = (1 / CJK_CHARS_PER_TOKEN - 1 / CHARS_PER_TOKEN) / 2
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


class KeptStats:
    """The statistics of kept documents, filled from the query results; `result()` gives the JSON."""

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

    def add_length_group(self, row: dict) -> None:
        """One (language, length bin) group of documents."""
        entry = self.languages.get(row["language"])
        if entry is None:
            entry = self.languages[row["language"]] = {"documents": 0, "characters": 0, "bytes": 0,
                                                       "min": None, "max": None,
                                                       "bins": np.zeros(LENGTH_BINS, np.int64)}
        for key, value in (("documents", row["documents"]), ("characters", row["characters"]),
                           ("bytes", row["bytes"])):
            entry[key] += int(value)
        entry["bins"][row["bin"]] += row["documents"]
        entry["min"] = row["shortest"] if entry["min"] is None else min(entry["min"], row["shortest"])
        entry["max"] = row["longest"] if entry["max"] is None else max(entry["max"], row["longest"])
        self.documents += int(row["documents"])
        self.characters += int(row["characters"])
        self.bytes += int(row["bytes"])
        self.min_length = row["shortest"] if self.min_length is None else min(self.min_length, row["shortest"])
        self.max_length = row["longest"] if self.max_length is None else max(self.max_length, row["longest"])

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


def _frame(path: str, scores: list[str]) -> pl.LazyFrame:
    """One shard with the columns the queries read; a column it lacks is null (a folder of
    shards from several tools may not share one schema)."""
    schema = pq.read_schema(path)
    frame = pl.scan_parquet(path)
    columns = []
    for name in BASE_COLUMNS:
        present = name in schema.names and (name != "metadata" or pa.types.is_string(schema.field(name).type)
                                            or pa.types.is_large_string(schema.field(name).type))
        columns.append(pl.col(name).cast(pl.String) if present else pl.lit(None, pl.String).alias(name))
    columns += [pl.col(c).cast(pl.Float64) if c in schema.names else pl.lit(None, pl.Float64).alias(c)
                for c in scores]
    return frame.select(columns)


def _queries(corpus: pl.LazyFrame, ranges: dict[str, tuple[float, float]]) -> dict[str, pl.LazyFrame]:
    """Every number as a small aggregate; only the first query reads the text."""
    text = pl.col("text").fill_null("")
    chars, nbytes = text.str.len_chars(), text.str.len_bytes()
    # histograms.length_edges: bin 0 holds empty texts, then 10 logarithmic bins a decade
    bins = (pl.when(chars <= 0).then(0)
            .otherwise((chars.cast(pl.Float64).log10() * LENGTH_BINS_PER_DECADE + 1e-9).floor()
                       .cast(pl.Int64) + 1)
            .clip(0, LENGTH_BINS - 1))
    metadata = pl.col("metadata")
    queries = {
        "lengths": corpus.group_by(pl.col("language").fill_null(NO_LANGUAGE), bins.alias("bin"))
                         .agg(documents=pl.len(), characters=chars.sum(), bytes=nbytes.sum(),
                              shortest=chars.min(), longest=chars.max()),
        "domains": corpus.select(pl.col("url").str.extract(HOST, 1).str.to_lowercase()
                                 .str.replace(r"^www\.", "").alias("domain"))
                         .group_by("domain").len(),
        "sources": corpus.group_by("source").len(),
        "licenses": corpus.group_by("license").len(),
        "tiers": corpus.select(metadata.str.extract(TIER, 1).alias("v")).group_by("v").len(),
        "license_from": corpus.select(metadata.str.extract(LICENSE_FROM, 1).alias("v")).group_by("v").len(),
        "consent": corpus.select(**{flag: metadata.str.contains(needle).sum()
                                    for flag, needle in CONSENT_FLAGS.items()}),
        # {"email": 2, "ip": 1} -> one row per kind: documents holding it, placeholders put in
        "pii": corpus.select(metadata.str.extract(PII, 1).str.extract_all(r'"[^"]+":\s*\d+').alias("kv"))
                     .explode("kv").drop_nulls()
                     .select(kind=pl.col("kv").str.extract(r'"([^"]+)"', 1),
                             n=pl.col("kv").str.extract(r":\s*(\d+)", 1).cast(pl.Int64))
                     .group_by("kind").agg(documents=pl.len(), replaced=pl.col("n").sum()),
    }
    for column, (lo, hi) in ranges.items():
        lo, hi = nice_range(lo, hi)
        value = pl.col(column)
        finite = value.filter(value.is_finite())
        clipped = finite.clip(lo, hi)
        bin_of = ((clipped - lo) * (SCORE_BINS / (hi - lo))).floor().cast(pl.Int64).clip(0, SCORE_BINS - 1)
        bin_of = bin_of.alias("bin")
        queries[f"score:{column}"] = corpus.select(
            n=finite.count(), missing=value.null_count(), total=finite.sum(), lo=finite.min(),
            hi=finite.max())
        queries[f"bins:{column}"] = corpus.select(bin_of).group_by("bin").len()
    return queries


def scan_kept(files: list[str], top: int = 20) -> dict:
    """Statistics of every kept document in `files`: polars' streaming engine runs the queries
    together, reading each needed column once (docs/BENCHMARKS.md, "Stats: polars or pyarrow")."""
    scores = sorted({c for f in files for c in score_columns(pq.read_schema(f).names)})
    ranges = float_ranges(files, scores)
    corpus = pl.concat([_frame(f, scores) for f in files])
    queries = _queries(corpus, ranges)
    frames = dict(zip(queries, pl.collect_all(list(queries.values()), engine="streaming")))
    stats = KeptStats(ranges)
    for row in frames["lengths"].iter_rows(named=True):
        stats.add_length_group(row)
    for (domain, n) in frames["domains"].iter_rows():
        if domain is None:
            stats.without_url += n
        else:
            stats.domains[domain] += n
    stats.sources = Counter({k: n for k, n in frames["sources"].iter_rows() if k is not None})
    for license_, n in frames["licenses"].iter_rows():
        if license_ is None:
            stats.no_license += n
        else:
            stats.licenses[license_] += n
    stats.tiers = Counter({k: n for k, n in frames["tiers"].iter_rows() if k is not None})
    stats.license_from = Counter({k: n for k, n in frames["license_from"].iter_rows() if k is not None})
    stats.consent = Counter({k: int(v or 0) for k, v in frames["consent"].row(0, named=True).items()})
    for kind, documents, replaced in frames["pii"].iter_rows():
        stats.pii_documents[kind] += documents
        stats.pii_replaced[kind] += replaced
    for column, histogram in stats.scores.items():
        row = frames[f"score:{column}"].row(0, named=True)
        histogram.add_counts(row["n"], row["missing"], row["total"], row["lo"], row["hi"],
                             dict(frames[f"bins:{column}"].iter_rows()))
    return stats.result(top)
