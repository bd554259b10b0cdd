#!/usr/bin/env python3
"""Chinese main-content extraction: token F1 on xmu_zh_finance_news, and what the density pass
(corpus/extraction/) costs in time on every shared web page.

Data: ../shared/data/web/html/xmu_zh_finance_news (300 pages from 10 financial news sites) and
its hand-labelled main texts in web/labels/. Scoring is the acceptance check's (chinese.sh):
per page, the multiset of letters and digits (`str.isalnum`) of the extracted text against the
gold's; precision, recall and F1 averaged over pages; an empty extraction scores 0.

Rows are the `extract` step itself (`corpus.extract.Extract`, called in one process on pages
decoded as the pipeline decodes them) with different options, plus resiliparse for reference.
The time table runs the same rows over every HTML page the pipeline finds in the shared web
data (WARCs and HTML folders, 823 pages; CPU seconds of `apply`, median of `--repeats`).

    .venv/bin/python bench/extraction_zh.py [--repeats 3] [--no-docs]
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import command, machine_line, publish, versions  # noqa: E402

from corpus.charset import decode  # noqa: E402
from corpus.document import HTML, Document  # noqa: E402
from corpus.extract import Extract  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PAGES = DATA / "web" / "html" / "xmu_zh_finance_news"
GOLD = DATA / "web" / "labels" / "xmu_zh_finance_news"
SECTION = "## Chinese extraction"
ROWS = [
    ("trafilatura alone", dict(density="none", fallback_chars=0)),
    ("trafilatura + fallback", dict(density="none")),
    ("**default**: + density pruning on CJK pages, trafilatura reading their container", {}),
    ("density pruning on every page", dict(density="all")),
    ("density pass alone", dict(backend="density")),
    ("resiliparse + fallback + pruning", dict(backend="resiliparse")),
]


def scores(text: str, gold: str) -> tuple[float, float, float]:
    pred, want = (Counter(c for c in t if c.isalnum()) for t in (text, gold))
    common = sum((pred & want).values())
    p = common / sum(pred.values()) if pred else 0.0
    r = common / sum(want.values()) if want else 0.0
    return p, r, (2 * p * r / (p + r) if common else 0.0)


def run(step: Extract, html: str, url: str | None = None) -> Document:
    doc = Document(id="p", text=html, url=url, media_type=HTML)
    step.apply(doc)
    return doc


def quality() -> list[dict]:
    pages = [(p.name[:-len(".html.gz")], decode(gzip.decompress(p.read_bytes()))[0])
             for p in sorted(PAGES.glob("*.html.gz"))]
    gold = {name: (GOLD / f"{name}.txt").read_text(encoding="utf-8") for name, _ in pages}
    out = []
    for label, options in ROWS:
        step, per_page, used = Extract(**options), [], Counter()
        for name, html in pages:
            doc = run(step, html)
            per_page.append(scores(doc.text, gold[name]))
            used[doc.metadata["extractor"]] += 1
        p, r, f = (statistics.mean(x[i] for x in per_page) for i in range(3))
        out.append({"row": label, "p": p, "r": r, "f1": f, "empty": sum(x[2] == 0 for x in per_page),
                    "used": dict(used.most_common())})
        print(f"{label}: F1 {f:.4f} P {p:.4f} R {r:.4f} {dict(used)}", file=sys.stderr)
    return out


def all_web_pages() -> list[tuple[str, str | None]]:
    from corpus.inputs import discover
    from corpus.readers import ReadOptions, read_file
    files = discover([str(DATA / "web" / "warc"), str(DATA / "web" / "html")])[0]
    return [(d.text, d.url) for f in files for d in read_file(f, ReadOptions())
            if isinstance(d, Document) and d.media_type == HTML]


def speed(repeats: int) -> tuple[int, list[dict]]:
    pages = all_web_pages()
    out = []
    for label, options in ROWS[:4]:
        step, times, used = Extract(**options), [], Counter()
        for _ in range(repeats):
            start = time.process_time()
            for html, url in pages:
                used[run(step, html, url).metadata["extractor"]] += 1
            times.append(time.process_time() - start)
        out.append({"row": label, "s": statistics.median(times),
                    "used": {k: v // repeats for k, v in used.most_common()}})
        print(f"{label}: {out[-1]['s']:.1f} s", file=sys.stderr)
    return len(pages), out


def report(rows: list[dict], n_pages: int, timing: list[dict], argv: list[str]) -> str:
    base = timing[0]["s"]
    lines = [SECTION, "",
             f"Token F1 on the 300 hand-labelled pages of xmu_zh_finance_news (scoring of "
             f"`../shared/checks/chinese.sh`: letters and digits as a multiset, per page, averaged). "
             f"Command: `{command(__file__, argv)}`; {versions(['trafilatura', 'resiliparse', 'lxml'])}; "
             f"{machine_line()}.", "",
             "| extract step | F1 | precision | recall | empty pages | extractor used (pages) |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        used = ", ".join(f"{k} {v}" for k, v in r["used"].items())
        lines.append(f"| {r['row']} | {r['f1']:.3f} | {r['p']:.3f} | {r['r']:.3f} | {r['empty']} | {used} |")
    lines += ["", f"Extraction time over every HTML page of the shared web data ({n_pages} pages: WARCs, "
              "trafilatura's pages, gne_zh, xmu; CPU seconds of the step's `apply`, one process):", "",
              "| extract step | seconds | vs trafilatura alone | extractor used (pages) |",
              "|---|---:|---:|---|"]
    for t in timing:
        used = ", ".join(f"{k} {v}" for k, v in t["used"].items())
        lines.append(f"| {t['row']} | {t['s']:.1f} | {t['s'] / base - 1:+.1%} | {used} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timing passes (median)")
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    rows = quality()
    n_pages, timing = speed(args.repeats)
    section = report(rows, n_pages, timing, argv)
    publish(SECTION, section, not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
