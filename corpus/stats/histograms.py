"""Fixed-bin histograms that fill batch by batch, so memory stays the same for any corpus.

Quantiles are read off the bins (interpolated inside one bin), so they are estimates: a log
bin of document lengths is 26% wide (10 bins a decade), a score bin is 1/40 of the range.
"""
from __future__ import annotations

import numpy as np

LENGTH_BINS_PER_DECADE = 10
LENGTH_DECADES = 8                       # up to 100 million characters; longer ones land in the last bin
LENGTH_BINS = 1 + LENGTH_BINS_PER_DECADE * LENGTH_DECADES   # bin 0 holds empty texts
SCORE_BINS = 40


def length_edges() -> np.ndarray:
    """Lower bound (in characters) of each length bin, and the upper bound of the last."""
    powers = 10 ** (np.arange(LENGTH_BINS) / LENGTH_BINS_PER_DECADE)
    return np.concatenate([[0], np.ceil(powers - 1e-9)]).astype(np.int64)


def quantile(counts: np.ndarray, edges: np.ndarray, q: float, log: bool = False) -> float | None:
    """Estimate the q-quantile from bin counts; `edges` has one more entry than `counts`."""
    total = counts.sum()
    if total == 0:
        return None
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, q * total, side="left"))
    i = min(i, len(counts) - 1)
    before = cumulative[i] - counts[i]
    inside = (q * total - before) / counts[i] if counts[i] else 0.0
    lo, hi = float(edges[i]), float(edges[i + 1])
    if log and lo > 0:
        return lo * (hi / lo) ** inside
    return lo + (hi - lo) * inside


def length_summary(counts: np.ndarray, total_chars: int, minimum: int | None,
                   maximum: int | None) -> dict:
    """JSON for one length histogram: exact mean/min/max, estimated quantiles, non-empty bins."""
    edges = length_edges()
    n = int(counts.sum())
    summary = {"documents": n, "mean": round(total_chars / n, 1) if n else None,
               "min": minimum, "max": maximum}
    for name, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        value = quantile(counts, edges, q, log=True)
        if value is not None:
            value = int(round(min(max(value, minimum or 0), maximum or value)))
        summary[name] = value
    nonzero = np.nonzero(counts)[0]
    if len(nonzero):
        first, last = int(nonzero[0]), int(nonzero[-1])
        summary["histogram"] = {"edges": edges[first:last + 2].tolist(),
                                "counts": counts[first:last + 1].tolist()}
    else:
        summary["histogram"] = {"edges": [], "counts": []}
    return summary


def nice_range(lo: float, hi: float) -> tuple[float, float]:
    """[lo, hi] widened to round numbers (0.681..1.0 -> 0.65..1.0), so bins have round edges."""
    if not hi > lo:
        return lo - 0.5, lo + 0.5
    step = 10 ** np.floor(np.log10(hi - lo)) / 2
    return (round(float(np.floor(lo / step + 1e-9) * step), 12),
            round(float(np.ceil(hi / step - 1e-9) * step), 12))


class ScoreHistogram:
    """Count, mean, min, max and a 40-bin histogram of one float column over a known range."""

    def __init__(self, lo: float, hi: float):
        self.lo, self.hi = nice_range(lo, hi)
        self.counts = np.zeros(SCORE_BINS, np.int64)
        self.n = self.missing = 0
        self.total = 0.0
        self.minimum, self.maximum = np.inf, -np.inf

    def add_counts(self, n: int, missing: int, total: float | None, minimum: float | None,
                   maximum: float | None, bins: dict[int, int]) -> None:
        """Add values already reduced elsewhere (a query): their count, sum, extremes and
        counts per bin (bin = floor((clip(x, lo, hi) - lo) / width), the last one closed)."""
        self.missing += missing
        if not n:
            return
        self.n += n
        self.total += float(total)
        self.minimum = min(self.minimum, float(minimum))
        self.maximum = max(self.maximum, float(maximum))
        for b, count in bins.items():
            self.counts[b] += count

    def summary(self) -> dict:
        edges = np.linspace(self.lo, self.hi, SCORE_BINS + 1)
        out = {"count": self.n, "missing": self.missing,
               "mean": _round(self.total / self.n) if self.n else None,
               "min": _round(self.minimum) if self.n else None,
               "max": _round(self.maximum) if self.n else None}
        for name, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
            value = quantile(self.counts, edges, q)
            out[name] = None if value is None else _round(min(max(value, self.minimum), self.maximum))
        out["histogram"] = {"edges": [_round(e) for e in edges], "counts": self.counts.tolist()}
        return out


def _round(x: float) -> float:
    return float(f"{x:.6g}")
