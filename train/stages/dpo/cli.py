"""`xiulian dpo` and `xiulian kto`. Registered by train/cli.py; torch is imported only when a
command runs."""
from __future__ import annotations

from train.core.config import (add_flags, add_preference_options, flag_values, lora_options, require_options,
                               training_overrides)

from .config import DPOConfig, KTOConfig


DPO_HELP = """Direct preference optimisation from a checkpoint on preference pairs (sigmoid loss; reference
log-probs computed once and kept in the run; with LoRA the reference is the base). Prints
held-out implicit-reward accuracy and margin."""


def add_parsers(sub, command) -> None:
    _add_dpo(sub, command)
    _add_kto(sub, command)


def _add_dpo(sub, command) -> None:
    p = command(sub, "dpo", DPO_HELP,
                "xiulian dpo --init sft --data dpo_en_demo.json -o dpo --max-steps 200 --beta 0.1")
    add_preference_options(p)
    add_flags(p, DPOConfig)
    p.set_defaults(run=lambda args: _run_direct(p, args, "dpo"))


def _add_kto(sub, command) -> None:
    p = command(sub, "kto", "Kahneman-Tversky optimisation from a checkpoint on answers judged good or "
                "bad ({prompt, completion, label} or messages + label; pairs give one of each).",
                "xiulian kto --init sft --data kto_en_demo.json -o kto --max-steps 200")
    add_preference_options(p)
    add_flags(p, KTOConfig)
    p.set_defaults(run=lambda args: _run_direct(p, args, "kto"))


def _run_direct(p, args, stage: str) -> int:
    require_options(p, args, ("init", "data", "output"))
    from .dpo import dpo, kto
    options = flag_values(args, DPOConfig if stage == "dpo" else KTOConfig)
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
