"""`xiulian ppo`: reinforcement learning from a reward model's scores. Registered by
train/cli.py; torch is imported only when the command runs."""
from __future__ import annotations

OPTIONS = ("max_new_tokens", "temperature", "missing_eos_penalty", "init_kl_coef", "kl_target", "kl_horizon",
           "ppo_epochs", "minibatches", "cliprange", "cliprange_value", "vf_coef", "gamma", "lam",
           "safety_threshold")


def add_parsers(sub, command) -> None:
    from train.core.config import add_lora_options, add_training_options
    p = command(sub, "ppo", "PPO from a checkpoint (usually SFT) against a reward model: sample an answer "
                "per prompt, score it, take clipped policy and value steps with a KL penalty to the "
                "starting model. Logs reward, KL, entropy, losses per step to RUN/metrics.jsonl and "
                "plots reward and KL in RUN/ppo.png; re-run on the same RUN to resume.",
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
    p.add_argument("--safety-threshold", type=float, metavar="T", help="default 0")
    add_training_options(p, default_preset=None)
    add_lora_options(p)
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="answer length limit (default 64)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default 0.7)")
    p.add_argument("--missing-eos-penalty", type=float, metavar="P",
                   help="subtracted from the score of an answer that never ends its turn (default 1)")
    p.add_argument("--init-kl-coef", type=float, metavar="BETA", help="KL penalty coefficient (default 0.05)")
    p.add_argument("--kl-target", type=float, metavar="KL",
                   help="KL per answer (nats) to steer the coefficient towards; unset: fixed")
    p.add_argument("--kl-horizon", type=float, metavar="N", help="adaptive controller's horizon (default 10000)")
    p.add_argument("--ppo-epochs", type=int, metavar="E", help="passes over each rollout (default 4)")
    p.add_argument("--minibatches", type=int, metavar="M",
                   help="minibatches per rollout (default 1); a rollout is M x batch-size x grad-accum answers")
    p.add_argument("--cliprange", type=float, help="policy ratio clip (default 0.2)")
    p.add_argument("--cliprange-value", type=float, help="value clip (default 0.2)")
    p.add_argument("--vf-coef", type=float, help="weight of the value loss (default 0.1)")
    p.add_argument("--gamma", type=float, help="discount (default 1)")
    p.add_argument("--lam", type=float, help="GAE lambda (default 0.95)")
    p.set_defaults(run=_run_ppo)


def _run_ppo(args) -> int:
    from train.core.config import lora_options, training_overrides

    from .run import ppo
    result = ppo(args.init, args.reward, args.prompts, args.output, args.config, training_overrides(args),
                 lora_options(args), {name: getattr(args, name) for name in OPTIONS},
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
