"""N-gram floors (train/eval/ngram.py) on real text: proper distributions, the same numbers as a
plain dictionary implementation of interpolated Kneser-Ney, and sensible ordering of the floors."""
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from train.eval.ngram import Counts, _contexts, best_floor, ngram_floors, verdict

WIKI = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "en_wikipedia_demo.txt"
EOS = 256  # byte tokens 0..255, end-of-text 256
pytestmark = pytest.mark.skipif(not WIKI.is_file(), reason="needs ../shared/data/text/en_wikipedia_demo.txt")


def byte_stream(lines: list[str]) -> np.ndarray:
    """Documents as UTF-8 byte tokens, each followed by end-of-text: a real stream, no tokenizer."""
    parts = []
    for line in lines:
        parts += [np.frombuffer(line.encode(), np.uint8).astype(np.int64), np.array([EOS])]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def articles() -> list[str]:
    return [line.strip()[:6000] for line in WIKI.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_each_model_is_a_distribution_over_the_vocabulary(articles):
    counts = Counts(byte_stream(articles[:20]), 257, EOS)
    words = np.arange(257)
    for u, v in ((ord("t"), ord("h")), (ord(" "), ord("q")), (EOS, ord("T")), (0, 1)):  # seen ... unseen
        at = counts.lookup_targets(np.full(257, u), np.full(257, v), words)
        assert counts.unigram_probability(at, 0.1).sum() == pytest.approx(1, abs=1e-9)
        assert counts.bigram_probability(at, 0.6, 0.8).sum() == pytest.approx(1, abs=1e-9)
        trigram = counts.trigram_probability(at, 0.6, 0.7, 0.9)
        assert trigram.sum() == pytest.approx(1, abs=1e-9)
        assert (trigram > 0).all()


def reference_trigram(train: list[int], u: int, v: int, w: int, V: int, d1: float, d2: float, d3: float) -> float:
    """Interpolated Kneser-Ney as a textbook writes it, with dictionaries."""
    padded = [EOS, EOS] + train
    tri = Counter(zip(padded, padded[1:], padded[2:]))
    tri = Counter({k: c for k, c in tri.items()})
    bigram_types = {(b, c) for (b, c) in zip(padded[1:], padded[2:])}
    before_w = Counter(c for (_, c) in bigram_types)
    p1 = (max(before_w[w] - d1, 0) + d1 * len(before_w) / V) / len(bigram_types)
    before_vw = Counter((b, c) for (_, b, c) in tri)
    after_v = defaultdict(int)
    follow_v = defaultdict(set)
    for (b, c), n in before_vw.items():
        after_v[b] += n
        follow_v[b].add(c)
    p2 = p1 if not after_v[v] else (max(before_vw[(v, w)] - d2, 0) + d2 * len(follow_v[v]) * p1) / after_v[v]
    context = sum(n for (a, b, _), n in tri.items() if (a, b) == (u, v))
    types = sum(1 for (a, b, _) in tri if (a, b) == (u, v))
    return p2 if not context else (max(tri[(u, v, w)] - d3, 0) + d3 * types * p2) / context


def test_matches_a_dictionary_implementation(articles):
    train = byte_stream([a[:800] for a in articles[:6]])
    counts = Counts(train, 257, EOS)
    probe = byte_stream([articles[7][:60]])
    at = counts.lookup(probe, EOS)
    ours = counts.trigram_probability(at, 0.5, 0.7, 0.8)
    u, v, w = _contexts(probe, EOS)
    for i in range(0, len(w), 7):
        expected = reference_trigram(train.tolist(), int(u[i]), int(v[i]), int(w[i]), 257, 0.5, 0.7, 0.8)
        assert ours[i] == pytest.approx(expected, rel=1e-12)


def test_floors_on_held_out_articles(articles):
    train, held_out = byte_stream(articles[:24]), byte_stream(articles[24:])
    n_bytes = sum(len(a.encode()) for a in articles[24:])
    floors = ngram_floors(train, held_out, 257, EOS, n_bytes)
    by_name = {f.name: f for f in floors}
    assert [f.name for f in floors] == ["unigram", "bigram", "trigram"]
    # More context helps on English bytes, and each floor is far below a uniform guess (ln 257).
    assert by_name["trigram"].loss < by_name["bigram"].loss < by_name["unigram"].loss < math.log(257)
    assert best_floor(floors).name == "trigram"
    # Bits per byte of byte tokens: the loss in bits over (targets / bytes); targets include the eos.
    targets = len(held_out) - 1
    assert by_name["bigram"].bits_per_byte == pytest.approx(by_name["bigram"].loss * targets / math.log(2) / n_bytes)
    assert all(0 < d < 1.0001 for d in by_name["trigram"].smoothing["discounts"])
    # The held-out stream does not choose the smoothing: scoring other documents keeps it.
    other = ngram_floors(train, byte_stream(articles[20:24]), 257, EOS)
    assert [f.smoothing for f in other] == [f.smoothing for f in floors]
    assert other[0].bits_per_byte is None


def test_verdict_says_plainly_when_the_model_loses(articles):
    floors = ngram_floors(byte_stream(articles[:10]), byte_stream(articles[10:12]), 257, EOS, 20_000)
    best = best_floor(floors).bits_per_byte
    assert "does NOT beat" in verdict(best * 1.01, floors)
    assert "beats the best n-gram floor" in verdict(best * 0.8, floors)
    assert "20.0%" in verdict(best * 0.8, floors)
