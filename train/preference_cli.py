"""`xiulian reward` (train, and `reward score`), `xiulian dpo` and `xiulian kto`. Registered by
train/cli.py; torch is imported only when a command runs."""
from __future__ import annotations

import sys


def add_parsers(sub, command) -> None:
    _add_reward(sub, command)
    _add_dpo(sub, command)
    _add_kto(sub, command)


def _add_common(p) -> None:
    from .cli import add_lora_options, add_training_options
    p.add_argument("--init", metavar="CKPT", help="checkpoint or run to start from (usually SFT)")
    p.add_argument("--data", nargs="+", metavar="FILE", help="preference files (JSON/JSONL, .gz ok)")
    add_training_options(p, default_preset=None)
    add_lora_options(p)


def _require(p, args, names: tuple[str, ...]) -> None:
    missing = [f"--{n}" if n != "output" else "-o/--output" for n in names if not getattr(args, n)]
    if missing:
        p.error(f"the following arguments are required: {', '.join(missing)}")


def _add_reward(sub, command) -> None:
    p = command(sub, "reward", "Train a reward model (the transformer with a scalar head) on preference "
                "pairs with the Bradley-Terry loss; prints held-out pairwise accuracy. "
                "`xiulian reward score RM --data FILE` scores answers with it.",
                "xiulian reward --init sft --data hh_rlhf.jsonl.gz -o rm --max-steps 500\n"
                "  xiulian reward score rm --data answers.jsonl -o scored.jsonl")
    _add_common(p)
    p.add_argument("--center-rewards-coefficient", type=float, metavar="C",
                   help="add C * mean((r_chosen + r_rejected)^2) to keep rewards centred (default 0)")
    # `reward score` needs neither -o nor --init: they are checked when training.
    p._option_string_actions["-o"].required = False
    actions = p.add_subparsers(dest="action", metavar="score", required=False)
    s = command(actions, "score", "Score the final answer of each record with a reward model: pairs get "
                "reward_chosen and reward_rejected (and the pairwise accuracy is printed), "
                "conversations and {prompt, completion} records get reward.",
                "xiulian reward score rm --data answers.jsonl -o scored.jsonl")
    s.add_argument("checkpoint", metavar="RM", help="reward-model checkpoint or run")
    s.add_argument("--data", nargs="+", required=True, metavar="FILE", help="records to score")
    s.add_argument("-o", "--output", metavar="OUT.jsonl", help="write scored records here (default: stdout)")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--device", default="cpu")
    s.set_defaults(run=_run_reward_score)
    p.set_defaults(run=lambda args: _run_reward(p, args))


def _run_reward(p, args) -> int:
    _require(p, args, ("init", "data", "output"))
    from .cli import lora_options, training_overrides
    from .reward import train_reward
    result = train_reward(args.init, args.data, args.output, args.config, training_overrides(args),
                          lora_options(args), {"center_rewards_coefficient": args.center_rewards_coefficient},
                          progress=not args.quiet)
    if not args.quiet:
        line = f"step {result['step']}"
        if "val_accuracy" in result:
            line += (f": held-out pairwise accuracy {result['val_accuracy']:.3f} on "
                     f"{result['validation_pairs']} pairs (margin {result['val_margin']:.3f})")
        print(f"{line}; reward model in {result['run']}/checkpoint")
    return 0


def _run_reward_score(args) -> int:
    from .reward_score import score_files
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


def _add_dpo(sub, command) -> None:
    p = command(sub, "dpo", "Direct preference optimisation from a checkpoint on preference pairs "
                "(sigmoid loss; reference log-probs computed once and kept in the run; with LoRA the "
                "reference is the base). Prints held-out implicit-reward accuracy and margin.",
                "xiulian dpo --init sft --data dpo_en_demo.json -o dpo --max-steps 200 --beta 0.1")
    _add_common(p)
    p.add_argument("--beta", type=float, help="strength of the pull to the reference (default 0.1)")
    p.add_argument("--label-smoothing", type=float, help="assumed share of flipped labels (cDPO; default 0)")
    p.set_defaults(run=lambda args: _run_direct(p, args, "dpo"))


def _add_kto(sub, command) -> None:
    p = command(sub, "kto", "Kahneman-Tversky optimisation from a checkpoint on answers judged good or "
                "bad ({prompt, completion, label} or messages + label; pairs give one of each).",
                "xiulian kto --init sft --data kto_en_demo.json -o kto --max-steps 200")
    _add_common(p)
    p.add_argument("--beta", type=float, help="default 0.1")
    p.add_argument("--desirable-weight", type=float, help="weight of good answers' loss (default 1)")
    p.add_argument("--undesirable-weight", type=float, help="weight of bad answers' loss (default 1)")
    p.set_defaults(run=lambda args: _run_direct(p, args, "kto"))


def _run_direct(p, args, stage: str) -> int:
    _require(p, args, ("init", "data", "output"))
    from .cli import lora_options, training_overrides
    from .dpo import dpo, kto
    names = ("beta", "label_smoothing") if stage == "dpo" else ("beta", "desirable_weight", "undesirable_weight")
    options = {name: getattr(args, name) for name in names}
    result = (dpo if stage == "dpo" else kto)(args.init, args.data, args.output, args.config,
                                              training_overrides(args), lora_options(args), options,
                                              progress=not args.quiet)
    if not args.quiet:
        _print_direct(result, stage)
    return 0


def _print_direct(result: dict, stage: str) -> None:
    line = f"step {result['step']}"
    if stage == "dpo" and "val_accuracy" in result:
        line += (f": held-out implicit-reward accuracy {result['val_accuracy']:.3f} on "
                 f"{result['validation_pairs']} pairs, margin {result['val_margin']:.4f} "
                 f"(chosen {result['val_reward_chosen']:.4f}, rejected {result['val_reward_rejected']:.4f})")
    elif "val_accuracy" in result:
        line += (f": held-out accuracy {result['val_accuracy']:.3f} on {result['validation_answers']} "
                 f"answers, signed reward {result['val_signed_reward']:.4f}, KL {result['val_kl']:.4f}")
    print(f"{line}; checkpoint in {result['run']}/checkpoint")
    if "reference_prefers_chosen" in result:
        print(f"(the starting model gave chosen the higher log-probability in "
              f"{result['reference_prefers_chosen']:.3f} of the held-out pairs)")
