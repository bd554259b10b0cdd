"""datatrove side of ``bench/pipeline_vs_datatrove.py``.

Runs inside the separate datatrove venv (``bench/.venv-datatrove``), never in
xiulian's own venv, because datatrove's pins conflict with ours.

Pipeline (one datatrove task per worker, files split round-robin across ranks):

    HtmlGzReader  ->  datatrove.pipeline.extractors.Trafilatura()  ->  ParquetWriter

* ``HtmlGzReader`` is a ``BaseDiskReader`` that yields one ``Document`` per
  ``*.html.gz`` file. The bytes are decoded exactly the way datatrove's own
  ``WarcReader`` (``datatrove/pipeline/readers/warc.py::process_record``) does:
  try UTF-8, on failure ask ``cchardet`` for the encoding and retry, and drop
  the page when that fails too.
* ``Trafilatura()`` is used with its defaults (favour_precision=True,
  deduplicate=True, timeout=1 s per document in a forked sandbox process);
  ``--settings matched`` passes xiulian's trafilatura options instead (same
  timeout and sandbox), to separate framework cost from extractor options.
* ``ParquetWriter`` with its defaults (snappy, ``${rank}.parquet``).

Usage:
    bench/.venv-datatrove/bin/python bench/datatrove_html.py INPUT... -o OUT --workers N [--settings matched [--fast]]

INPUT is a folder (searched recursively for ``*.html.gz``) or a ``.html.gz``
file. OUT must not exist or be empty: datatrove skips ranks it already
completed in its logging folder, so a reused folder would measure nothing.

Prints one JSON line on stdout:
    {"docs": <pages read>, "kept": <docs written>, "seconds": <in-process wall
     time from before the datatrove imports to the end>, "pipeline_seconds": <time
     inside executor.run()>, "import_seconds": ..., "timeouts": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

T0 = time.perf_counter()


# The trafilatura options of xiulian's extract step (corpus/extract.py), spelled for the
# trafilatura 1.x that datatrove[processing] pins (<1.12: `no_fallback` instead of `fast`;
# set from --fast). include_comments=False is hard-coded by datatrove's Trafilatura step,
# as in xiulian.
MATCHED = dict(
    favour_precision=False,
    deduplicate=False,
    include_tables=True,
    include_links=False,
    output_format="txt",
)


def collect_files(inputs: list[str]) -> tuple[str, list[str]]:
    """Return (common root folder, sorted paths relative to it) of all .html.gz inputs."""
    files: list[str] = []
    for inp in inputs:
        inp = os.path.abspath(inp)
        if os.path.isdir(inp):
            for dirpath, _dirnames, filenames in os.walk(inp):
                files.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(".html.gz"))
        elif inp.endswith(".html.gz"):
            files.append(inp)
        else:
            raise SystemExit(f"not a folder or .html.gz file: {inp}")
    if not files:
        raise SystemExit("no .html.gz files found")
    files = sorted(set(files))
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    return root, [os.path.relpath(f, root) for f in files]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("-o", "--output", required=True, help="output folder (parquet in OUT/data, logs in OUT/logs)")
    ap.add_argument("--workers", type=int, default=1, help="tasks = workers = N")
    ap.add_argument(
        "--settings", choices=["default", "matched"], default="default",
        help="default: Trafilatura() as datatrove ships it (favour_precision=True, deduplicate=True); "
        "matched: the options xiulian's extract step passes (favour_precision=False, deduplicate=False, "
        "include_tables=True, include_links=False; fallback extractors as --fast says)",
    )
    ap.add_argument("--fast", action="store_true",
                    help="with --settings matched: no_fallback=True, i.e. xiulian's `fast = true` "
                    "(skip trafilatura's readability/jusText fallbacks)")
    args = ap.parse_args(argv)

    root, rel_files = collect_files(args.inputs)
    out = os.path.abspath(args.output)
    if os.path.isdir(out) and os.listdir(out):
        raise SystemExit(f"output folder {out} is not empty (datatrove would skip completed ranks)")
    os.makedirs(out, exist_ok=True)
    paths_file = os.path.join(out, "paths.txt")
    with open(paths_file, "w") as f:
        f.write("\n".join(rel_files) + "\n")

    t_imp = time.perf_counter()
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers.base import BaseDiskReader
    from datatrove.pipeline.writers import ParquetWriter

    import_seconds = time.perf_counter() - t_imp

    class HtmlGzReader(BaseDiskReader):
        """One Document per gzip-compressed HTML page, decoded like WarcReader does."""

        name = "🌐 HtmlGz"
        _requires_dependencies = [("cchardet", "faust-cchardet")]

        def read_file(self, filepath: str):
            import cchardet

            with self.data_folder.open(filepath, "rb", compression="gzip") as f:
                content_bytes = f.read()
            with self.track_time():
                # --- same decoding as datatrove.pipeline.readers.warc.process_record ---
                charset = "UTF-8"
                try:
                    html = content_bytes.decode(charset)
                except UnicodeDecodeError:
                    encoding_det = cchardet.detect(content_bytes)["encoding"]
                    if not encoding_det or encoding_det == charset:
                        self.stat_update("undecodable")
                        return
                    charset = encoding_det
                    try:
                        html = content_bytes.decode(charset)
                    except (UnicodeDecodeError, LookupError):
                        self.stat_update("undecodable")
                        return
                document = self.get_document_from_dict({"text": html, "id": filepath}, filepath, 0)
            if document:
                yield document

    executor = LocalPipelineExecutor(
        pipeline=[
            HtmlGzReader(root, paths_file=paths_file),
            Trafilatura() if args.settings == "default" else Trafilatura(**MATCHED, no_fallback=args.fast),
            ParquetWriter(os.path.join(out, "data")),
        ],
        tasks=args.workers,
        workers=args.workers,
        logging_dir=os.path.join(out, "logs"),
    )
    t_run = time.perf_counter()
    stats = executor.run()
    pipeline_seconds = time.perf_counter() - t_run

    # stats.json merged over all ranks: one entry per pipeline step
    with open(os.path.join(out, "logs", "stats.json")) as f:
        steps = json.load(f)

    def stat(step_idx: int, key: str) -> int:
        v = steps[step_idx]["stats"].get(key, 0)
        return int(v["total"] if isinstance(v, dict) else v)

    result = {
        "docs": len(rel_files),  # pages read (same definition as xiulian's counts.read)
        "decoded": stat(0, "documents"),
        "extracted": stat(1, "extracted"),
        "kept": stat(2, "total"),
        "timeouts": stat(1, "timeout"),
        "errors": stat(1, "clean_error") + stat(1, "broken_process"),
        "seconds": round(time.perf_counter() - T0, 4),
        "pipeline_seconds": round(pipeline_seconds, 4),
        "import_seconds": round(import_seconds, 4),
        "workers": args.workers,
        "settings": args.settings + (" fast" if args.settings == "matched" and args.fast else ""),
    }
    del stats
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
