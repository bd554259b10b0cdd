"""`xiulian reward` (train) and `xiulian reward score`. Registered by train/cli.py; torch is
imported only when a command runs."""
from __future__ import annotations

import sys

from train.core.config import (add_flags, add_preference_options, flag_values, lora_options, require_options,
                               training_overrides)

from .config import RewardConfig


REWARD_HELP = """Train a reward model (the transformer with a scalar head) on preference pairs with the
Bradley-Terry loss; prints held-out pairwise accuracy. `xiulian reward score RM --data FILE`
scores answers with it."""

SCORE_HELP = """Score the final answer of each record with a reward model: pairs get reward_chosen and
reward_rejected (and the pairwise accuracy is printed), conversations and {prompt, completion}
records get reward, {prompt, answers: [...]} records (what `judge` reads) get rewards, one per answer."""


def add_parsers(sub, command) -> None:
    p = command(sub, "reward", REWARD_HELP,
                "xiulian reward --init sft --data hh_rlhf.jsonl.gz -o rm --max-steps 500\n"
                "  xiulian reward score rm --data answers.jsonl -o scored.jsonl")
    add_preference_options(p)
    add_flags(p, RewardConfig)
    # `reward score` needs neither -o nor --init: they are checked when training.
    p._option_string_actions["-o"].required = False
    actions = p.add_subparsers(dest="action", metavar="score", required=False)
    s = command(actions, "score", SCORE_HELP,
                "xiulian reward score rm --data answers.jsonl -o scored.jsonl")
    s.add_argument("checkpoint", metavar="RM", help="reward-model checkpoint or run")
    s.add_argument("--data", nargs="+", required=True, metavar="FILE", help="records to score")
    s.add_argument("-o", "--output", metavar="OUT.jsonl", help="write scored records here (default: stdout)")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--device", default="cpu")
    s.set_defaults(run=_run_reward_score)
    p.set_defaults(run=lambda args: _run_reward(p, args))


def _run_reward(p, args) -> int:
    require_options(p, args, ("init", "data", "output"))
    from .reward_model import train_reward
    result = train_reward(args.init, args.data, args.output, args.config, training_overrides(args),
                          lora_options(args), flag_values(args, RewardConfig),
                          progress=not args.quiet)
    if not args.quiet:
        line = f"step {result['step']}"
        if "val_accuracy" in result:
            line += (f": held-out pairwise accuracy {result['val_accuracy']:.3f} on "
                     f"{result['validation_pairs']} pairs (margin {result['val_margin']:.3f})")
        print(f"{line}; reward model in {result['run']}/checkpoint")
    return 0


def _run_reward_score(args) -> int:
    from .score import score_files
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        summary = score_files(args.checkpoint, args.data, out, args.batch_size, args.device)
    finally:
        if args.output:
            out.close()
    report = sys.stdout if args.output else sys.stderr
    line = f"scored {summary['scored']} records"
    if summary["skipped"]:
        line += f" ({sum(summary['skipped'].values())} skipped: {dict(summary['skipped'])})"
    if summary.get("mean_reward") is not None:
        line += f"; mean reward {summary['mean_reward']:.4f}"
    if summary.get("pairs"):
        line += f"; chosen above rejected in {summary['accuracy']:.3f} of {summary['pairs']} pairs"
    print(line + (f" -> {args.output}" if args.output else ""), file=report)
    return 0
