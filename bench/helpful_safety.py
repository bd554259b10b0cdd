"""Helpful vs safe, measured: best-of-N selecting by a helpfulness RM, a safety RM, or Llama 2's
combination of the two, on harmful requests and on benign instructions.

The helpfulness RM learns from dpo_en_demo (model-written answers, AI-judged: its chosen answers
refuse and ask back less often than its rejected ones), the safety RM from hh-rlhf harmless-base
(whose chosen answers refuse more). Both start from the same SFT checkpoint and train with TRL's
centring term (0.01), so their scores sit near zero and the combined rule — the safety score when
it falls below the threshold, the helpful score otherwise (train/stages/reward/reward_function.py) — compares numbers
on one scale. The threshold is the safety RM's median score on held-out *rejected* answers: an
answer the safety RM rates below the typical answer people turned down counts as unsafe.

Prompts: harmful = the first human turn of distinct held-out hh-rlhf conversations (red-team
openings); benign = Alpaca instructions without input (alpaca_en_demo; the tiny SFT policy trained
on them). N answers per prompt, sampled once; every selection picks from the same pool.

    .venv/bin/python bench/helpful_safety.py --init /tmp/m/sft -o /tmp/helpful_safety
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.reward_hacking import THREADS_HELP, held_out_accuracy  # noqa: E402
from train.data.preference_batches import PreferenceDataConfig, split_by_prompt  # noqa: E402
from train.data.preference_formats import load_pairs  # noqa: E402
from train.eval.reward_hacking import best_of_n_values, sample_pool  # noqa: E402
from train.model.chat_template import prompt_ids  # noqa: E402
from train.model.checkpoint import load_model, load_tokenizer  # noqa: E402
from train.stages.reward.reward_function import load_reward_function  # noqa: E402
from train.stages.reward.reward_model import score, train_reward  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
HELPFUL = DATA / "preference" / "dpo_en_demo.json"
SAFETY = DATA / "preference" / "hh_rlhf_harmless_base_test.shared80.jsonl.gz"
BENIGN = DATA / "sft" / "alpaca_en_demo.json"
CENTRING = 0.01


def train_or_reuse(name: str, given: str | None, init: str, data: Path, out: Path, steps: int, seed: int) -> str:
    if given:
        return given
    train_reward(init, [str(data)], str(out / name),
                 overrides={"max_steps": steps, "seed": seed}, options={"center_rewards_coefficient": CENTRING},
                 progress=False)
    return str(out / name)


def harmful_prompts(val_pairs, count: int) -> list[list[dict]]:
    seen, prompts = set(), []
    for pair in val_pairs:
        opening = pair.prompt[0]["content"].strip()
        if opening and opening not in seen:
            seen.add(opening)
            prompts.append([{"role": "user", "content": opening}])
    return prompts[:count]


def benign_prompts(path: Path, count: int) -> list[list[dict]]:
    records = json.loads(path.read_text(encoding="utf-8"))
    return [[{"role": "user", "content": r["instruction"]}] for r in records if not r.get("input")][:count]


def fits(prompts, tokenizer, context: int, room: int) -> list[list[dict]]:
    return [p for p in prompts if len(prompt_ids(tokenizer, p)) + room <= context]


def selection_table(parts: dict[str, np.ndarray], chars: np.ndarray, threshold: float, n: int) -> dict:
    """For each way of choosing among N answers, the chosen answers' mean scores, share below the
    safety threshold and length in characters."""
    helpful, safety, combined = parts["helpful"], parts["safety"], parts["reward"]
    table = {}
    for name, selector, picks_from in (("random (N=1)", combined, 1), ("helpful only", helpful, n),
                                       ("safety only", safety, n), ("combined (Llama 2)", combined, n)):
        h, s, unsafe, length = best_of_n_values(selector, [helpful, safety, (safety < threshold).astype(float), chars],
                                                picks_from)
        table[name] = {"helpful": float(h.mean()), "safety": float(s.mean()), "unsafe_share": float(unsafe.mean()),
                       "answer_chars": float(length.mean())}
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", default="/tmp/m/sft", help="SFT checkpoint: the policy and both RMs' start")
    parser.add_argument("-o", "--out", default="/tmp/helpful_safety")
    parser.add_argument("--helpful-rm", help="an existing helpfulness RM instead of training one")
    parser.add_argument("--safety-rm", help="an existing safety RM instead of training one")
    parser.add_argument("--helpful-steps", type=int, default=100)
    parser.add_argument("--safety-steps", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=32, help="prompts per group (harmful, benign)")
    parser.add_argument("-n", type=int, default=16, help="answers sampled per prompt; best-of-N picks from all")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    out = Path(args.out)

    helpful_dir = train_or_reuse("helpful", args.helpful_rm, args.init, HELPFUL, out, args.helpful_steps, args.seed)
    safety_dir = train_or_reuse("safety", args.safety_rm, args.init, SAFETY, out, args.safety_steps, args.seed)
    _, helpful_val = split_by_prompt(load_pairs([str(HELPFUL)])[0], PreferenceDataConfig())
    _, safety_val = split_by_prompt(load_pairs([str(SAFETY)])[0], PreferenceDataConfig())
    safety_fn = load_reward_function(safety_dir)
    rejected_scores = score(safety_fn.model, safety_fn.tokenizer,
                            [p.prompt + [{"role": "assistant", "content": p.rejected}] for p in safety_val])
    threshold = float(np.median(rejected_scores))
    rms = {"helpful": {"data": HELPFUL.name, "held_out_pairs": len(helpful_val),
                       "held_out_accuracy": held_out_accuracy(Path(helpful_dir), helpful_val)},
           "safety": {"data": SAFETY.name, "held_out_pairs": len(safety_val),
                      "held_out_accuracy": held_out_accuracy(Path(safety_dir), safety_val),
                      "threshold": threshold, "threshold_rule": "median safety score of held-out rejected answers"}}
    for name, rm in rms.items():
        print(f"{name} RM: held-out accuracy {rm['held_out_accuracy']:.3f} on {rm['held_out_pairs']} pairs", flush=True)

    policy, tokenizer = load_model(args.init), load_tokenizer(args.init)
    room = (policy.config.max_seq_len, args.max_new_tokens)
    groups = {"harmful (hh-rlhf)":
              fits(harmful_prompts(safety_val, 10 * args.prompts), tokenizer, *room)[:args.prompts],
              "benign (alpaca)": fits(benign_prompts(BENIGN, 10 * args.prompts), tokenizer, *room)[:args.prompts]}
    judge = load_reward_function(helpful_dir, safety_dir, threshold)
    results = {"init": args.init, "n": args.n, "max_new_tokens": args.max_new_tokens, "seed": args.seed,
               "reward_models": rms, "groups": {}}
    for offset, (group, prompts) in enumerate(groups.items()):
        pool = sample_pool(policy, tokenizer, prompts, args.n, args.max_new_tokens, seed=args.seed + offset)
        raw = judge.score_parts(pool.conversations())
        parts = {k: np.asarray(raw[k], np.float64).reshape(len(prompts), args.n)
                 for k in ("reward", "helpful", "safety")}
        results["groups"][group] = {
            "prompts": len(prompts),
            "helpful_safety_correlation": float(np.corrcoef(parts["helpful"].ravel(), parts["safety"].ravel())[0, 1]),
            "safety_took_over_share": float(np.mean(raw["safety_took_over"])),
            "selections": selection_table(parts, np.array([[len(a) for a in row] for row in pool.answers], float),
                                          threshold, args.n)}
    results["seconds"] = round(time.time() - started, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"safety threshold {threshold:+.3f}; best-of-{args.n}, mean scores of the chosen answers:")
    print(f"{'group':<20} {'selection':<20} {'helpful':>8} {'safety':>8} {'unsafe':>7} {'chars':>6}")
    for group, result in results["groups"].items():
        for name, row in result["selections"].items():
            print(f"{group:<20} {name:<20} {row['helpful']:+8.3f} {row['safety']:+8.3f} "
                  f"{row['unsafe_share']:7.1%} {row['answer_chars']:6.0f}")
    print(f"wrote {out / 'results.json'} in {results['seconds']:.0f} s")
    return results


if __name__ == "__main__":
    main()
