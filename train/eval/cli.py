"""`xiulian eval`: perplexity and bits per byte. Registered by train/cli.py; torch is imported only
when the command runs."""
from __future__ import annotations


def add_parsers(sub, command) -> None:
    p = command(sub, "eval", "Perplexity and bits per byte of a checkpoint on text.",
                "xiulian eval run --data ../wikitext-2/valid.txt")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--data", nargs="+", required=True, metavar="FILES",
                   help="Parquet shards, .jsonl or .txt (one document per line)")
    p.add_argument("--max-tokens", type=int, default=1_000_000, help="evaluate at most this many tokens")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_run_eval)


def _run_eval(args) -> int:
    import json

    from .perplexity import evaluate_files
    result = evaluate_files(args.checkpoint, args.data, args.max_tokens, args.batch_size, args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['tokens']:,} tokens, {result['bytes']:,} bytes: loss {result['loss']:.4f}, "
              f"perplexity {result['perplexity']:.2f}, bits per byte {result['bits_per_byte']:.4f}")
    return 0
