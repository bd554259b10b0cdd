"""Where the default pipeline's steps stand, measured: language before extraction, and the
per-document filters ordered by cost per removed document.

    .venv/bin/python bench/pipeline_order.py            # ~2 minutes on 2 cores
    .venv/bin/python bench/pipeline_order.py --no-docs  # print only

1. Language before extraction. Every HTML page of ../shared/data/web (html/*, warc/*) goes
   through the default per-document steps twice, in one process: as shipped (the language
   step screens each page on a cheap text view before trafilatura runs) and with
   `before_extract = false` (language identified on trafilatura's text only, the order
   before). Reported: pages whose keep/drop decision differs, each one explained, the pages
   that skipped trafilatura and the time per page of each order.
2. Cost per removed document. Each per-document filter after `language` runs alone on every
   document that reaches that point (the web pages' extracted text, plus c4_demo and the
   CCNet samples as plain text): its time per document, the share it removes, and time per
   removed document. Cheap steps that remove much go first; a step that edits the text (c4
   drops lines, pii rewrites) keeps its place relative to the steps that judge that text.
Writes the "## Pipeline order" section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))

from benchdocs import command, machine_line, versions, write_section  # noqa: E402
from corpus.config import build_steps, load_config  # noqa: E402
from corpus.corpus_steps import CorpusStep  # noqa: E402
from corpus.document import HTML, Document  # noqa: E402
from corpus.html_view import text_view  # noqa: E402
from corpus.inputs import discover  # noqa: E402
from corpus.pipeline import Pipeline  # noqa: E402
from corpus.readers import ReadOptions, read_file  # noqa: E402
from filters.language import identify  # noqa: E402

SECTION = "## Pipeline order"
WEB = ["web/html/gne_zh", "web/html/trafilatura_cache", "web/html/trafilatura_eval",
       "web/html/xmu_zh_finance_news", "web/warc"]
TEXT = ["text/c4_demo.jsonl", "web/ccnet"]
EDITS_TEXT = {"c4", "pii"}  # steps that change the text later steps judge


def documents(paths: list[str]) -> list[Document]:
    files, _, _ = discover([str(DATA / p) for p in paths])
    return [d for f in files for d in read_file(f, ReadOptions()) if isinstance(d, Document)]


def pipeline(before_extract: bool) -> Pipeline:
    config = load_config(None)
    for spec in config["steps"]:
        if spec["use"] == "language":
            spec["before_extract"] = before_extract
    steps = Pipeline(build_steps(config))
    steps.setup()
    return steps


def language_first(pages: list[Document]) -> dict:
    """Both orders page by page, alternating which goes first, so load on this shared machine
    falls on both alike."""
    orders = {"language first": pipeline(True), "extract first": pipeline(False)}
    seconds = dict.fromkeys(orders, 0.0)
    verdicts = {name: [] for name in orders}
    extracted = []
    for i, page in enumerate(pages):
        for name in (list(orders) if i % 2 == 0 else list(orders)[::-1]):
            doc = copy.deepcopy(page)
            t0 = time.perf_counter()
            verdicts[name].append(orders[name].run(doc))
            seconds[name] += time.perf_counter() - t0
            if name == "extract first":
                extracted.append(doc)
    early, late = verdicts["language first"], verdicts["extract first"]
    differ = []
    for page, a, b, done in zip(pages, early, late, extracted):
        if (a is None) != (b is None):
            view_lang, view_score = identify(text_view(page.text))
            differ.append({"page": page.metadata.get("file", page.url), "url": page.url,
                           "view": f"{view_lang} {view_score:.2f}",
                           "extracted": f"{done.language} {done.language_score or 0:.2f}",
                           "shipped": a, "before": b})
    # removed on the view: the language step removed it, and today's order reached extraction
    skipped = sum(1 for a, b in zip(early, late) if a == ("language", "other_language")
                  and (b is None or b[0] not in ("url_blocklist", "consent")))
    return {"pages": len(pages), "agree": len(pages) - len(differ), "differ": differ,
            "seconds": seconds, "skipped_extraction": skipped}


def cost_order(costs: list[dict], names: list[str]) -> list[str]:
    """Cheapest per removed document first, among the steps between two that edit the text:
    a step that edits keeps its place, so every step judges the text it judged before."""
    by_name = {c["step"]: c for c in costs}
    order, run = [], []
    for name in names:
        if name not in by_name:
            continue
        if by_name[name]["edits"]:
            order += sorted(run, key=lambda n: by_name[n]["ms_per_removed"]) + [name]
            run = []
        else:
            run.append(name)
    return order + sorted(run, key=lambda n: by_name[n]["ms_per_removed"])


def step_costs(docs: list[Document]) -> list[dict]:
    """Each per-document filter after `language`, alone, on every document."""
    config = load_config(None)
    names = [s["use"] for s in config["steps"]]
    after = names[names.index("language") + 1:]
    steps = [s for s in build_steps(config) if s.name in after and not isinstance(s, CorpusStep)]
    rows = []
    for step in steps:
        step.setup()
        copies = [copy.deepcopy(d) for d in docs]
        removed = 0
        t0 = time.perf_counter()
        for d in copies:
            removed += step.apply(d) is not None
        seconds = time.perf_counter() - t0
        rows.append({"step": step.name, "ms_per_doc": 1000 * seconds / len(docs),
                     "removed": removed, "share": removed / len(docs),
                     "ms_per_removed": 1000 * seconds / removed if removed else float("inf"),
                     "edits": step.name in EDITS_TEXT})
    return rows


def reached_filters(pages: list[Document], text_docs: list[Document]) -> list[Document]:
    """Documents as they reach the first filter after `language`."""
    steps = pipeline(False)
    cut = [s.name for s in steps.steps].index("language") + 1
    head = Pipeline(steps.steps[:cut])
    out = []
    for d in [copy.deepcopy(p) for p in pages] + [copy.deepcopy(t) for t in text_docs]:
        if head.run(d) is None:
            out.append(d)
    return out


def report(lang: dict, costs: list[dict], n_docs: int, order: list[str]) -> str:
    t = lang["seconds"]
    lines = [SECTION, "",
             f"Measured by `{command(__file__)}`; {versions(['trafilatura', 'resiliparse', 'fasttext-wheel'])}; "
             f"{machine_line()}. One process, the default config's per-document steps.", "",
             "**Language before extraction.** "
             f"{lang['pages']} HTML pages of `../shared/data/web` (html/* and the WARCs' responses). "
             f"Same keep/drop decision in both orders: {lang['agree']} of {lang['pages']} "
             f"({100 * lang['agree'] / lang['pages']:.2f}%). Pages removed on the cheap view, "
             f"without trafilatura: {lang['skipped_extraction']}. Time for all pages: "
             f"language first {t['language first']:.1f} s, extract first {t['extract first']:.1f} s "
             f"({t['extract first'] / t['language first']:.2f}x).", ""]
    if lang["differ"]:
        lines += ["| page | cheap view | extracted text | shipped order | extract first |",
                  "|---|---|---|---|---|"]
        for d in lang["differ"]:
            lines.append(f"| `{d['page']}` | {d['view']} | {d['extracted']} | "
                         f"{':'.join(d['shipped']) if d['shipped'] else 'kept'} | "
                         f"{':'.join(d['before']) if d['before'] else 'kept'} |")
        lines += ["", "Why each differs: docs/pipeline.md, \"Language before extraction\".", ""]
    lines += [f"**Cost per removed document.** Each filter after `language` alone on the "
              f"{n_docs} documents that reach it (the web pages' extracted text, c4_demo, the "
              "CCNet samples).", "",
              "| step | ms per document | removes | ms per removed document | edits text |",
              "|---|---:|---:|---:|---|"]
    for r in sorted(costs, key=lambda r: r["ms_per_removed"]):
        per_removed = f"{r['ms_per_removed']:.2f}" if r["removed"] else "— (removes none)"
        lines.append(f"| `{r['step']}` | {r['ms_per_doc']:.3f} | {r['removed']} "
                     f"({100 * r['share']:.1f}%) | {per_removed} | {'yes' if r['edits'] else ''} |")
    best = cost_order(costs, order)
    lines += ["", f"Shipped order after `language`: {' → '.join(f'`{s}`' for s in order)}"
              + (" (the cost order)." if best == order else
                 f"; the cost order would be {' → '.join(f'`{s}`' for s in best)}."),
              "Steps that edit the text keep their place: `fineweb_quality` judges the lines "
              "`c4` leaves (FineWeb's order), so it stays after `c4` whatever its cost.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-docs", action="store_true", help="print only")
    args = ap.parse_args(argv)
    pages = [d for d in documents(WEB) if d.media_type == HTML]
    lang = language_first(pages)
    print(json.dumps({k: v for k, v in lang.items()}, indent=1, default=str))
    docs = reached_filters(pages, documents(TEXT))
    costs = step_costs(docs)
    names = [s["use"] for s in load_config(None)["steps"]]
    order = [n for n in names[names.index("language") + 1:] if n in {c["step"] for c in costs}]
    section = report(lang, costs, len(docs), order)
    print(section)
    if not args.no_docs:
        write_section(SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
