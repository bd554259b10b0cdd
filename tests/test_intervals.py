"""Intervals behind every comparison on the results pages (train/eval/intervals.py) and the
degenerate-reply guard (train/eval/turn_taking.py), on real numbers and real replies."""
import json
import math
from pathlib import Path

import pytest

from train.eval.intervals import (bootstrap_interval, claim, paired_difference, proportion_interval,
                                  seed_interval, verdict_word)
from train.eval.turn_taking import degenerate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_seed_interval_is_the_t_interval_and_one_seed_bounds_nothing():
    interval = seed_interval([7.28, 7.21, 7.25])  # three seeds
    sd = math.sqrt(((7.28 - 7.2467) ** 2 + (7.21 - 7.2467) ** 2 + (7.25 - 7.2467) ** 2) / 2)
    assert interval.mean == pytest.approx(7.2467, abs=1e-4)
    assert interval.high - interval.mean == pytest.approx(4.303 * sd / math.sqrt(3), rel=1e-3)
    assert seed_interval([1.0]).low == -math.inf and verdict_word(seed_interval([1.0])) == "not shown at this scale"


def test_a_share_over_seeds_stays_between_0_and_1():
    # Regurgitation rates of 0.90, 1.00, 1.00 over three seeds: the t-interval reaches 1.04.
    assert seed_interval([0.90, 1.0, 1.0]).high > 1
    share = seed_interval([0.90, 1.0, 1.0], within=(0.0, 1.0))
    assert share.high == 1.0 and 0 < share.low < share.mean < 1
    assert seed_interval([0.5], within=(0.0, 1.0)).low == 0.0  # one seed: the whole range


def test_claims_follow_the_interval_and_its_direction():
    lower = seed_interval([-0.10, -0.12, -0.09])
    assert claim(lower, "that X lowers the loss", -1) == "that X lowers the loss is shown"
    assert claim(lower, "that X raises the loss", 1).endswith("the interval shows the opposite")
    assert claim(seed_interval([-0.1, 0.12, 0.01]), "that X lowers it", -1).endswith("not shown at this scale")


def test_bootstrap_and_wilson_intervals_cover_their_estimate():
    ended = [1] * 30 + [0] * 10
    interval = bootstrap_interval(lambda i: sum(ended[j] for j in i) / len(i), len(ended))
    assert interval.low < 0.75 < interval.high and interval.mean == 0.75
    # Wilson: 0.596 of 203 held-out pairs (the small recipe's reward model) is above chance; 0.527 is not.
    assert verdict_word(proportion_interval(121, 203), 0.5) == "shown"
    assert verdict_word(proportion_interval(107, 203), 0.5) == "not shown at this scale"
    same = paired_difference([1, 0, 1, 1], [1, 0, 1, 1])
    assert (same.mean, same.low, same.high) == (0, 0, 0)


@pytest.mark.parametrize("reply", [
    "1. 3. 3. 3. 3. 3. 3. 3. 3. 3. 3. 3. 3. 3. 3.", "", "2007年，2008年，2008年，2008年，2008年，2008年，2008年，",
    "The the the the the the the the the the the the", "+2 + + + + + + + + + 2. 2. 2.",
    "A century, 2000, 2000, 2000, 1, 2000, 2000, 2000, 2000, 1, 2000, 2000"])
def test_replies_that_are_punctuation_digits_or_repetition_are_degenerate(reply):
    # Real replies of the small recipe's models, as its results page quoted them.
    assert degenerate(reply)


@pytest.mark.skipif(not (SHARED / "sft" / "alpaca_en_demo.json").is_file(), reason="needs ../shared/data/sft")
def test_written_answers_are_words():
    answers = [r["output"] for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json")
               for r in json.loads((SHARED / "sft" / name).read_text(encoding="utf-8"))]
    flagged = sum(degenerate(a) for a in answers)
    assert flagged / len(answers) < 0.04  # 56 of 1,999: answers that are a number or a list of numbers
