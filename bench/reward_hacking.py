"""Reward hacking, measured with best-of-N: a proxy RM on a small part of the preferences, a gold RM
on all of them, the proxy selecting and the gold judging (Gao et al. 2023's set-up).

Both RMs start from the same SFT checkpoint and share one held-out split (10 % of the prompts, by
the reward stage's stable hash), which neither trains on: their held-out accuracy is measured on
it, and best-of-N samples answers to its prompts. Writes RUN dirs for both RMs, OUT/results.json
and the plot (docs/img/reward_hacking_bon.png by default).

    .venv/bin/python bench/reward_hacking.py --init /tmp/m/sft -o /tmp/reward_hacking
    .venv/bin/python bench/reward_hacking.py --ppo-steps 120     # also PPO against the proxy
    .venv/bin/python bench/reward_hacking.py --ppo /tmp/ppo_run   # adds an existing PPO run's curve

With --ppo-steps, `xiulian ppo` optimises the proxy (gold logged as gold_reward) on best-of-N's
prompts at the same temperature, so its KL per answer sits on best-of-N's axis and its gains
count from best-of-N's N = 1 (the same policy's expected scores); its
missing-EOS penalty is off, so the proxy is the whole objective besides the KL penalty.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.data.preference_batches import PreferenceDataConfig, split_by_prompt  # noqa: E402
from train.data.preference_formats import load_pairs  # noqa: E402
from train.eval.reward_hacking import (  # noqa: E402
    best_of_n_curve,
    best_of_n_values,
    curve_from_scores,
    fit_gold_curve,
    plot_reward_hacking,
    read_ppo_curve,
)
from train.model.chat_template import prompt_ids  # noqa: E402
from train.model.checkpoint import load_model, load_tokenizer  # noqa: E402
from train.stages.reward.reward_function import load_reward_function  # noqa: E402
from train.stages.reward.reward_model import score, train_reward  # noqa: E402

# Decoding a tiny model is many small matmuls: on a CPU shared with other work, two OpenMP threads
# spin against each other and ran 256 answers in 122 s where one thread took 10 s (measured here).
THREADS_HELP = "torch threads (default 1: fastest for tiny models on a shared 2-core CPU)"
HH = ROOT.parent / "shared" / "data" / "preference" / "hh_rlhf_harmless_base_test.shared80.jsonl.gz"


def pair_record(pair) -> dict:
    return {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected}


def write_pairs(path: Path, pairs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair_record(pair), ensure_ascii=False) + "\n")
    return path


def held_out_accuracy(rm_dir: Path, pairs) -> float:
    """Share of held-out pairs whose chosen answer the RM scores strictly higher."""
    function = load_reward_function(str(rm_dir))
    chosen = score(function.model, function.tokenizer, [p.prompt + [{"role": "assistant", "content": p.chosen}]
                                                        for p in pairs])
    rejected = score(function.model, function.tokenizer, [p.prompt + [{"role": "assistant", "content": p.rejected}]
                                                          for p in pairs])
    return float(np.mean(np.asarray(chosen) > np.asarray(rejected)))


def held_out_prompts(pairs, tokenizer, context: int, max_new_tokens: int, count: int) -> list[list[dict]]:
    """Distinct held-out prompts (file order) that leave room for a whole answer."""
    seen, prompts = set(), []
    for pair in pairs:
        key = json.dumps(pair.prompt, sort_keys=True)
        if key in seen or len(prompt_ids(tokenizer, pair.prompt)) + max_new_tokens > context:
            continue
        seen.add(key)
        prompts.append(pair.prompt)
    return prompts[:count]


def write_pool(path: Path, curve) -> None:
    """Every sampled answer with both RMs' scores, one prompt per line, for inspection."""
    with open(path, "w", encoding="utf-8") as f:
        for p, prompt in enumerate(curve.pool.prompts):
            f.write(json.dumps({"prompt": prompt, "answers": curve.pool.answers[p],
                                "proxy": curve.proxy_scores[p].round(5).tolist(),
                                "gold": curve.gold_scores[p].round(5).tolist()}, ensure_ascii=False) + "\n")


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over prompts of the Spearman correlation of two RMs' scores on that prompt's answers."""
    def ranks(x):
        return np.argsort(np.argsort(x, axis=1), axis=1).astype(np.float64)
    ra, rb = ranks(a), ranks(b)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    return float(np.mean((ra * rb).sum(1) / np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))))


def run_ppo(args, out: Path, prompts: list[list[dict]]) -> Path:
    """`xiulian ppo` against the proxy with the gold logged, on the held-out prompts."""
    prompt_file = out / "data" / "ppo_prompts.jsonl"
    prompt_file.write_text("".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in prompts))
    command = [sys.executable, "-m", "corpus.cli", "ppo", "--init", args.init, "--reward", str(out / "proxy"),
               "--gold-reward", str(out / "gold"), "--prompts", str(prompt_file), "-o", str(out / "ppo"),
               "--max-steps", str(args.ppo_steps), "--temperature", str(args.temperature),
               "--max-new-tokens", str(args.max_new_tokens), "--init-kl-coef", str(args.ppo_kl_coef),
               "--missing-eos-penalty", "0",  # the proxy alone, no bonus for ending the turn
               "--batch-size", str(args.ppo_batch_size), "--lr", str(args.ppo_lr), "--seed", str(args.seed), "-q"]
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    return out / "ppo"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", default="/tmp/m/sft", help="SFT checkpoint: the policy and both RMs' start")
    parser.add_argument("--data", nargs="+", default=[str(HH)], help="preference files (default: hh-rlhf harmless)")
    parser.add_argument("-o", "--out", default="/tmp/reward_hacking")
    parser.add_argument("--proxy-fraction", type=float, default=0.125,
                        help="share of the training pairs the proxy sees")
    parser.add_argument("--proxy-steps", type=int, default=100)
    parser.add_argument("--gold-steps", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n-max", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ppo", nargs="*", default=[], help="PPO run dirs logging reward, gold_reward, kl")
    parser.add_argument("--ppo-steps", type=int, default=0, help="also run PPO on the proxy (0: do not)")
    parser.add_argument("--ppo-kl-coef", type=float, default=0.02, help="PPO's fixed KL coefficient")
    parser.add_argument("--ppo-batch-size", type=int, default=16, help="answers per PPO rollout")
    parser.add_argument("--ppo-lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    parser.add_argument("--plot", default=str(ROOT / "docs" / "img" / "reward_hacking_bon.png"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    out = Path(args.out)

    pairs, _ = load_pairs(args.data)
    train_pairs, val_pairs = split_by_prompt(pairs, PreferenceDataConfig())
    rng = np.random.default_rng(args.seed)
    proxy_count = max(8, round(args.proxy_fraction * len(train_pairs)))
    proxy_pairs = [train_pairs[i] for i in sorted(rng.permutation(len(train_pairs))[:proxy_count])]
    # The proxy's file holds its training subset plus the shared held-out pairs, which the reward
    # stage's hash split puts back in validation: both RMs report on the same held-out pairs.
    proxy_file = write_pairs(out / "data" / "proxy_pairs.jsonl", proxy_pairs + val_pairs)
    timings = {}
    rms = {}
    for name, files, steps, count in (("proxy", [str(proxy_file)], args.proxy_steps, len(proxy_pairs)),
                                      ("gold", list(args.data), args.gold_steps, len(train_pairs))):
        tick = time.time()
        result = train_reward(args.init, files, str(out / name), overrides={"max_steps": steps, "seed": args.seed},
                              progress=False)
        if result.get("validation_pairs", len(val_pairs)) != len(val_pairs):
            raise SystemExit(f"{name} RM held out {result['validation_pairs']} pairs, expected {len(val_pairs)}")
        timings[f"train_{name}_s"] = round(time.time() - tick, 1)
        rms[name] = {"train_pairs": count, "steps": steps, "held_out_pairs": len(val_pairs),
                     "held_out_accuracy": held_out_accuracy(out / name, val_pairs)}
        print(f"{name} RM: {count} training pairs, {steps} steps, held-out accuracy "
              f"{rms[name]['held_out_accuracy']:.3f} on {len(val_pairs)} pairs", flush=True)

    tick = time.time()
    policy, tokenizer = load_model(args.init), load_tokenizer(args.init)
    prompts = held_out_prompts(val_pairs, tokenizer, policy.config.max_seq_len, args.max_new_tokens, args.prompts)
    ns = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= args.n_max]
    curve = best_of_n_curve(policy, tokenizer, prompts, load_reward_function(str(out / "proxy")),
                            load_reward_function(str(out / "gold")), ns, args.max_new_tokens,
                            args.temperature, seed=args.seed)
    timings["sample_and_score_s"] = round(time.time() - tick, 1)
    first = curve_from_scores(curve.proxy_scores, curve.gold_scores, ns, estimator="first")
    gains = [g - curve.gold[0] for g in curve.gold]
    pool = curve.pool
    best = [int(np.argmax(row)) for row in curve.proxy_scores[:3]]
    chars = np.array([[len(a) for a in row] for row in pool.answers], np.float64)
    finished = np.array(pool.finished, np.float64)
    write_pool(out / "pool.jsonl", curve)
    results = {
        "init": str(args.init), "data": list(map(str, args.data)), "seed": args.seed,
        "sampling": {"prompts": len(prompts), "samples_per_prompt": args.n_max, "max_new_tokens": args.max_new_tokens,
                     "temperature": args.temperature,
                     "finished_share": float(np.mean([f for row in pool.finished for f in row])),
                     "mean_answer_chars": float(np.mean([len(a) for row in pool.answers for a in row]))},
        "reward_models": rms,
        "proxy_gold_rank_agreement": rank_agreement(curve.proxy_scores, curve.gold_scores),
        "best_of_n": curve.to_dict(),
        "best_of_n_first_n_samples": first.to_dict(),
        "gold_fit": fit_gold_curve(curve.kl, gains),
        # What the proxy's pick looks like as N grows: length and whether it ended its turn.
        "picked_answer_chars": [float(best_of_n_values(curve.proxy_scores, [chars], n)[0].mean()) for n in ns],
        "picked_finished_share": [float(best_of_n_values(curve.proxy_scores, [finished], n)[0].mean()) for n in ns],
        "proxy_picks": [{"prompt": pool.prompts[p][-1]["content"], "answer": pool.answers[p][j],
                         "proxy": float(curve.proxy_scores[p, j]), "gold": float(curve.gold_scores[p, j])}
                        for p, j in enumerate(best)],
        "seconds": timings,
    }
    ppo_runs = list(args.ppo)
    if args.ppo_steps:
        tick = time.time()
        ppo_runs.append(run_ppo(args, out, prompts))
        timings["ppo_s"] = round(time.time() - tick, 1)
    ppo = [read_ppo_curve(run) for run in ppo_runs]
    results["ppo"] = [{"run": str(run), "rollouts": len(c.step), "kl": c.kl, "proxy": c.proxy, "gold": c.gold,
                       "last_10_rollouts": {k: float(np.mean(getattr(c, k)[-10:])) for k in ("kl", "proxy", "gold")}}
                      for run, c in zip(ppo_runs, ppo)]
    # Our own PPO run samples best-of-N's prompts at its temperature: N = 1 is its fair start.
    start = "best_of_n" if args.ppo_steps else "first"
    results["plot"] = str(plot_reward_hacking(curve, args.plot, ppo, ppo_start=start))
    timings["total_s"] = round(time.time() - started, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"{'N':>4} {'KL':>6} {'proxy':>8} {'gold':>8}   (relative to N=1; ±sem)")
    for i, n in enumerate(curve.n):
        print(f"{n:>4} {curve.kl[i]:6.3f} {curve.proxy[i] - curve.proxy[0]:+8.4f} "
              f"{curve.gold[i] - curve.gold[0]:+8.4f} ±{curve.gold_sem[i]:.4f}")
    print(f"wrote {out / 'results.json'} and {results['plot']} in {timings['total_s']:.0f} s")
    return results


if __name__ == "__main__":
    main()
