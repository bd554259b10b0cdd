"""The `tier` step: scores -> a named tier and a sampling weight in the document's metadata."""
from __future__ import annotations

import pytest

from corpus.document import Document
from corpus.errors import UserError
from corpus.steps import build_step

QUALITY_TIERS = {
    "use": "tier",
    "tiers": [{"name": "high", "min": {"score_quality": 0.8}},
              {"name": "medium", "min": {"score_quality": 0.4}}],
    "default": "low",
    "weights": {"high": 3.0, "medium": 1.0, "low": 0.5},
}


def tier_of(spec: dict, **scores) -> tuple[str | None, dict]:
    doc = Document("1", "some text", scores=dict(scores))
    reason = build_step(spec).apply(doc)
    return reason, doc.metadata


@pytest.mark.parametrize("score, tier, weight", [
    (0.95, "high", 3.0), (0.8, "high", 3.0), (0.79, "medium", 1.0), (0.4, "medium", 1.0),
    (0.1, "low", 0.5),
])
def test_first_matching_tier_wins_and_carries_its_weight(score, tier, weight):
    reason, metadata = tier_of(QUALITY_TIERS, score_quality=score)
    assert reason is None
    assert metadata == {"tier": tier, "tier_weight": weight}


def test_a_missing_score_matches_no_tier():
    assert tier_of(QUALITY_TIERS)[1]["tier"] == "low"


def test_min_and_max_bounds_on_several_scores():
    spec = {"use": "tier", "default": "rest", "tiers": [
        {"name": "clean_and_good", "min": {"score_quality": 0.5}, "max": {"score_toxicity": 0.1}}]}
    assert tier_of(spec, score_quality=0.9, score_toxicity=0.05)[1] == {"tier": "clean_and_good"}
    assert tier_of(spec, score_quality=0.9, score_toxicity=0.5)[1] == {"tier": "rest"}


def test_language_score_can_be_a_bound():
    spec = {"use": "tier", "tiers": [{"name": "sure", "min": {"language_score": 0.9}}]}
    doc = Document("1", "text", language="en", language_score=0.95)
    build_step(spec).apply(doc)
    assert doc.metadata["tier"] == "sure"


def test_zero_weight_tier_is_dropped_only_when_asked():
    spec = {**QUALITY_TIERS, "weights": {"high": 2.0, "medium": 1.0, "low": 0.0}}
    assert tier_of(spec, score_quality=0.1) == (None, {"tier": "low", "tier_weight": 0.0})
    assert tier_of({**spec, "drop_zero_weight": True}, score_quality=0.1)[0] == "zero_weight:low"
    assert tier_of({**spec, "drop_zero_weight": True}, score_quality=0.9)[0] is None


@pytest.mark.parametrize("change, message", [
    ({"tiers": None}, "tiers is required"),
    ({"tiers": [{"name": "high"}]}, r"tiers\[0\] needs min and/or max"),
    ({"tiers": [{"name": "a", "min": {"score_quality": "high"}}]}, "must map score names to numbers"),
    ({"tiers": [{"name": "a", "above": {"score_quality": 1}}]}, "unknown key"),
    ({"tiers": [{"name": "a", "min": {"s": 1}}, {"name": "a", "min": {"s": 0}}]}, "unique"),
    ({"default": "high"}, "default 'high' is also a tier"),
    ({"weights": {"high": 3.0, "medium": 1.0}}, "missing low"),
    ({"weights": {"high": 3.0, "medium": 1.0, "low": 1, "top": 9}}, "unknown tier"),
    ({"weights": {"high": -1, "medium": 1.0, "low": 1}}, "numbers >= 0"),
    ({"weights": None, "drop_zero_weight": True}, "drop_zero_weight needs weights"),
])
def test_config_mistakes_are_one_line_errors(change, message):
    spec = {k: v for k, v in {**QUALITY_TIERS, **change}.items() if v is not None}
    with pytest.raises(UserError, match=message):
        build_step(spec)
