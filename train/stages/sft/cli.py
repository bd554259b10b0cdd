"""`xiulian sft`. Registered by train/cli.py; torch is imported only when the command runs."""
from __future__ import annotations

from train.core.config import (add_lora_options, add_training_options, lora_options, print_training_result,
                               training_overrides)


def add_parsers(sub, command) -> None:
    p = command(sub, "sft", "Instruction fine-tuning (stage 2) from a checkpoint on Alpaca, messages or "
                "ShareGPT data (JSON/JSONL); the loss counts only the assistant's tokens.",
                "xiulian sft --init run --data alpaca_en.json oasst_zh.json -o sft --max-steps 500\n"
                "  xiulian sft --init run --data alpaca_zh.json -o lora --lora-rank 8")
    p.add_argument("--init", required=True, metavar="CKPT", help="checkpoint or run to start from")
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="conversation files")
    add_training_options(p, default_preset=None)
    add_lora_options(p)
    p.set_defaults(run=_run_sft)


def _run_sft(args) -> int:
    from .sft import sft
    result = sft(args.init, args.data, args.output, args.config, training_overrides(args),
                 lora_options(args), progress=not args.quiet)
    print_training_result(result, args.quiet)
    return 0
