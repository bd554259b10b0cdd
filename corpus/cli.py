"""The `xiulian` command line: thin shells over library functions.

Heavy modules (the trainer, torch) are imported inside the command that needs them, so
`xiulian clean` never pays for importing torch. User errors print one line and exit 2.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import os
import re
import signal
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
    """Shows defaults, but not `None` ones: an option left unset falls back to a config or
    a default its help already names."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _command(sub, name: str, help_text: str, example: str) -> argparse.ArgumentParser:
    # argparse %-formats a command's help in the list of commands ("95% intervals" broke it)
    return sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text,
                          epilog="example:\n  " + example, formatter_class=_Formatter)


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """Options every command that writes a clean output shares."""
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output folder: a path or a URI (s3://bucket/out, gs://..., file:///...)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where tasks run: processes here, or a Ray cluster")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join (default with --executor ray: start a local one)")
    p.add_argument("--shard-size", type=parse_size, default="256MB",
                   help="approximate uncompressed size of one output shard")
    p.add_argument("--overwrite", action="store_true", help="delete OUT and start over")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _add_benchmark_options(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--benchmark", action="append", metavar="PATH", required=required,
                   help="test set (JSONL/JSON/CSV/Parquet/text, .gz ok) whose items must not "
                        "appear in the output; repeat for several")
    p.add_argument("--benchmark-fields", type=lambda v: [f for f in v.split(",") if f],
                   metavar="A,B", help="only these fields of benchmark records (default: every string field)")
    p.add_argument("--holdout-from", action="append", metavar="PATH",
                   help="validation set: remove training documents that overlap it; repeat for several")


def _add_against_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--against", action="append", metavar="EARLIER_OUT",
                   help="an earlier clean output: remove exact and near duplicates of what it "
                        "kept, through its dedup index (its text is not read); repeat for several")
    p.add_argument("--shared-index", metavar="redis://HOST:PORT/NAME",
                   help="a MinHash index in Redis that many jobs share: remove near duplicates "
                        "of what it holds, then add this run's kept documents to it")


def _add_clean(sub) -> None:
    p = _command(sub, "clean", "Clean web crawls (WARC/WET, HTML, JSONL/JSON, Parquet, text) "
                 "into Parquet shards, with a ledger of every removed record.",
                 "xiulian clean crawl/*.warc.gz pages/ -o out --workers 4\n"
                 "  xiulian clean docs.jsonl.zst -o out --text-field content --config my.toml\n"
                 "  xiulian clean crawl/ -o out --benchmark gsm8k_test.jsonl --benchmark mmlu.csv.gz\n"
                 "  xiulian clean crawl-2026-02/ -o out-02 --against out-01 --against out-00")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files, directories or globs; paths or URIs (s3://, gs://, file://); a clean "
                        "output folder means its shards/")
    _add_output_options(p)
    p.add_argument("--config", metavar="FILE", help="pipeline TOML (replaces the default pipeline)")
    p.add_argument("--source", help="label for the `source` column (default: the file's stem; "
                   "HTML and text files in a folder: the folder's name)")
    p.add_argument("--text-field", default="text", help="text field of JSON/Parquet records")
    _add_benchmark_options(p)
    _add_against_option(p)
    p.set_defaults(run=_run_clean)


def _run_clean(args, config: dict | None = None) -> int:
    from .clean import clean
    from .summary import print_summary
    manifest = clean(args.inputs, args.output, config_path=getattr(args, "config", None),
                     workers=args.workers, source=getattr(args, "source", None),
                     text_field=getattr(args, "text_field", "text"), shard_bytes=args.shard_size,
                     overwrite=args.overwrite, progress=not args.quiet, config=config,
                     benchmarks=args.benchmark, benchmark_fields=args.benchmark_fields,
                     holdout_from=args.holdout_from, against=getattr(args, "against", None),
                     shared_index=getattr(args, "shared_index", None),
                     executor=args.executor, ray_address=args.ray_address,
                     command=args.command)
    if not args.quiet:
        print_summary(manifest, args.output)
    return 0


def _add_dedup(sub) -> None:
    p = _command(sub, "dedup", "Deduplicate shards cleaned earlier (exact, MinHash near-duplicates, "
                 "repeated paragraphs), with the dedup steps of the default or given config.",
                 "xiulian dedup old_run/shards other_run/shards -o deduped --workers 4")
    p.add_argument("inputs", nargs="+", metavar="SHARDS",
                   help="Parquet shards, folders or globs; a clean output folder means its shards/")
    _add_output_options(p)
    p.add_argument("--config", metavar="FILE", help="take the dedup steps from this TOML")
    _add_against_option(p)
    p.set_defaults(run=_run_dedup, benchmark=None, benchmark_fields=None, holdout_from=None)


def _run_dedup(args) -> int:
    from .config import corpus_steps_only, load_config
    return _run_clean(args, config=corpus_steps_only(load_config(args.config)))


def _add_decontam(sub) -> None:
    p = _command(sub, "decontam", "Remove documents that overlap benchmark test sets from shards "
                 "cleaned earlier; a report goes to OUT/decontam.json.",
                 "xiulian decontam run/shards --benchmark gsm8k_test.jsonl --benchmark mmlu.csv.gz -o clean")
    p.add_argument("inputs", nargs="+", metavar="SHARDS",
                   help="Parquet shards, folders or globs; a clean output folder means its shards/")
    _add_output_options(p)
    _add_benchmark_options(p)
    p.set_defaults(run=_run_decontam)


def _run_decontam(args) -> int:
    if not (args.benchmark or args.holdout_from):
        raise UserError("name at least one --benchmark or --holdout-from file")
    return _run_clean(args, config={"seed": 0, "read": {}, "steps": []})


def _add_index(sub) -> None:
    p = _command(sub, "index", "Build the dedup index of an output cleaned before outputs kept "
                 "one, so later batches can be cleaned --against it (reads its shards' text once).",
                 "xiulian index old-out && xiulian clean new-crawl/ -o new-out --against old-out")
    p.add_argument("output", metavar="OUT", help="a clean output folder (a path or a URI)")
    p.add_argument("--config", metavar="FILE",
                   help="take the dedup settings from this TOML (default: OUT's own run, "
                        "else the defaults)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")
    p.set_defaults(run=_run_index)


def _run_index(args) -> int:
    from .config import load_config
    from .dedup.index_build import build_from_shards, settings_for
    from .executors import make_executor
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    steps = settings_for(args.output, load_config(args.config) if args.config else None)
    if not args.quiet:
        print(f"index: hashing the shards of {args.output} ...", file=sys.stderr)
    runner = make_executor("local", args.workers, None)
    try:
        meta = build_from_shards(args.output, steps, runner)
    finally:
        runner.close()
    if not args.quiet:
        print(f"index: {meta['documents']:,} documents, parts {', '.join(meta['parts'])}")
    return 0


def _add_steps(sub) -> None:
    p = _command(sub, "steps", "List the pipeline steps a config can use, with their options.",
                 "xiulian steps")
    p.set_defaults(run=_run_steps)


def _run_steps(args) -> int:
    import textwrap
    from .config import _register_builtin_steps, defaults_of
    from .steps import REGISTRY
    _register_builtin_steps()
    width = max(map(len, REGISTRY)) + 2
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        # the docstring's first paragraph, whole: a description cut mid-sentence misleads
        summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        lines = textwrap.wrap(summary, 100 - width) or [""]
        print(f"{name:<{width}}{lines[0]}")
        for line in lines[1:]:
            print(f"{'':<{width}}{line}")
        for key, value in defaults_of(cls).items():
            print(f"{'':<{width + 2}}{key} = {value!r}")
    return 0


# Commands whose parsers need none of the others': `xiulian clean ...` skips importing the
# training and inspection commands (a tenth of a second of every cleaning run's start-up).
CORPUS_COMMANDS = ("clean", "dedup", "decontam", "index", "steps")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree; with `command` one of CORPUS_COMMANDS, only those commands."""
    parser = argparse.ArgumentParser(
        prog="xiulian", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Clean web crawls into training shards, and train a compact LLM on them.",
        epilog="example:\n  xiulian clean data/demo/demo.warc.gz -o out\n"
               "run `xiulian COMMAND --help` for each command's options")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_clean(sub)
    _add_dedup(sub)
    _add_decontam(sub)
    _add_index(sub)
    _add_steps(sub)
    if command in CORPUS_COMMANDS:
        return parser
    _add_classifier(sub)
    from .stats.cli import add_parsers as add_inspect_commands
    add_inspect_commands(sub, _command)  # `xiulian stats` and `xiulian show`
    from train.cli import add_parsers as add_training_commands
    add_training_commands(sub, _command)  # tokenizer, pretrain, generate, eval, export, import-hf
    return parser


def _add_classifier(sub) -> None:
    """`xiulian classifier train|eval` lives with the classifiers in filters/."""
    from filters.classifier_cli import add_parser
    add_parser(sub, _command)


def main(argv: list[str] | None = None) -> int:
    # At exit the interpreter's last collections walk every object the command loaded
    # (trafilatura, models, word lists) only to free memory the OS takes back anyway: ~0.15 s
    # of serial time at the end of a short `clean`. Frozen, they are skipped.
    atexit.register(gc.freeze)
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        print(f"xiulian {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C (and `timeout -s INT`) signals the whole process group, sometimes twice:
        # a second one must not break the shutdown below into a traceback.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"xiulian {args.command}: interrupted; run it again to resume", file=sys.stderr)
        _stop_worker_processes()
        if _pool_threads_alive():
            # A worker killed mid-write can leave a process pool's manager thread blocked for
            # good, and the interpreter joins it at exit: the command would never end. What is
            # written is resumable; leave now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        signal.signal(signal.SIGINT, previous)
        return 130


def _stop_worker_processes() -> None:
    """Terminate the worker processes still alive (they share our stdout, so a pipe reading
    it would wait on them too), then kill any that did not stop."""
    import multiprocessing
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(2)
        if child.is_alive():
            child.kill()


def _pool_threads_alive() -> bool:
    """Is a ProcessPoolExecutor's manager thread (a private class, looked up defensively) alive?"""
    import threading
    from concurrent.futures import process
    manager = getattr(process, "_ExecutorManagerThread", None)
    return manager is not None and any(isinstance(t, manager) and t.is_alive() for t in threading.enumerate())


if __name__ == "__main__":
    sys.exit(main())
