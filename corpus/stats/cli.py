"""`xiulian stats` and `xiulian show`: registered on the main parser by `add_parsers`.

corpus/cli.py calls `add_parsers(sub, _command)`, where `_command(sub, name, help, example)`
makes a sub-parser with the house help format (an `example:` epilog).
"""
from __future__ import annotations

import functools
import json
import os
import sys

from ..errors import UserError


def add_parsers(sub, command) -> None:
    p = command(sub, "stats", "What a clean output kept and why: counts, tokens, the funnel of "
                "removals by step and reason, languages, domains, lengths, scores, tiers, dedup, "
                "decontamination, licences.",
                "xiulian stats out\n"
                "  xiulian stats out --html report.html\n"
                "  xiulian stats out/shards --json | jq .kept")
    p.add_argument("output", metavar="OUT", help="a clean output, its shards/ folder, a folder "
                   "of Parquet shards or one shard")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--html", metavar="REPORT.html",
                   help="also write a self-contained HTML report with plots and example texts")
    p.add_argument("--top", type=int, default=20, help="rows in the top-domain/source/licence lists")
    p.add_argument("--examples", type=int, default=3,
                   help="example texts per removal reason and per language in the HTML report")
    p.add_argument("--seed", type=int, default=0, help="seed for picking the example texts")
    p.set_defaults(run=_run_stats)

    p = command(sub, "show", "Print kept (or removed) documents, filtered with SQL, so you can "
                "read what a rule kept or removed.",
                "xiulian show out -n 5\n"
                "  xiulian show out --removed --step gopher_quality --reason mean_word_length\n"
                "  xiulian show out --where \"language = 'zh' and length(text) > 500\" --random\n"
                "  xiulian show out --where \"score_quality < 0.2\" --json > low.jsonl")
    p.add_argument("output", metavar="OUT", help="a clean output, its shards/ folder, or shards")
    p.add_argument("--removed", action="store_true",
                   help="show the removed ledger instead of the kept shards")
    p.add_argument("--where", metavar="EXPR", help="SQL boolean over the columns (duckdb), "
                   "e.g. \"language = 'en' and score_quality > 0.5\"")
    p.add_argument("--step", help="only documents removed by this step (implies --removed); "
                   "STEP:REASON also works")
    p.add_argument("--reason", help="only documents removed for this reason (implies --removed)")
    p.add_argument("-n", "--limit", type=int, default=10, help="how many documents")
    p.add_argument("--random", action="store_true", help="a random sample instead of the first ones")
    p.add_argument("--seed", type=int, default=0, help="seed for --random")
    p.add_argument("--lines", type=int, default=6,
                   help="text lines shown per document (0: the whole text)")
    p.add_argument("--json", action="store_true", help="one JSON object per document (full text)")
    p.set_defaults(run=_run_show)


def _quiet_when_piped_to_head(run):
    """`xiulian show out | head` closes the pipe early: stop quietly, not with a traceback."""
    @functools.wraps(run)
    def wrapper(args) -> int:
        try:
            return run(args)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    return wrapper


@_quiet_when_piped_to_head
def _run_stats(args) -> int:
    from .compute import corpus_stats
    if args.top < 1 or args.examples < 0:
        raise UserError("--top must be at least 1 and --examples at least 0")
    stats = corpus_stats(args.output, top=args.top, examples=args.examples if args.html else 0,
                         seed=args.seed)
    if args.html:
        from .html_report import write_report
        try:
            write_report(stats, args.html)
        except OSError as exc:
            raise UserError(f"cannot write {args.html}: {exc.strerror or exc}") from None
        stats.pop("examples", None)
    if args.json:
        json.dump(stats, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        from .tables import render
        render(stats)
        if args.html:
            print(f"report: {args.html}")
    return 0


@_quiet_when_piped_to_head
def _run_show(args) -> int:
    from .show import ShowQuery, show
    if args.limit < 1 or args.lines < 0:
        raise UserError("-n must be at least 1 and --lines at least 0")
    step, reason = args.step, args.reason
    if step and ":" in step and reason is None:
        step, reason = step.split(":", 1)
    query = ShowQuery(removed=args.removed or bool(step or reason), where=args.where, step=step,
                      reason=reason, limit=args.limit, random=args.random, seed=args.seed)
    show(args.output, query, lines=args.lines, as_json=args.json)
    return 0
