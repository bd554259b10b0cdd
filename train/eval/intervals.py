"""95% intervals for the comparisons on the results pages, and the one sentence each may support.

A difference measured once says nothing about noise. Over seeds (a handful of runs) we use the
t-interval of the mean; over prompts or documents (one run, many items) a percentile bootstrap
that resamples the items. `verdict_word` turns an interval into the only two words a page may
use: "shown" when the interval excludes no effect, else "not shown at this scale".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two-sided 95% critical values of Student's t by degrees of freedom (beyond 30: the normal's).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}
RESAMPLES = 2000


@dataclass
class Interval:
    mean: float
    low: float
    high: float
    n: int          # seeds, prompts or documents behind it

    def excludes(self, value: float = 0.0) -> bool:
        return self.low > value or self.high < value

    def format(self, spec: str = ".3f") -> str:
        return f"{self.mean:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def t_critical(df: int) -> float:
    if df < 1:
        return math.inf
    known = [k for k in _T95 if k <= df]
    return _T95[max(known)] if df <= 30 else 1.96


def seed_interval(values, within: tuple[float, float] = (-math.inf, math.inf)) -> Interval:
    """Mean and 95% t-interval over independent runs (seeds); one run gives an unbounded interval.
    `within` is the range the measure can take (a share: (0, 1)): the t-interval is symmetric and
    over three seeds near a bound would reach past it (97% [89%, 104%]), so it is cut there."""
    values = np.asarray(list(values), np.float64)
    mean = float(values.mean())
    lowest, highest = within
    if len(values) < 2:
        return Interval(mean, lowest, highest, len(values))
    half = t_critical(len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return Interval(mean, max(mean - half, lowest), min(mean + half, highest), len(values))


def bootstrap_interval(statistic, n_items: int, seed: int = 0, resamples: int = RESAMPLES) -> Interval:
    """Percentile bootstrap of `statistic(indices)` over items resampled with replacement;
    `statistic(np.arange(n_items))` is the point estimate."""
    rng = np.random.default_rng(seed)
    estimate = float(statistic(np.arange(n_items)))
    draws = np.array([statistic(rng.integers(0, n_items, n_items)) for _ in range(resamples)])
    low, high = np.quantile(draws, [0.025, 0.975])
    return Interval(estimate, float(low), float(high), n_items)


def paired_difference(a, b, seed: int = 0) -> Interval:
    """Mean of a − b over paired items (the same prompts for two models), bootstrapped."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bootstrap_interval(lambda i: float((a[i] - b[i]).mean()), len(a), seed)


def proportion_interval(successes: float, n: int) -> Interval:
    """Wilson score interval of a share (accuracy over n held-out pairs): exact enough at any n,
    and never outside [0, 1] as the normal approximation is near 0 or 1."""
    if n <= 0:
        return Interval(math.nan, 0.0, 1.0, 0)
    p, z = successes / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, centre - half, centre + half, n)


def verdict_word(interval: Interval, no_effect: float = 0.0) -> str:
    return "shown" if interval.excludes(no_effect) else "not shown at this scale"


def claim(interval: Interval, statement: str, direction: int = 1, no_effect: float = 0.0) -> str:
    """`statement` ("that X lowers Y") with the verdict its interval allows; `direction` is the
    sign the statement predicts for the difference (-1: it should be below `no_effect`)."""
    if interval.excludes(no_effect):
        if (interval.mean - no_effect) * direction > 0:
            return f"{statement} is shown"
        return f"{statement} is not shown: the interval shows the opposite"
    return f"{statement} is not shown at this scale"
