#!/usr/bin/env python3
"""Extraction quality of xiulian's ``extract`` step on trafilatura's labelled eval pages.

Data: ``trafilatura_eval/`` (gzip-compressed ``*.html.gz`` pages copied from
adbar/trafilatura ``tests/eval/``) and ``trafilatura_eval_snippets.json``, a dict
keyed by URL whose values carry ``file`` (page name without ``.gz``), ``with``
(snippets of main content that must be in the extracted text) and ``without``
(boilerplate snippets that must not be).

Scoring follows ``evaluate_result``/``calculate_scores`` in trafilatura's
``tests/comparison_small.py``: per page, a "with" snippet found is a true
positive, one missing a false negative; a "without" snippet absent is a true
negative, one present a false positive.  Counts are summed over all pages and
then

    precision = tp / (tp + fp)        recall   = tp / (tp + fn)
    accuracy  = (tp + tn) / all       F1       = 2tp / (2tp + fp + fn)

An empty or missing extraction (trafilatura returns ``None``; the pipeline
moves the document to ``removed/``) scores like ``""``: every "with" snippet is
a false negative, every "without" snippet a true negative.  Unlike trafilatura's
script we compare after Unicode NFC and after collapsing every run of
whitespace to one space (in both text and snippet, ends stripped); matching
stays case-sensitive.

Rows:

* ``trafilatura (direct)``: ``trafilatura.extract(html, include_tables=True)``
  on the page decoded with the charset it declares (``<meta charset>`` or the
  ``http-equiv`` Content-Type), utf-8 when it declares none, undecodable bytes
  replaced.
* ``resiliparse (direct)``: ``resiliparse.extract.html2text.extract_plain_text(
  html, main_content=True)`` on the same decoded string.
* ``xiulian extract (backend=...)``: ``xiulian clean DATA_DIR -o TMP --config
  CFG --workers N --overwrite`` with a config holding only the ``extract`` step;
  texts are read back from ``TMP/shards/*.parquet`` (matched to pages through
  the ``file`` key of the ``metadata`` JSON column).

"seconds" is extraction time summed over pages for the direct rows (one
process) and wall-clock time of the whole CLI run for the pipeline rows
(interpreter start-up, reading, parquet writing, N workers included), so the two
kinds of row are not directly comparable.

Usage (from the repository root):

    .venv/bin/python bench/extraction_quality.py            # all rows, updates docs/BENCHMARKS.md
    .venv/bin/python bench/extraction_quality.py --no-pipeline --no-docs
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from benchdocs import docs_path, machine_line, versions, write_section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path("/work/shared/data/web/html/trafilatura_eval")
DEFAULT_SNIPPETS = Path("/work/shared/data/web/html/trafilatura_eval_snippets.json")
SECTION = "## Extraction quality"

BACKENDS = ("trafilatura", "resiliparse")
# Pipeline variants: (row key, backend, extra TOML options). The default rows are keyed by
# backend (they are compared page by page with the direct calls); the others are extra rows.
PIPELINE_VARIANTS = (("trafilatura", "trafilatura", ""),
                     ("trafilatura fast=false", "trafilatura", "fast = false"),
                     ("resiliparse", "resiliparse", ""))


# --------------------------------------------------------------------------- text utils


def norm(s: str | None) -> str:
    """NFC + collapse whitespace runs to one space (ends stripped)."""
    if not s:
        return ""
    return " ".join(unicodedata.normalize("NFC", s).split())


_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I
)

# WHATWG encoding-label aliases that Python's codecs get wrong or narrower.
_WHATWG = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "l1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
    "iso-8859-9": "cp1254", "latin5": "cp1254",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "tis-620": "cp874", "iso-8859-11": "cp874",
    "ks_c_5601-1987": "euc-kr",
    "shift-jis": "shift_jis", "x-sjis": "shift_jis",
}


def declared_charset(raw: bytes) -> str | None:
    m = _META_CHARSET.search(raw[:8192]) or _META_CHARSET.search(raw)
    return m.group(1).decode("ascii", "replace").lower() if m else None


def decode_declared(raw: bytes) -> tuple[str, str]:
    """Decode with the charset the page declares; utf-8 if none / unknown."""
    label = declared_charset(raw)
    codec = "utf-8"
    if label:
        cand = _WHATWG.get(label, label)
        try:
            "".encode(cand)
            codec = cand
        except LookupError:
            codec = "utf-8"
    return raw.decode(codec, errors="replace"), codec


# --------------------------------------------------------------------------- language hint
# The eval set carries a "region" field for only part of the pages and <html lang>
# is often a CMS default ("en-US" on German WordPress sites), so the language is
# guessed from stopwords in the gold "with" snippets + title + description; when
# that is inconclusive, or the page declares a language outside this list, the
# declared <html lang> is used.  Groups under MIN_LANG_PAGES pages go to "other".

_STOP = {
    "en": "the of and to in is that for it with as was on are be this by at from have not or you",
    "de": "der die das und ist nicht ein eine zu den mit sich des auf für im dem von sie auch es "
          "wird werden bei wir ich über nach",
    "es": "el la de que y en los las del se por un una para con es su al lo como más pero sus le ya o este",
    "fr": "le la les de des et est un une du en que qui dans pour pas sur au avec il elle ce sont par plus",
    "pl": "i w nie na się z do że to jest jak o po od za dla przez jego czy ale są być jednak który która",
    "pt": "o a os as de do da dos das e em que um uma para com não no na por se mais ao é",
    "it": "il lo la gli le di del della che e è un una per con non nel sono da al alla più anche",
}
_STOP = {k: set(v.split()) for k, v in _STOP.items()}
_HTML_LANG = re.compile(rb"""<html\b[^>]*?\slang\s*=\s*["']?([A-Za-z]{2,3})""", re.I)
MIN_LANG_PAGES = 10


def language_hint(item: dict, raw: bytes) -> str:
    m = _HTML_LANG.search(raw[:20000])
    declared = m.group(1).decode().lower() if m else None
    if declared and declared not in _STOP:
        return declared
    text = " ".join(list(item.get("with", [])) + [item.get("title") or "", item.get("description") or ""])
    words = re.findall(r"[^\W\d_]+", text.lower())
    scores = {k: sum(w in s for w in words) for k, s in _STOP.items()}
    ranked = sorted(scores.values(), reverse=True)
    best = max(scores, key=scores.get)
    if scores[best] >= 2 and scores[best] > ranked[1]:
        return best
    return declared or "unknown"


# --------------------------------------------------------------------------- scoring


def score_page(text: str | None, item: dict) -> tuple[int, int, int, int, list, list]:
    """Return tp, fn, fp, tn, missed-with snippets, leaked-without snippets."""
    t = norm(text)
    tp = fn = fp = tn = 0
    missed, leaked = [], []
    for s in item["with"]:
        if norm(s) in t:
            tp += 1
        else:
            fn += 1
            missed.append(s)
    for s in item["without"]:
        if norm(s) in t:
            fp += 1
            leaked.append(s)
        else:
            tn += 1
    return tp, fn, fp, tn, missed, leaked


def metrics(c: Counter) -> dict:
    tp, fn, fp, tn = c["tp"], c["fn"], c["fp"], c["tn"]
    div = lambda a, b: a / b if b else float("nan")  # noqa: E731
    return {
        "precision": div(tp, tp + fp),
        "recall": div(tp, tp + fn),
        "accuracy": div(tp + tn, tp + tn + fp + fn),
        "f1": div(2 * tp, 2 * tp + fp + fn),
    }


# --------------------------------------------------------------------------- extractors


def run_direct(name: str, pages: dict[str, bytes]) -> tuple[dict[str, str], float]:
    if name == "trafilatura":
        import trafilatura

        def fn(h):
            return trafilatura.extract(h, include_tables=True)
    else:
        from resiliparse.extract.html2text import extract_plain_text

        def fn(h):
            return extract_plain_text(h, main_content=True)

    out, total = {}, 0.0
    for f, raw in pages.items():
        t0 = time.perf_counter()
        html, _ = decode_declared(raw)
        try:
            out[f] = fn(html) or ""
        except Exception as e:  # a crash counts as an empty extraction
            print(f"  {name} direct failed on {f}: {e!r}", file=sys.stderr)
            out[f] = ""
        total += time.perf_counter() - t0
    return out, total


def _meta(meta) -> dict:
    if isinstance(meta, (bytes, str)):
        try:
            meta = json.loads(meta)
        except ValueError:
            return {}
    return meta if isinstance(meta, dict) else {}


def _meta_file(meta) -> str | None:
    return _meta(meta).get("file")


def _page_key(path: str | None) -> str | None:
    """'sub/foo.html.gz' -> 'foo.html' (the snippets' "file" value)."""
    if not path:
        return None
    base = os.path.basename(str(path))
    return base[:-3] if base.endswith(".gz") else base


def run_pipeline(backend: str, xiulian: Path, data: Path, workers: int, workdir: Path,
                 labelled: set[str], options: str = "") -> tuple[dict[str, str], float, dict, list[str]]:
    import pyarrow.parquet as pq

    tag = f"{backend}-{abs(hash(options))}" if options else backend
    cfg = workdir / f"extract-{tag}.toml"
    cfg.write_text(f'[[steps]]\nuse = "extract"\nbackend = "{backend}"\n{options}\n')
    out = workdir / f"out-{tag}"
    cmd = [str(xiulian), "clean", str(data), "-o", str(out), "--config", str(cfg),
           "--workers", str(workers), "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"xiulian clean failed (rc={proc.returncode}): {shlex.join(cmd)}")

    texts: dict[str, str] = {}
    codecs_used: dict[str, str] = {}
    dupes = 0
    for p in sorted((out / "shards").glob("*.parquet")):
        tbl = pq.read_table(p)
        cols = tbl.column_names
        metas = tbl.column("metadata").to_pylist() if "metadata" in cols else [None] * tbl.num_rows
        txts = tbl.column("text").to_pylist()
        for meta, txt in zip(metas, txts):
            meta = _meta(meta)
            key = _page_key(meta.get("file"))
            if key is None:
                continue
            if key in texts:
                dupes += 1
            texts[key] = txt or ""
            if meta.get("charset"):
                codecs_used[key] = str(meta["charset"])
    # removed/ rows carry no file path for file inputs; match them back through the
    # reader's document id, xxh3_128("{source}/{relative path}#0") (best effort: a page
    # that cannot be matched is reported as "not in shards/").
    try:
        import xxhash
        id_of = lambda source, f: xxhash.xxh3_128_hexdigest(f"{source}/{f}.gz#0".encode())  # noqa: E731
    except ImportError:
        id_of = None
    removed: dict[str, str] = {}
    n_removed_rows = 0
    for p in sorted((out / "removed").glob("*.parquet")) if (out / "removed").is_dir() else []:
        rows = pq.read_table(p, columns=["id", "url", "source", "step", "reason"]).to_pylist()
        n_removed_rows += len(rows)
        by_id = {r["id"]: r for r in rows}
        sources = {r["source"] for r in rows}
        for f in labelled:
            for r in ([by_id.get(id_of(src, f)) for src in sources] if id_of else []) + \
                     [r for r in rows if _page_key(r.get("url")) == f]:
                if r is not None:
                    removed[f] = f'{r.get("step")}: {r.get("reason")}'
    stats = {
        "kept": sum(1 for f in labelled if f in texts),
        "removed": sum(1 for f in labelled if f not in texts and f in removed),
        "missing": sum(1 for f in labelled if f not in texts and f not in removed),
        "removed_rows": n_removed_rows,
        "removed_map": removed,
        "codecs": codecs_used,
        "duplicate_keys": dupes,
        "removed_reasons": Counter(removed[f] for f in labelled if f not in texts and f in removed),
    }
    return texts, wall, stats, cmd


# --------------------------------------------------------------------------- reporting


def extract_options() -> str:
    """Keyword options corpus/extract.py passes that differ from the libraries' defaults."""
    try:
        import inspect

        import corpus.extract as ce
    except Exception:
        return ""
    found = []
    for fn_name, lib, checks in (
        ("_trafilatura", "trafilatura", ("include_comments=False",)),
        ("_resiliparse", "resiliparse", ("alt_texts=False",)),
    ):
        try:
            src = inspect.getsource(getattr(ce, fn_name))
        except Exception:
            continue
        hits = [c for c in checks if c in src]
        if hits:
            found.append(f"{lib}: `{'`, `'.join(hits)}`")
    return "; ".join(found)



def fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def main_table(rows: list[dict]) -> str:
    lines = ["| extractor | pages | precision | recall | accuracy | F1 | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['name']} | {r['pages']} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
                     f"{fmt(m['accuracy'])} | {fmt(m['f1'])} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def lang_table(rows: list[dict], langs: dict[str, str]) -> str:
    count = Counter(langs.values())
    groups = [l for l, n in count.most_common() if n >= MIN_LANG_PAGES and l != "unknown"]
    group_of = {f: (l if l in groups else "other") for f, l in langs.items()}
    cols = groups + (["other"] if any(g == "other" for g in group_of.values()) else [])
    sizes = Counter(group_of.values())
    lines = ["| extractor | " + " | ".join(f"{c} ({sizes[c]})" for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for r in rows:
        per = defaultdict(Counter)
        for f, c in r["per_page"].items():
            per[group_of[f]].update(c)
        lines.append(f"| {r['name']} | " + " | ".join(fmt(metrics(per[c])["f1"]) for c in cols) + " |")
    return "\n".join(lines)


def _norm_codec(name: str | None) -> str | None:
    if not name:
        return None
    import codecs
    try:
        return codecs.lookup(_WHATWG.get(name.lower(), name)).name
    except LookupError:
        return name.lower()


def rerun_with_pipeline_options(backend: str, raw: bytes) -> tuple[str | None, str]:
    """The direct call again, with the options corpus/extract.py sets (see extract_options)."""
    html, _ = decode_declared(raw)
    opts = extract_options()
    if backend == "trafilatura" and "include_comments=False" in opts:
        import trafilatura
        return trafilatura.extract(html, include_tables=True, include_comments=False) or "", \
            "include_comments=False"
    if backend == "resiliparse" and "alt_texts=False" in opts:
        from resiliparse.extract.html2text import extract_plain_text
        return extract_plain_text(html, main_content=True, alt_texts=False), "alt_texts=False"
    return None, ""


def page_diffs(backend: str, pipe: dict, direct: dict, details: dict, pages_raw: dict,
               by_file: dict, codecs_used: dict) -> list[str]:
    """Pages where the pipeline row scores worse than the direct library row, with a diagnosis."""
    out = []
    for f in sorted(pipe["per_page"]):
        a, b = pipe["per_page"][f], direct["per_page"][f]
        if not (a["tp"] < b["tp"] or a["fp"] > b["fp"]):
            continue
        ptxt, dtxt = pipe["texts"].get(f, ""), direct["texts"].get(f, "")
        declared = declared_charset(pages_raw[f])
        _, direct_codec = decode_declared(pages_raw[f])
        why = []
        if f not in pipe["texts"]:
            why.append(pipe["fate"].get(f, "not in shards/"))
        used = codecs_used.get(f)
        if used and _norm_codec(used) != _norm_codec(direct_codec):
            why.append(f"pipeline decoded the page as {used}, the page declares {declared or 'nothing'}")
        if ptxt.count("\ufffd") > dtxt.count("\ufffd"):
            why.append(f"{ptxt.count(chr(0xfffd))} U+FFFD in pipeline text")
        if re.search("[ÃÂÅÄ][\u0080-\u00bf]", ptxt) and not re.search("[ÃÂÅÄ][\u0080-\u00bf]", dtxt):
            why.append("text shows UTF-8-read-as-cp1252 mojibake")
        if not why:
            again, opt = rerun_with_pipeline_options(backend, pages_raw[f])
            if again is not None and score_page(again, by_file[f])[:4] == (a["tp"], a["fn"], a["fp"], a["tn"]):
                why.append(f"the direct call with the pipeline's `{opt}` scores the same: "
                           "an option choice, not a bug")
        d = details[pipe["name"]][f]
        out.append(f"- `{f}` (declares {declared or 'no charset'}): TP {a['tp']} vs {b['tp']}, "
                   f"FP {a['fp']} vs {b['fp']}; {len(ptxt)} vs {len(dtxt)} chars"
                   + (f"; missed {d['missed']}" if d["missed"] else "")
                   + (f" [{'; '.join(why)}]" if why else ""))
    return out


def update_docs(path: Path | None, body: str) -> None:
    """Replace (or append) the '## Extraction quality' section, leaving others alone."""
    write_section(SECTION, f"{SECTION}\n\n{body.strip()}\n", path)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of *.html.gz pages")
    ap.add_argument("--snippets", type=Path, default=DEFAULT_SNIPPETS)
    ap.add_argument("--xiulian", type=Path, default=Path(sys.executable).parent / "xiulian",
                    help="xiulian CLI (default: next to this interpreter)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-direct", action="store_true", help="skip the direct-library rows")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the xiulian CLI rows")
    ap.add_argument("--docs", type=Path, help="file to update (default: docs/BENCHMARKS.md, or $XIULIAN_BENCH_DOCS)")
    ap.add_argument("--no-docs", action="store_true", help="do not touch docs/BENCHMARKS.md")
    ap.add_argument("--details", type=Path, help="write per-page scores and texts as JSON here")
    ap.add_argument("--keep", type=Path, help="keep pipeline output under this directory")
    args = ap.parse_args(argv)

    items = json.loads(args.snippets.read_text(encoding="utf-8"))
    by_file = {}
    for url, item in items.items():
        if item.get("file"):
            by_file[item["file"]] = dict(item, url=url)
    pages_raw = {}
    for f in sorted(by_file):
        p = args.data / (f + ".gz")
        if not p.exists():
            print(f"warning: {p} missing, page skipped", file=sys.stderr)
            continue
        pages_raw[f] = gzip.decompress(p.read_bytes())
    labelled = set(pages_raw)
    n_files = len(list(args.data.glob("*.html.gz")))
    print(f"{len(labelled)} labelled pages ({n_files} .html.gz files in {args.data})", file=sys.stderr)
    langs = {f: language_hint(by_file[f], pages_raw[f]) for f in labelled}

    rows, details, notes = [], {}, []

    def add_row(name, texts, seconds, fate=None):
        per_page, det = {}, {}
        total = Counter()
        for f in sorted(labelled):
            tp, fn, fp, tn, missed, leaked = score_page(texts.get(f), by_file[f])
            c = Counter(tp=tp, fn=fn, fp=fp, tn=tn)
            per_page[f] = c
            total.update(c)
            det[f] = {"tp": tp, "fn": fn, "fp": fp, "tn": tn, "missed": missed, "leaked": leaked,
                      "lang": langs[f], "chars": len(texts.get(f) or "")}
        row = {"name": name, "pages": len(labelled), "metrics": metrics(total), "counts": total,
               "seconds": seconds, "per_page": per_page, "texts": texts, "fate": fate or {}}
        rows.append(row)
        details[name] = det
        m = row["metrics"]
        print(f"{name:40s} P={fmt(m['precision'])} R={fmt(m['recall'])} A={fmt(m['accuracy'])} "
              f"F1={fmt(m['f1'])} {seconds:.1f}s  {dict(total)}", file=sys.stderr)
        return row

    # null hypothesis: extract nothing (as in trafilatura's script)
    add_row("(nothing: empty output)", {}, 0.0)

    direct_rows = {}
    if not args.no_direct:
        for b in BACKENDS:
            texts, secs = run_direct(b, pages_raw)
            direct_rows[b] = add_row(f"{b} (direct)", texts, secs)

    pipe_rows, pipe_cmd, pipe_codecs = {}, None, {}
    if not args.no_pipeline:
        if not args.xiulian.exists():
            raise SystemExit(f"{args.xiulian} not found (use --no-pipeline for the direct rows only)")
        workdir = Path(tempfile.mkdtemp(prefix="xiulian-extraction-quality-"))
        try:
            for b, backend, options in PIPELINE_VARIANTS:
                texts, wall, stats, cmd = run_pipeline(backend, args.xiulian, args.data, args.workers,
                                                       workdir, labelled, options)
                pipe_cmd = cmd
                fate = {f: (f"removed ({stats['removed_map'][f]})" if f in stats["removed_map"]
                            else "not in shards/") for f in labelled - set(texts)}
                name = f"xiulian extract (backend={backend}{', ' + options if options else ''})"
                pipe_rows[b] = add_row(name, texts, wall, fate)
                pipe_codecs[b] = stats["codecs"]
                msg = (f"{name}: {stats['kept']} labelled pages kept, {stats['removed']} removed"
                       + (f" ({', '.join(f'{k} x{v}' for k, v in stats['removed_reasons'].items())})"
                          if stats["removed"] else "")
                       + (f", {stats['missing']} neither in shards/ nor matched in removed/ "
                          f"({stats['removed_rows']} rows there)" if stats["missing"] else "")
                       + (f", {stats['duplicate_keys']} duplicate file keys" if stats["duplicate_keys"] else ""))
                notes.append(msg)
                print(msg, file=sys.stderr)
        finally:
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for p in workdir.iterdir():
                    dest = args.keep / p.name
                    if dest.exists():
                        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
                    shutil.move(str(p), dest)
            shutil.rmtree(workdir, ignore_errors=True)

    # ---- report
    diffs = {}
    for b in BACKENDS:
        if b in pipe_rows and b in direct_rows:
            diffs[b] = page_diffs(b, pipe_rows[b], direct_rows[b], details, pages_raw, by_file,
                                  pipe_codecs.get(b, {}))

    table = main_table(rows)
    ltable = lang_table(rows, langs)
    this_cmd = ".venv/bin/python bench/extraction_quality.py" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:]) else "")
    def span(key):
        n = [len(by_file[f][key]) for f in labelled]
        return f"{min(n)}-{max(n)}"

    body = [
        f"Main-content extraction on the {len(labelled)} labelled pages of trafilatura's evaluation set "
        f"(`trafilatura_eval/`, {n_files} `.html.gz` pages from adbar/trafilatura `tests/eval/`, labels in "
        f"`trafilatura_eval_snippets.json`). Each page has {span('with')} \"with\" snippets (main content that "
        f"must be extracted) and {span('without')} \"without\" snippets (boilerplate that must not); "
        f"{sum(len(by_file[f]['with']) for f in labelled)} and "
        f"{sum(len(by_file[f]['without']) for f in labelled)} in all. Scoring as in trafilatura's "
        "`tests/comparison_small.py`: \"with\" found = TP, missing = FN; \"without\" present = FP, absent = TN; "
        "counts summed over pages; F1 = 2TP/(2TP+FP+FN). Snippet and text are NFC-normalised and "
        "whitespace-collapsed before a case-sensitive substring test. An empty extraction (trafilatura "
        "returns None, or the pipeline moves the page to `removed/`) misses every \"with\" snippet.",
        "",
        f"Command: `{this_cmd}`",
        "",
        table,
        "",
        "- *direct* rows call the library on the page decoded with its declared charset (utf-8 if none): "
        "`trafilatura.extract(html, include_tables=True)` and "
        "`resiliparse.extract.html2text.extract_plain_text(html, main_content=True)`; "
        "*seconds* = extraction time summed over pages, one process.",
    ]
    if pipe_cmd:
        shown = [Path(pipe_cmd[0]).name, "clean", "DATA_DIR", "-o", "OUT", "--config", "CFG.toml",
                 "--workers", str(args.workers), "--overwrite"]
        body.append(
            f"- *xiulian* rows run `{' '.join(shown)}` with a config holding only "
            "`[[steps]] use = \"extract\"` and the given `backend`; *seconds* = wall clock of the whole CLI "
            "run (start-up, reading, parquet writing included), so not comparable one-to-one with the "
            "direct rows.")
        for n in notes:
            body.append(f"- {n}.")
        opts = extract_options()
        if opts:
            body.append(f"- Options the pipeline passes that differ from the direct calls' defaults: {opts}.")
    body.append("- *(nothing)* is the empty-output baseline: it scores every \"without\" snippet as TN.")
    body.append(f"- Versions: {versions(['trafilatura', 'resiliparse'])}.")
    body.append(f"- Machine: {machine_line()}.")
    body += [
        "",
        "F1 by page language (heuristic: stopwords in each page's gold snippets/title, else the page's "
        f"`<html lang>`; groups under {MIN_LANG_PAGES} pages and undetermined pages pooled as *other*; page counts in brackets):",
        "",
        ltable,
    ]
    for b, d in diffs.items():
        pr, dr = pipe_rows[b]["per_page"], direct_rows[b]["per_page"]
        better = sum(1 for f in pr if (pr[f]["tp"] >= dr[f]["tp"] and pr[f]["fp"] <= dr[f]["fp"])
                     and (pr[f]["tp"], pr[f]["fp"]) != (dr[f]["tp"], dr[f]["fp"]))
        body += ["", f"`xiulian extract (backend={b})` vs `{b} (direct)`: {better} pages better, "
                 f"{len(d)} worse (fewer TP or more FP)" + (":" if d else ".")]
        if d:
            body += [""] + d
    report = "\n".join(body)
    print(report)

    if args.details:
        args.details.write_text(json.dumps({"langs": langs, "pages": details,
                                            "texts": {r["name"]: r["texts"] for r in rows}},
                                           ensure_ascii=False, indent=1), encoding="utf-8")
    if not args.no_docs:
        update_docs(args.docs, report)
        print(f"updated {args.docs or docs_path()} ({SECTION})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
