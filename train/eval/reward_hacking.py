"""Reward hacking, measured: optimise a proxy reward model, read a gold one.

A reward model is only a proxy for people's judgement; optimise it hard enough and true quality
stops rising, then falls (Goodhart's law). Gao et al. (2023, "Scaling laws for reward model
overoptimization") measure it with a *proxy* RM trained on part of the preferences and a *gold*
RM trained on all of them: select or train against the proxy, read the gold at the same answers.

Best-of-N is the cleanest optimiser to measure. Its KL from the policy has the closed form
log N − (N − 1)/N (Stiennon et al. 2020; an upper bound, Beirami et al. 2024), and one pool of
M answers per prompt serves every N ≤ M. For each N we report the expected score of the proxy's
pick from N answers drawn without replacement from the pool, exact over all C(M, N) subsets: with
the pool sorted by proxy score, the i-th lowest (1-based) is the pick with probability
C(i−1, N−1) / C(M, N) (the unbiased estimator of Nakano et al. 2021 and Gao et al.). It has far
less noise than taking the first N answers, which `estimator="first"` does instead. Ties in the
proxy go to the earlier answer either way.

PPO runs that log `reward` (proxy), `gold_reward` and `kl` per step in metrics.jsonl join the
same plot through `read_ppo_curve`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from train.model.chat_template import prompt_ids, stop_ids
from train.serve.rollout import sample_answers
from train.stages.best_of_n.best_of_n import kl_bound

ScoreFunction = Callable[[list[list[dict]]], Sequence[float]]  # conversations -> one score each
DEFAULT_NS = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class AnswerPool:
    """M sampled answers for each prompt: `answers[p][j]` answers `prompts[p]`."""
    prompts: list[list[dict]]
    answers: list[list[str]]
    finished: list[list[bool]]

    @property
    def samples(self) -> int:
        return len(self.answers[0]) if self.answers else 0

    def conversations(self) -> list[list[dict]]:
        """Prompt + answer for every answer, prompt-major (the order `score_pool` reshapes)."""
        return [prompt + [{"role": "assistant", "content": answer}]
                for prompt, answers in zip(self.prompts, self.answers) for answer in answers]


def sample_pool(policy, tokenizer, prompts: list[list[dict]], samples: int, max_new_tokens: int = 64,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                seed: int = 0, max_batch: int = 64) -> AnswerPool:
    """`samples` answers to each prompt (message lists ending with a user turn) from `policy`."""
    ids = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    sampled = sample_answers(policy, [p for p in ids for _ in range(samples)], max_new_tokens,
                             temperature, top_k, top_p, stop_ids(tokenizer), seed, max_batch)
    rows = [sampled[i * samples:(i + 1) * samples] for i in range(len(prompts))]
    return AnswerPool(list(prompts), [[tokenizer.decode(a.ids) for a in row] for row in rows],
                      [[a.finished for a in row] for row in rows])


def score_pool(pool: AnswerPool, score: ScoreFunction) -> np.ndarray:
    """(prompts, samples) float64 scores of every answer in the pool."""
    values = np.asarray(list(score(pool.conversations())), np.float64)
    return values.reshape(len(pool.prompts), pool.samples)


def pick_weights(samples: int, n: int) -> np.ndarray:
    """Probability that the i-th lowest of `samples` ranked answers is the best of a uniformly
    random n-subset: C(i−1, n−1) / C(samples, n); sums to 1."""
    if not 1 <= n <= samples:
        raise ValueError(f"N = {n} needs 1 <= N <= {samples} (the pool size)")
    total = math.comb(samples, n)
    return np.array([math.comb(i, n - 1) / total for i in range(samples)], np.float64)


def best_of_n_values(selector: np.ndarray, readers: list[np.ndarray], n: int,
                     estimator: str = "subsets") -> list[np.ndarray]:
    """Per prompt, each reader's expected score at the answer `selector` picks from N.

    `selector` and each reader are (prompts, samples) arrays over the same pool."""
    if estimator == "first":
        picks = np.argmax(selector[:, :n], axis=1)  # the first maximum: ties go to the earlier answer
        rows = np.arange(len(selector))
        return [reader[rows, picks] for reader in readers]
    if estimator != "subsets":
        raise ValueError(f"estimator must be 'subsets' or 'first', not {estimator!r}")
    # Stable sort by (score, -index): among equal scores the earlier answer ranks higher.
    samples = selector.shape[1]
    order = np.lexsort((-np.arange(samples)[None, :].repeat(len(selector), 0), selector), axis=1)
    weights = pick_weights(samples, n)
    return [(np.take_along_axis(reader, order, axis=1) * weights).sum(axis=1) for reader in readers]


def _mean_and_sem(values: np.ndarray) -> tuple[float, float]:
    sem = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), sem


@dataclass
class BestOfNCurve:
    """Mean proxy and gold scores of the proxy's best-of-N pick, per N; `*_sem` are standard
    errors over prompts, `*_std` the spread of each RM's scores over the whole pool (the policy's
    own answers), the unit the plot uses."""
    n: list[int]
    kl: list[float]
    proxy: list[float]
    gold: list[float]
    proxy_sem: list[float]
    gold_sem: list[float]
    proxy_std: float
    gold_std: float
    estimator: str
    prompts: int
    samples: int
    pool: AnswerPool | None = field(default=None, repr=False)
    proxy_scores: np.ndarray | None = field(default=None, repr=False)
    gold_scores: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The numbers, JSON-ready (no pool, no per-answer scores)."""
        keys = ("n", "kl", "proxy", "gold", "proxy_sem", "gold_sem", "proxy_std", "gold_std",
                "estimator", "prompts", "samples")
        return {key: getattr(self, key) for key in keys}


def curve_from_scores(proxy_scores: np.ndarray, gold_scores: np.ndarray, ns: Sequence[int] = DEFAULT_NS,
                      estimator: str = "subsets") -> BestOfNCurve:
    """The best-of-N curve of a scored pool: select by the proxy, read proxy and gold."""
    proxy_scores, gold_scores = np.asarray(proxy_scores, np.float64), np.asarray(gold_scores, np.float64)
    if proxy_scores.shape != gold_scores.shape or proxy_scores.ndim != 2:
        raise ValueError("proxy and gold scores must be (prompts, samples) arrays of one shape")
    columns: dict[str, list] = {"proxy": [], "gold": [], "proxy_sem": [], "gold_sem": []}
    for n in ns:
        proxy_at_pick, gold_at_pick = best_of_n_values(proxy_scores, [proxy_scores, gold_scores], n, estimator)
        for name, values in (("proxy", proxy_at_pick), ("gold", gold_at_pick)):
            mean, sem = _mean_and_sem(values)
            columns[name].append(mean)
            columns[f"{name}_sem"].append(sem)
    return BestOfNCurve(list(ns), [kl_bound(n) for n in ns], **columns,
                        proxy_std=float(proxy_scores.std()), gold_std=float(gold_scores.std()),
                        estimator=estimator, prompts=proxy_scores.shape[0], samples=proxy_scores.shape[1],
                        proxy_scores=proxy_scores, gold_scores=gold_scores)


def best_of_n_curve(policy, tokenizer, prompts: list[list[dict]], proxy: ScoreFunction, gold: ScoreFunction,
                    ns: Sequence[int] = DEFAULT_NS, max_new_tokens: int = 64, temperature: float = 1.0,
                    top_k: int | None = None, seed: int = 0, estimator: str = "subsets",
                    pool: AnswerPool | None = None) -> BestOfNCurve:
    """Sample max(ns) answers per prompt (or take `pool`), score them with both reward functions
    (a `RewardFunction` or any conversations -> scores callable) and build the curve."""
    if pool is None:
        pool = sample_pool(policy, tokenizer, prompts, max(ns), max_new_tokens, temperature, top_k, seed=seed)
    curve = curve_from_scores(score_pool(pool, proxy), score_pool(pool, gold), ns, estimator)
    curve.pool = pool
    return curve


def fit_gold_curve(kl: Sequence[float], gold_gain: Sequence[float]) -> dict:
    """Gao et al.'s best-of-N form gold − gold₀ = d (α − β d), d = sqrt(KL), by least squares;
    with β > 0 the gold peaks at KL = (α / 2β)²."""
    d = np.sqrt(np.asarray(kl, np.float64))
    design = np.stack([d, -d * d], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(design, np.asarray(gold_gain, np.float64), rcond=None)
    peak = (alpha / (2 * beta)) ** 2 if beta > 0 and alpha > 0 else None
    return {"alpha": float(alpha), "beta": float(beta), "peak_kl": None if peak is None else float(peak)}


@dataclass
class PPOCurve:
    """Per rollout of a PPO run: KL from the reference per answer, proxy (`reward`), `gold_reward`."""
    label: str
    step: list[int]
    kl: list[float]
    proxy: list[float]
    gold: list[float]


def read_ppo_curve(run_dir: str | Path, label: str | None = None) -> PPOCurve:
    """The PPO curve from RUN/metrics.jsonl: one point per rollout (per step when the lines have
    no `rollout`) that logs `reward`, `gold_reward` and `kl`."""
    from train.core.plots import read_metrics
    records, rollouts = [], set()
    for record in read_metrics(run_dir):
        if not all(k in record for k in ("reward", "gold_reward", "kl")) or record.get("rollout") in rollouts:
            continue  # optimizer steps that reuse a rollout repeat its numbers: one point each
        records.append(record)
        if "rollout" in record:
            rollouts.add(record["rollout"])
    if not records:
        raise ValueError(f"{run_dir}/metrics.jsonl has no step with reward, gold_reward and kl "
                         "(run PPO with --gold-reward)")
    return PPOCurve(label or f"PPO ({Path(run_dir).name})", [int(r.get("step", i)) for i, r in enumerate(records)],
                    [float(r["kl"]) for r in records], [float(r["reward"]) for r in records],
                    [float(r["gold_reward"]) for r in records])


def _smooth(values: list[float], window: int) -> np.ndarray:
    """Trailing moving average (PPO's per-step rewards are noisy)."""
    values = np.asarray(values, np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    starts = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    return (cumulative[1:] - cumulative[starts]) / (np.arange(1, len(values) + 1) - starts)


def plot_reward_hacking(curve: BestOfNCurve, path: str | Path, ppo: Sequence[PPOCurve] = (),
                        title: str | None = None, ppo_smoothing: int = 5, ppo_start: str = "first") -> Path:
    """Proxy and gold against KL, each relative to the starting policy and in units of that RM's
    spread over the policy's own answers, so the two share one axis.

    PPO points are moving averages over `ppo_smoothing` rollouts. Their start is the run's own
    first rollout (`ppo_start="first"`: right whatever PPO's prompts, but one rollout's noise),
    or best-of-N's N = 1 mean (`"best_of_n"`: the same SFT policy's expected score over thousands
    of answers — fair only when PPO samples the same prompts at the same temperature)."""
    if ppo_start not in ("best_of_n", "first"):
        raise ValueError(f"ppo_start must be 'best_of_n' or 'first', not {ppo_start!r}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proxy_unit, gold_unit = curve.proxy_std or 1.0, curve.gold_std or 1.0
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    kl = np.asarray(curve.kl)
    for name, unit, color in (("proxy", proxy_unit, "#3182bd"), ("gold", gold_unit, "#e6550d")):
        values = (np.asarray(getattr(curve, name)) - getattr(curve, name)[0]) / unit
        sem = np.asarray(getattr(curve, f"{name}_sem")) / unit
        ax.plot(kl, values, "o-", color=color, label=f"best-of-N, {name} RM")
        ax.fill_between(kl, values - sem, values + sem, color=color, alpha=0.15, linewidth=0)
    for n, x, y in zip(curve.n, kl, (np.asarray(curve.proxy) - curve.proxy[0]) / proxy_unit):
        ax.annotate(f"N={n}", (x, y), textcoords="offset points", xytext=(-4, 6), fontsize=7, color="#3182bd")
    for run in ppo:
        proxy = _smooth(run.proxy, ppo_smoothing)
        gold = _smooth(run.gold, ppo_smoothing)
        kl_run = _smooth(run.kl, ppo_smoothing)
        # PPO's KL need not grow steadily: points in rollout order, joined by a faint line.
        for values, unit, color, name in ((proxy, proxy_unit, "#3182bd", "proxy"),
                                          (gold, gold_unit, "#e6550d", "gold")):
            start = getattr(curve, name)[0] if ppo_start == "best_of_n" else getattr(run, name)[0]
            gain = (values - start) / unit
            ax.plot(kl_run, gain, "-", color=color, alpha=0.25, linewidth=0.8)
            ax.plot(kl_run, gain, "^", color=color, markersize=3.5, label=f"{run.label}, {name} RM")
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_xlabel("KL from the SFT policy (nats)")
    ax.set_ylabel("reward gain (σ of the policy's answers)")
    ax.set_title(title or f"Reward hacking: best-of-N on {curve.prompts} prompts, "
                          f"{curve.samples} samples each")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
