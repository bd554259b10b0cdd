"""`xiulian ppo`: reinforcement learning from a reward model's scores. Registered by
train/cli.py; torch is imported only when the command runs."""
from __future__ import annotations

from train.core.config import (add_flags, add_lora_options, add_training_options, flag_values, lora_options,
                               training_overrides)

from .config import PPOConfig


PPO_HELP = """PPO from a checkpoint (usually SFT) against a reward model: sample an answer per prompt, score
it, take clipped policy and value steps with a KL penalty to the starting model. Logs reward,
KL, entropy, losses per step to RUN/metrics.jsonl and plots reward and KL in RUN/ppo.png; re-run
on the same RUN to resume."""


def add_parsers(sub, command) -> None:
    p = command(sub, "ppo", PPO_HELP,
                "xiulian ppo --init sft --reward rm --prompts prompts.jsonl -o ppo --max-steps 200 "
                "--kl-target 6\n"
                "  xiulian ppo --init sft --reward rm --gold-reward rm_big --prompts alpaca.json -o ppo "
                "--lora-rank 8")
    p.add_argument("--init", required=True, metavar="CKPT", help="checkpoint or run to start from (usually SFT)")
    p.add_argument("--reward", required=True, metavar="RM", help="reward model to optimise (xiulian reward)")
    p.add_argument("--prompts", required=True, nargs="+", metavar="FILE",
                   help="prompts: {prompt}, Alpaca, messages or ShareGPT records (a final answer is "
                        "dropped), JSON/JSONL (.gz ok), or .txt with one per line")
    p.add_argument("--gold-reward", metavar="RM", help="another reward model, only logged (gold_reward)")
    p.add_argument("--safety-reward", metavar="RM", help="safety reward model: its score takes over "
                   "when below --safety-threshold (Llama 2)")
    add_training_options(p, default_preset=None)
    add_lora_options(p)
    add_flags(p, PPOConfig)  # --safety-threshold, --max-new-tokens, ... --lam
    p.set_defaults(run=_run_ppo)


def _run_ppo(args) -> int:
    from .run import ppo
    result = ppo(args.init, args.reward, args.prompts, args.output, args.config, training_overrides(args),
                 lora_options(args), flag_values(args, PPOConfig),
                 gold_reward=args.gold_reward, safety_reward=args.safety_reward, progress=not args.quiet)
    if not args.quiet:
        line = f"step {result['step']}"
        if "recent" in result:
            first, recent = result["first"], result["recent"]
            line += (f": reward {first['reward']:.3f} in the first rollout, {recent['reward']:.3f} over the last "
                     f"{recent['rollouts']}; KL {recent['kl']:.2f} per answer (coefficient {recent['kl_coef']:.4f}), "
                     f"{recent['finished']:.0%} of answers finished")
            if "gold_reward" in recent:
                line += f"; gold reward {first['gold_reward']:.3f} -> {recent['gold_reward']:.3f}"
        print(f"{line}; policy in {result['run']}/checkpoint, curves in {result['run']}/ppo.png")
    return 0
