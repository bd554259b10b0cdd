"""The `xiulian` command line: thin shells over library functions.

Heavy modules (the trainer, torch) are imported inside the command that needs them, so
`xiulian clean` never pays for importing torch. User errors print one line and exit 2.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from .errors import UserError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.I)


def parse_size(text: str) -> int:
    """'256MB', '1MiB', '500k', '1048576' -> bytes (decimal and binary prefixes both 1024-based)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 256MB, 1GB, 500k)")
    number, prefix = float(m.group(1)), m.group(2).lower()
    return int(number * 1024 ** "_kmgt".index(prefix)) if prefix else int(number)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _command(sub, name: str, help_text: str, example: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=help_text,
                          epilog="example:\n  " + example, formatter_class=_Formatter)


def _add_clean(sub) -> None:
    p = _command(sub, "clean", "Clean web crawls (WARC/WET, HTML, JSONL/JSON, Parquet, text) "
                 "into Parquet shards, with a ledger of every removed record.",
                 "xiulian clean crawl/*.warc.gz pages/ -o out --workers 4\n"
                 "  xiulian clean docs.jsonl.zst -o out --text-field content --config my.toml")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--config", metavar="FILE", help="pipeline TOML (replaces the default pipeline)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--source", help="label for the `source` column (default: the file's stem)")
    p.add_argument("--text-field", default="text", help="text field of JSON/Parquet records")
    p.add_argument("--shard-size", type=parse_size, default="256MB",
                   help="approximate uncompressed size of one output shard")
    p.add_argument("--overwrite", action="store_true", help="delete OUT and start over")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=_run_clean)


def _run_clean(args) -> int:
    from .clean import clean
    from .summary import print_summary
    manifest = clean(args.inputs, args.output, config_path=args.config, workers=args.workers,
                     source=args.source, text_field=args.text_field, shard_bytes=args.shard_size,
                     overwrite=args.overwrite, progress=not args.quiet)
    if not args.quiet:
        print_summary(manifest, args.output)
    return 0


def _add_steps(sub) -> None:
    p = _command(sub, "steps", "List the pipeline steps a config can use, with their options.",
                 "xiulian steps")
    p.set_defaults(run=_run_steps)


def _run_steps(args) -> int:
    from .config import _register_builtin_steps, defaults_of
    from .steps import REGISTRY
    _register_builtin_steps()
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<14} {summary}")
        for key, value in defaults_of(cls).items():
            print(f"{'':<16}{key} = {value!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xiulian", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Clean web crawls into training shards, and train a compact LLM on them.",
        epilog="example:\n  xiulian clean data/demo/demo.warc.gz -o out\n"
               "run `xiulian COMMAND --help` for each command's options")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_clean(sub)
    _add_steps(sub)
    _add_classifier(sub)
    return parser


def _add_classifier(sub) -> None:
    """`xiulian classifier train|eval` lives with the classifiers in filters/."""
    try:
        from filters.classifier_cli import add_parser
    except ImportError:
        return
    add_parser(sub, _command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        print(f"xiulian {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xiulian {args.command}: interrupted; run it again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
