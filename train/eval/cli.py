"""`xiulian eval`: perplexity and bits per byte on text, and benchmark tasks scored as
lm-evaluation-harness scores them. Registered by train/cli.py; torch is imported only when the
command runs."""
from __future__ import annotations


def add_parsers(sub, command) -> None:
    from .benchmark_tasks import TASKS
    tasks = "; ".join(f"{name}: {task.what}" for name, task in TASKS.items())
    p = command(sub, "eval", "Perplexity and bits per byte of a checkpoint on text (--data), and/or "
                "benchmark scores (--tasks): multiple choice by the log-likelihood of each choice "
                "(acc, acc_norm), GSM8K by greedy generation (exact match of the final number), "
                "with standard errors; the prompts and metrics are lm-evaluation-harness's. "
                f"Tasks: {tasks}. Benchmark files are read from $SHARED/benchmarks "
                "(../shared/data unless SHARED is set) or named with --task-file.",
                "xiulian eval run --data ../wikitext-2/valid.txt\n"
                "  xiulian eval run --tasks hellaswag,arc_challenge,mmlu --limit 200 --json\n"
                "  xiulian eval run --tasks arc_easy --task-file arc_easy=ARC-Easy-Test.jsonl")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder "
                   "(an HF Llama model: bring it in with `xiulian import-hf` first)")
    p.add_argument("--data", nargs="+", metavar="FILES",
                   help="Parquet shards, .jsonl or .txt (one document per line): perplexity")
    p.add_argument("--max-tokens", type=int, default=1_000_000, help="with --data: at most this many tokens")
    p.add_argument("--tasks", metavar="T1,T2", help=f"benchmark tasks, comma-separated ({', '.join(TASKS)})")
    p.add_argument("--limit", type=int, metavar="N",
                   help="the first N items of each task (of each subject for mmlu and cmmlu, "
                        "as the harness's --limit does per subtask)")
    p.add_argument("--shots", type=int, metavar="K",
                   help="few-shot examples per prompt (default: 0; gsm8k 5), the first K of the "
                        "item's file or subject, the item itself left out")
    p.add_argument("--task-file", action="append", metavar="TASK=PATH",
                   help="read TASK from PATH (same format as the shared file); repeatable")
    p.add_argument("--samples", metavar="FILE.jsonl", help="write every item's scores and answer here")
    p.add_argument("--batch-size", type=int, help="sequences per forward pass (default: 8 for --data, "
                   "32 for --tasks)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_eval)


def _run_eval(args) -> int:
    import json

    from corpus.errors import UserError
    if not args.data and not args.tasks:
        raise UserError("name text to score (--data FILES) or benchmark tasks (--tasks T1,T2)")
    if args.limit is not None and args.limit < 1 or args.shots is not None and args.shots < 0:
        raise UserError("--limit must be at least 1 and --shots at least 0")
    result = {}
    if args.tasks:
        from .benchmark_tasks import parse_task_files, parse_task_names
        from .benchmarks import evaluate_tasks
        names, files = parse_task_names(args.tasks), parse_task_files(args.task_file)
        result.update(evaluate_tasks(args.checkpoint, names, files, args.limit, args.shots,
                                     args.batch_size or 32, args.device, not args.quiet, args.samples))
    if args.data:
        from .perplexity import evaluate_files
        text = evaluate_files(args.checkpoint, args.data, args.max_tokens, args.batch_size or 8, args.device)
        result = {**text, **result} if args.tasks else text
    if args.json:
        print(json.dumps(result))
        return 0
    if args.data:
        print(f"{result['tokens']:,} tokens, {result['bytes']:,} bytes: loss {result['loss']:.4f}, "
              f"perplexity {result['perplexity']:.2f}, bits per byte {result['bits_per_byte']:.4f}")
    for name, scores in result.get("tasks", {}).items():
        print(f"{name}: {format_scores(scores)}")
    return 0


def format_scores(scores: dict) -> str:
    """'acc 0.2500 ± 0.0433, acc_norm 0.2700 ± 0.0446 (100 items, 0-shot, 12.3 items/s)'."""
    metrics = [key for key in scores if f"{key}_stderr" in scores]
    parts = []
    for key in metrics:
        stderr = scores[f"{key}_stderr"]
        parts.append(f"{key} {scores[key]:.4f}" + (f" ± {stderr:.4f}" if stderr is not None else ""))
    return (", ".join(parts) + f" ({scores['n']:,} items, {scores['shots']}-shot, "
            f"{scores['items_per_second']:,} items/s)")
