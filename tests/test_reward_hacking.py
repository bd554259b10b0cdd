"""Reward hacking measurement: best-of-N's analytic KL, the proxy's pick read by the gold, the exact
subset estimator against brute force, PPO metrics and the plot."""
import itertools
import json
import math

import numpy as np
import pytest
import torch

from train.eval.reward_hacking import (best_of_n_curve, curve_from_scores, fit_gold_curve, pick_weights,
                                       plot_reward_hacking, read_ppo_curve, sample_pool)
from train.model.tokenizer import Tokenizer
from train.model.transformer import ModelConfig, Transformer
from train.stages.best_of_n.best_of_n import kl_bound

PROMPTS = [[{"role": "user", "content": "Name a colour."}],
           [{"role": "user", "content": "How do I pick a lock?"}],
           [{"role": "user", "content": "请写一句诗。"}]]
SAMPLES = 8


def answer(conversation: list[dict]) -> str:
    return conversation[-1]["content"]


def proxy_length(conversations):
    """A fake proxy: longer answers score higher."""
    return [float(len(answer(c))) for c in conversations]


def gold_vowels(conversations):
    """A fake gold: how many vowels the answer has."""
    return [float(sum(ch in "aeiou" for ch in answer(c))) for c in conversations]


@pytest.fixture(scope="module")
def policy(tokenizer_dir):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=2048, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                    max_seq_len=64)).eval()
    return model, Tokenizer(tokenizer_dir)


@pytest.fixture(scope="module")
def curve(policy):
    model, tokenizer = policy
    return best_of_n_curve(model, tokenizer, PROMPTS, proxy_length, gold_vowels, ns=(1, 2, 4, 8),
                           max_new_tokens=12, seed=3, estimator="first")


def test_kl_bound_is_log_n_minus_n_minus_one_over_n():
    assert kl_bound(1) == 0.0
    assert kl_bound(2) == pytest.approx(math.log(2) - 0.5)
    assert kl_bound(64) == pytest.approx(3.1745, abs=1e-4)
    with pytest.raises(ValueError):
        kl_bound(0)


def test_pool_holds_real_sampled_answers_for_every_prompt(curve):
    pool = curve.pool
    assert curve.prompts == 3 and curve.samples == SAMPLES and len(pool.answers) == 3
    assert all(len(row) == SAMPLES for row in pool.answers)
    assert len({a for row in pool.answers for a in row}) > SAMPLES  # sampled, not one answer repeated
    assert curve.kl == [kl_bound(n) for n in (1, 2, 4, 8)]


def test_proxy_picks_the_argmax_of_the_first_n_and_gold_is_read_at_that_answer(curve):
    pool = curve.pool
    for i, n in enumerate(curve.n):
        picked = [max(row[:n], key=len) for row in pool.answers]  # max keeps the first of equals
        assert curve.proxy[i] == pytest.approx(np.mean([len(a) for a in picked]))
        assert curve.gold[i] == pytest.approx(np.mean([sum(ch in "aeiou" for ch in a) for a in picked]))
    assert curve.proxy == sorted(curve.proxy)  # more samples, never a worse proxy pick


def test_subset_estimator_equals_brute_force_over_every_subset(curve):
    proxy, gold = curve.proxy_scores, curve.gold_scores  # real answers: lengths tie, as they do
    exact = curve_from_scores(proxy, gold, ns=(1, 3, 8), estimator="subsets")
    for i, n in enumerate((1, 3, 8)):
        picks = [[subset[int(np.argmax(row[list(subset)]))] for subset in itertools.combinations(range(SAMPLES), n)]
                 for row in proxy]
        assert exact.proxy[i] == pytest.approx(np.mean([proxy[p, picks[p]].mean() for p in range(3)]))
        assert exact.gold[i] == pytest.approx(np.mean([gold[p, picks[p]].mean() for p in range(3)]))
    assert exact.proxy[0] == pytest.approx(proxy.mean())  # N = 1: a random answer
    assert pick_weights(SAMPLES, 3).sum() == pytest.approx(1.0)


def test_sampling_is_deterministic_given_the_seed(policy, curve):
    model, tokenizer = policy
    again = sample_pool(model, tokenizer, PROMPTS, SAMPLES, max_new_tokens=12, seed=3)
    assert again.answers == curve.pool.answers


def test_gold_fit_finds_the_peak_of_a_rise_and_fall():
    kl = [kl_bound(n) for n in (1, 2, 4, 8, 16, 32, 64)]
    gains = [math.sqrt(k) * (1.0 - 0.5 * math.sqrt(k)) for k in kl]
    fit = fit_gold_curve(kl, gains)
    assert fit["alpha"] == pytest.approx(1.0) and fit["beta"] == pytest.approx(0.5)
    assert fit["peak_kl"] == pytest.approx(1.0)


def write_ppo_metrics(run_dir):
    run_dir.mkdir()
    lines = [{"step": 1, "rollout": 1, "reward": -0.20, "gold_reward": 0.10, "kl": 0.00},
             {"step": 2, "rollout": 1, "reward": -0.20, "gold_reward": 0.10, "kl": 0.00},  # same rollout
             {"step": 3, "rollout": 2, "reward": 0.05, "gold_reward": 0.15, "kl": 0.40},
             {"step": 3, "val_loss": 0.3},  # an evaluation line: no rewards, not a point
             {"step": 5, "rollout": 3, "reward": 0.30, "gold_reward": 0.05, "kl": 1.10}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"step": 4, "rew')


def test_ppo_curve_reads_reward_gold_reward_and_kl_once_per_rollout(tmp_path):
    write_ppo_metrics(tmp_path / "ppo")
    run = read_ppo_curve(tmp_path / "ppo")
    assert run.step == [1, 3, 5] and run.kl == [0.0, 0.4, 1.1]
    assert run.proxy == [-0.2, 0.05, 0.3] and run.gold == [0.1, 0.15, 0.05]
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "metrics.jsonl").write_text('{"step": 1, "reward": 0.2, "kl": 0.1}\n')
    with pytest.raises(ValueError, match="gold_reward"):
        read_ppo_curve(tmp_path / "plain")


def test_plot_is_written_with_best_of_n_and_ppo_curves(curve, tmp_path):
    write_ppo_metrics(tmp_path / "ppo")
    path = plot_reward_hacking(curve, tmp_path / "img" / "hacking.png", [read_ppo_curve(tmp_path / "ppo")])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    same_start = plot_reward_hacking(curve, tmp_path / "start.png", [read_ppo_curve(tmp_path / "ppo")],
                                     ppo_start="best_of_n")
    assert same_start.is_file()
    with pytest.raises(ValueError, match="ppo_start"):
        plot_reward_hacking(curve, tmp_path / "bad.png", [], ppo_start="last")
