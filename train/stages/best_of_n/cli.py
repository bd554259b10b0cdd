"""`xiulian bon`: best-of-N sampling with a reward model. Registered by train/cli.py; torch is
imported only when the command runs."""
from __future__ import annotations

import sys


BON_HELP = """Best-of-N: sample N answers to each prompt with a policy, score them with a reward model
(optionally combined with a safety one, Llama 2 style) and keep the best. Writes one JSON line
per prompt and prints the mean best-of-N reward against the mean single-sample reward, with the
KL bound log N - (N-1)/N."""


def add_parsers(sub, command) -> None:
    p = command(sub, "bon", BON_HELP,
                "xiulian bon --policy sft --reward rm --prompts prompts.jsonl -n 8 -o bon.jsonl\n"
                "  xiulian bon --policy sft --reward rm --safety-reward safety_rm --safety-threshold 0.15 "
                "--prompts prompts.txt -n 16 --keep-all -o bon.jsonl")
    p.add_argument("--policy", required=True, metavar="CKPT", help="checkpoint or run that answers")
    p.add_argument("--reward", required=True, metavar="RM", help="reward-model checkpoint or run")
    p.add_argument("--safety-reward", metavar="RM2",
                   help="a safety reward model: its score replaces the reward where below the threshold")
    p.add_argument("--safety-threshold", type=float, default=0.0, metavar="T",
                   help="with --safety-reward: safety scores below T take over")
    p.add_argument("--prompts", required=True, nargs="+", metavar="FILE",
                   help="prompts: {prompt}, Alpaca, messages or ShareGPT records (a final answer is "
                        "dropped), JSON/JSONL (.gz ok), or .txt with one per line")
    p.add_argument("-n", type=int, default=4, metavar="N", help="answers sampled per prompt")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="one line per prompt, in order")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0, help="1 samples the policy as it is")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="sampling seed; same seed, same output bytes")
    p.add_argument("--batch-size", type=int, default=64,
                   help="answers decoded at once (memory and speed only: the output does not change)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when there is one)")
    p.add_argument("--missing-eos-penalty", type=float, default=0.0, metavar="P",
                   help="subtract P from the score of an answer that ran out of tokens before its "
                        "<|end_of_turn|> (as TRL does); 0 scores such answers as they are")
    p.add_argument("--overlong", choices=("truncate", "drop"), default="truncate",
                   help="a prompt leaving the answer less than min(max-new-tokens, half the context): "
                        "keep its start token and its end, or skip it")
    p.add_argument("--keep-all", action="store_true", help="also write every sample with its score")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=_run_bon)


def _run_bon(args) -> int:
    from train.core.loop import pick_device
    from train.data.sampling_prompts import read_prompts
    from train.data.sft_formats import write_records
    from train.model.checkpoint import load_model, load_tokenizer
    from train.stages.reward.reward_function import load_reward_function

    from .best_of_n import BestOfNSettings, best_of_n
    settings = BestOfNSettings(args.n, args.max_new_tokens, args.temperature, args.top_p, args.top_k,
                               args.seed, args.batch_size, args.missing_eos_penalty, args.keep_all,
                               args.overlong)
    settings.check()
    prompts, skipped = read_prompts(list(args.prompts))
    device = str(pick_device(args.device or "auto"))
    policy = load_model(args.policy, device).eval()
    reward = load_reward_function(args.reward, args.safety_reward, args.safety_threshold, device)
    rows, summary = best_of_n(policy, load_tokenizer(args.policy), reward, prompts, settings,
                              progress=not args.quiet)
    write_records(args.output, rows)
    if not args.quiet:
        print(summary_line(summary, skipped, args.output))
    if args.temperature == 0 and args.n > 1:
        print("note: --temperature 0 is greedy, so all N answers are the same", file=sys.stderr)
    return 0


def summary_line(summary: dict, skipped: dict, output: str) -> str:
    n = summary["n"]
    gain = summary["mean_best_reward"] - summary["mean_single_reward"]
    line = (f"best-of-{n} on {summary['prompts']} prompts: mean reward {summary['mean_best_reward']:.4f} "
            f"(single sample {summary['mean_single_reward']:.4f}, gain {gain:+.4f}); "
            f"KL bound log {n} - {n - 1}/{n} = {summary['kl_bound']:.4f} nats; "
            f"{summary['finished_share']:.1%} of answers finished "
            f"({summary['best_finished_share']:.1%} of the best) -> {output}")
    notes = []
    if skipped:
        notes.append(f"skipped {sum(skipped.values())} records: {dict(skipped)}")
    for key, what in (("prompts_truncated", "prompts truncated"),
                      ("prompts_dropped_overlong", "prompts too long, skipped")):
        if summary.get(key):
            notes.append(f"{summary[key]} {what}")
    if "safety_took_over_share" in summary:
        notes.append(f"the safety score took over for {summary['safety_took_over_share']:.1%} of answers")
    if summary["missing_eos_penalty"]:
        notes.append(f"unfinished answers scored {summary['missing_eos_penalty']:g} lower")
    return line + (f"\n({'; '.join(notes)})" if notes else "")
