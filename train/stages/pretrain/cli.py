"""`xiulian pretrain`. Registered by train/cli.py; torch is imported only when the command runs."""
from __future__ import annotations

from train.core.config import add_training_options, print_training_result, training_overrides


def add_parsers(sub, command) -> None:
    p = command(sub, "pretrain", "Pretrain a model on cleaned shards (next-token prediction); "
                "re-run on the same RUN to resume. Multi-process: torchrun --nproc_per_node N "
                "$(which xiulian) pretrain ...",
                "xiulian pretrain --data out/shards --tokenizer tok -o run --preset tiny --max-steps 500")
    p.add_argument("--data", nargs="+", required=True, metavar="SHARDS",
                   help="Parquet shards (or .jsonl/.txt), files or folders")
    p.add_argument("--tokenizer", required=True, metavar="TOKDIR", help="folder with tokenizer.json")
    p.add_argument("--heldout", nargs="+", metavar="FILES",
                   help="validate on this text (.jsonl/.txt/shards) instead of a split of --data: "
                        "one yardstick for runs on different data (keep it out of --data)")
    add_training_options(p)
    p.set_defaults(run=_run_pretrain)


def _run_pretrain(args) -> int:
    from .pretrain import pretrain
    result = pretrain(args.data, args.tokenizer, args.output, args.preset, args.config,
                      training_overrides(args), progress=not args.quiet, heldout=args.heldout)
    print_training_result(result, args.quiet)
    return 0
