"""The `tier` step: name a document's quality tier from its scores, for weighted sampling.

Instead of one hard cut, scored documents are sorted into named tiers (the first tier whose
bounds the scores meet wins, else `default`) and each tier may carry a sampling weight. The
weight travels with the document (`metadata["tier_weight"]`), so the trainer needs no config to
read it: it samples a document with probability proportional to its weight (3.0 = seen about
three times as often as a 1.0 document; 0.5 = about every other epoch). Upweighting the best
tiers rather than dropping the rest follows GPT-3 (Brown et al. 2020, quality-weighted
Common Crawl) and FineWeb-Edu's score buckets (Penedo et al. 2024).
"""
from __future__ import annotations

import numbers

from corpus.document import Document
from corpus.steps import Step, require

_BOUND_KEYS = ("min", "max")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Tier(Step):
    """Write metadata["tier"] (and "tier_weight") from score bounds; never removes by default.

    `tiers`: ordered list of {name, min = {score = x}, max = {score = y}}; a document matches
    a tier when every named score is present and min <= score <= max. `default` names the
    tier of documents that match none. `weights` maps every tier name (default included) to a
    sampling weight >= 0; with `drop_zero_weight = true`, documents in a weight-0 tier are
    removed as `zero_weight:<tier>`. No default bounds: they depend on the classifier.
    """

    name = "tier"

    def __init__(self, *, tiers: list[dict] | None = None, default: str = "low",
                 weights: dict[str, float] | None = None, drop_zero_weight: bool = False):
        require(isinstance(tiers, list) and len(tiers) > 0,
                "tiers is required: a list like [{name = \"high\", min = {score_quality = 0.8}}]")
        require(isinstance(default, str) and default != "", "default must be a tier name")
        names = []
        for i, tier in enumerate(tiers):
            _check_tier(i, tier)
            names.append(tier["name"])
        require(len(set(names)) == len(names), f"tier names must be unique: {names}")
        require(default not in names, f"default {default!r} is also a tier in `tiers`")
        if weights is not None:
            require(isinstance(weights, dict), "weights must be a table: {high = 3.0, low = 0.5}")
            unknown = sorted(set(weights) - {*names, default})
            missing = [n for n in (*names, default) if n not in weights]
            require(not unknown, f"weights name unknown tier(s): {', '.join(unknown)}")
            require(not missing, f"weights needs a weight for every tier: missing {', '.join(missing)}")
            require(all(_is_number(w) and w >= 0 for w in weights.values()),
                    "weights must be numbers >= 0")
        require(isinstance(drop_zero_weight, bool), "drop_zero_weight must be true or false")
        require(not drop_zero_weight or weights is not None, "drop_zero_weight needs weights")
        self.tiers = [(t["name"], dict(t.get("min", {})), dict(t.get("max", {}))) for t in tiers]
        self.default, self.weights, self.drop_zero_weight = default, weights, drop_zero_weight

    def tier_of(self, scores: dict[str, float]) -> str:
        for name, low, high in self.tiers:
            if all(k in scores and scores[k] is not None and scores[k] >= v for k, v in low.items()) \
                    and all(k in scores and scores[k] is not None and scores[k] <= v
                            for k, v in high.items()):
                return name
        return self.default

    def apply(self, doc: Document) -> str | None:
        scores = dict(doc.scores)
        if doc.language_score is not None:
            scores.setdefault("language_score", doc.language_score)
        tier = self.tier_of(scores)
        doc.metadata["tier"] = tier
        if self.weights is not None:
            weight = float(self.weights[tier])
            doc.metadata["tier_weight"] = weight
            if weight == 0 and self.drop_zero_weight:
                return f"zero_weight:{tier}"
        return None


def _check_tier(i: int, tier) -> None:
    where = f"tiers[{i}]"
    require(isinstance(tier, dict), f"{where} must be a table with a name and min/max bounds")
    require(isinstance(tier.get("name"), str) and tier["name"] != "", f"{where} needs a name")
    extra = sorted(set(tier) - {"name", *_BOUND_KEYS})
    require(not extra, f"{where} has unknown key(s) {', '.join(extra)} (allowed: name, min, max)")
    require(any(k in tier for k in _BOUND_KEYS), f"{where} needs min and/or max bounds")
    for key in _BOUND_KEYS:
        bounds = tier.get(key, {})
        require(isinstance(bounds, dict) and all(isinstance(k, str) and _is_number(v)
                                                 for k, v in bounds.items()),
                f"{where}.{key} must map score names to numbers, e.g. {{score_quality = 0.8}}")
