"""`xiulian self-instruct`. Registered by train/cli.py; torch is imported only when the command runs."""
from __future__ import annotations

import sys

from train.core.config import add_sampling_options

from .self_instruct import UNKNOWN_LICENCE, self_instruct


SELF_INSTRUCT_HELP = """Generate instruction data with a teacher checkpoint from seed tasks (Self-Instruct / Alpaca);
near-duplicates dropped, the teacher and its licence recorded in every row. Re-run to continue
to --num rows."""


def add_parsers(sub, command) -> None:
    p = command(sub, "self-instruct", SELF_INSTRUCT_HELP,
                "xiulian self-instruct --teacher sft --seeds alpaca_seed_tasks.jsonl -o tasks.jsonl "
                "--num 200 --teacher-licence 'Apache-2.0'")
    p.add_argument("--teacher", required=True, metavar="CKPT", help="checkpoint or run that writes the data")
    p.add_argument("--seeds", required=True, metavar="FILE",
                   help="seed tasks (JSONL with instruction + instances) or any Alpaca-format file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="rows are appended here")
    p.add_argument("--num", type=int, default=100, help="rows OUT should hold when done")
    p.add_argument("--num-shots", type=int, default=3, help="seed tasks shown per prompt")
    p.add_argument("--similarity", type=float, default=0.7,
                   help="drop instructions with ROUGE-L at least this close to a seed or kept one")
    p.add_argument("--max-rounds", type=int, default=0,
                   help="give up after this many attempts; 0: 20 per missing row")
    p.add_argument("--teacher-licence", default=UNKNOWN_LICENCE, metavar="TEXT",
                   help="the teacher's licence or terms, written into every row")
    add_sampling_options(p, temperature=1.0)  # --max-new-tokens: the limit for instruction and answer
    p.set_defaults(max_new_tokens=256)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run)


def _run(args) -> int:
    args.teacher_licence = args.teacher_licence.strip() or UNKNOWN_LICENCE
    if args.teacher_licence == UNKNOWN_LICENCE:
        print("xiulian self-instruct: warning: the teacher's licence is unknown; some providers' terms "
              "forbid training on their outputs (say it with --teacher-licence)", file=sys.stderr)
    books = self_instruct(
        args.teacher, args.seeds, args.output, num=args.num, num_shots=args.num_shots,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        max_new_tokens=args.max_new_tokens, similarity=args.similarity, seed=args.seed,
        licence=args.teacher_licence, device=args.device, max_rounds=args.max_rounds or None,
        progress=not args.quiet)
    reasons = ", ".join(f"{n} {reason}" for reason, n in books.rejected.most_common()) or "none"
    print(f"self-instruct: {books.generated} generated = {books.kept} kept + "
          f"{sum(books.rejected.values())} rejected ({reasons}); {args.output} holds {books.total} rows",
          file=sys.stderr)
    if books.total < args.num:
        print(f"self-instruct: gave up after {books.generated} rounds short of {args.num} rows; run it "
              "again to continue (a teacher that rarely ends its turn needs more --max-new-tokens)",
              file=sys.stderr)
    return 0
