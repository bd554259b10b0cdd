"""`xiulian stats` in the terminal: the stats dict as rich tables, one per section.

Sections with nothing to say (no tiers, no dedup report) are left out; `--json` and the
HTML report always carry every section.
"""
from __future__ import annotations

import re

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

TOP_ROWS = 15
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def terminal_safe(value) -> str:
    """Text from the web with control characters spelled out: an ESC must not drive the terminal."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
SPARK = " ▁▂▃▄▅▆▇█"


def _n(value) -> str:
    return "–" if value is None else f"{value:,}"


def _pct(part, whole) -> str:
    return "–" if not whole or part is None else f"{part / whole:.1%}"


def _short(value) -> str:
    """A count in at most 5 characters: 9876, 12.3k, 4.5M."""
    if value is None:
        return "–"
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= limit:
            return f"{value / (limit if unit != 'k' else 1e3):.1f}{unit}"
    return f"{value:.0f}"


def _num(value) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def sparkline(counts: list[int], width: int = 20) -> str:
    """Bar heights of a histogram as block characters, neighbouring bins merged to fit `width`."""
    step = max(1, -(-len(counts) // width))
    counts = [sum(counts[i:i + step]) for i in range(0, len(counts), step)]
    peak = max(counts, default=0)
    if not peak:
        return ""
    return "".join(SPARK[0 if c == 0 else max(1, round(c / peak * (len(SPARK) - 1)))] for c in counts)


def _table(title: str, *columns: str, right: tuple[int, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for i, column in enumerate(columns):
        spark = column.startswith("histogram")
        table.add_column(column, justify="right" if i in right else "left",
                         no_wrap=spark, overflow="crop" if spark else "fold")
    return table


def _keep_numbers_whole(table: Table) -> Table:
    """Numbers and short labels never shrink; long text columns and headers wrap instead."""
    for column in table.columns:
        widths = [len(cell.plain if isinstance(cell, Text) else str(cell)) for cell in column.cells]
        if isinstance(column.header, str) and len(column.header) <= 12:
            widths.append(len(column.header))     # longer headers may wrap
        if widths and max(widths) <= 24:
            column.min_width = max(widths)
    return table


def summary_table(stats: dict) -> Table:
    kept, funnel = stats["kept"], stats["funnel"]
    table = _table("Kept", "documents", "characters", "approx tokens", "UTF-8", "shards",
                   right=(0, 1, 2, 3, 4))
    table.add_row(_n(kept["documents"]), _n(kept["characters"]), _n(kept["approx_tokens"]),
                  size(kept["utf8_bytes"]),
                  f"{stats['shards']['files']} ({size(stats['shards']['bytes'])})")
    if funnel["read"] is not None:
        table.caption = (f"{funnel['read']:,} read, {funnel['removed']:,} removed "
                         f"({_pct(funnel['removed'], funnel['read'])}); books from the {funnel['origin']}")
        table.caption_justify = "left"
    return table


def funnel_table(stats: dict) -> Table:
    funnel = stats["funnel"]
    read = funnel["read"]
    table = _table("Funnel: read → kept", "step", "reason", "removed", "of read", "remaining",
                   right=(2, 3, 4))
    table.add_row("records read", "", "", "", _n(read))
    for step in funnel["steps"]:
        reasons = list(step["reasons"].items()) or [("", 0)]
        for i, (reason, n) in enumerate(reasons):
            last = i == len(reasons) - 1
            table.add_row(step["step"] if i == 0 else "", reason, _n(n) if reason else "0",
                          _pct(n, read) if reason else "", _n(step["remaining"]) if last else "")
    table.add_row(Text("kept", style="bold"), "", "", _pct(funnel["kept"], read),
                  Text(_n(funnel["kept"]), style="bold"))
    return table


def languages_table(stats: dict) -> Table:
    docs = stats["kept"]["documents"]
    table = _table("Languages", "language", "documents", "share", "characters", "approx tokens",
                   right=(1, 2, 3, 4))
    for row in stats["languages"][:TOP_ROWS]:
        table.add_row(row["language"], _n(row["documents"]), _pct(row["documents"], docs),
                      _n(row["characters"]), _n(row["approx_tokens"]))
    _more(table, len(stats["languages"]), "languages")
    return table


def lengths_table(stats: dict) -> Table:
    table = _table("Length in characters (p10/p50/p90 estimated from log bins)", "language",
                   "docs", "p10", "p50", "p90", "max", "mean", "histogram (log x)",
                   right=(1, 2, 3, 4, 5, 6))
    edges = stats["length"]["histogram"]["edges"]
    rows = [("all", stats["length"]), *stats["length_by_language"].items()]
    for label, s in rows:
        counts = [0] * max(0, len(edges) - 1)     # every row on the x axis of "all"
        for lower, count in zip(s["histogram"]["edges"], s["histogram"]["counts"]):
            counts[edges.index(lower)] += count
        table.add_row(label, _n(s["documents"]), *(_short(s[k]) for k in
                                                   ("p10", "p50", "p90", "max", "mean")),
                      sparkline(counts, 16))
    return table


def scores_table(stats: dict) -> Table:
    table = _table("Scores (p10/p50/p90 estimated from 40 bins)", "column", "docs", "missing",
                   "p10", "p50", "p90", "mean", "histogram", right=(1, 2, 3, 4, 5, 6))
    for column, s in stats["scores"].items():
        table.add_row(column, _n(s["count"]), _n(s["missing"]), _num(s["p10"]),
                      _num(s["p50"]), _num(s["p90"]), _num(s["mean"]),
                      sparkline(s["histogram"]["counts"], 10))
    return table


def counts_table(title: str, rows: list[dict], key: str, total: int | None, limit=TOP_ROWS,
                 value: str = "documents", what: str = "rows") -> Table:
    table = _table(title, key, value, "share", right=(1, 2))
    for row in rows[:limit]:
        table.add_row(terminal_safe(row[key]), _n(row[value]), _pct(row[value], total))
    _more(table, len(rows), what)
    return table


def licences_table(stats: dict) -> Table:
    lic, consent, docs = stats["licenses"], stats["consent"], stats["kept"]["documents"]
    table = _table("Licences and consent", "what", "documents", "share", right=(1, 2))
    table.add_row("kept, licence declared", _n(lic["declared"]), _pct(lic["declared"], docs))
    table.add_row("kept, no licence", _n(lic["none"]), _pct(lic["none"], docs))
    for row in lic["top"][:10]:
        table.add_row(terminal_safe(f"  {row['license']}"), _n(row["documents"]), _pct(row["documents"], docs))
    for where, n in lic["found_in"].items():
        table.add_row(f"  found in: {where}", _n(n), _pct(n, docs))
    for reason, n in consent["removed"].items():
        table.add_row(f"removed: consent:{reason}", _n(n), "")
    for flag, n in consent["kept_with_signal"].items():
        table.add_row(f"kept with signal: {flag}", _n(n), _pct(n, docs))
    return table


def pii_table(stats: dict) -> Table:
    table = _table("Personal data replaced (pii)", "kind", "documents", "replacements", right=(1, 2))
    for row in stats["pii"]:
        table.add_row(row["kind"], _n(row["documents"]), _n(row["replaced"]))
    return table


def dedup_tables(dedup: dict) -> list[Table]:
    tables = []
    clusters = dedup.get("clusters")
    if clusters and "error" not in clusters:
        table = _table("Dedup clusters", "found by", "clusters", "documents", "duplicates",
                       right=(1, 2, 3))
        for step, totals in (clusters.get("by_step") or {}).items():
            table.add_row(step, _n(totals["clusters"]), _n(totals["documents_in_clusters"]),
                          _n(totals["duplicates"]))
        table.add_row(Text("all", style="bold"), _n(clusters["clusters"]),
                      _n(clusters["documents_in_clusters"]), _n(clusters["duplicates"]))
        tables.append(table)
        sizes = _table("Cluster sizes", "size", "clusters", right=(1,))
        for row in clusters["size_buckets"]:
            sizes.add_row(row["sizes"], _n(row["clusters"]))
        tables.append(sizes)
    repeated = dedup.get("repeated_paragraphs")
    if repeated and "error" not in repeated:
        table = _table("Most repeated paragraphs", "count", "paragraph", right=(0,))
        for row in repeated["top"][:10]:
            text = terminal_safe(" ".join(row["text"].split()))
            table.add_row(_n(row["count"]), Text(text if len(text) <= 120 else text[:119] + "…"))
        tables.append(table)
    against = dedup.get("against")
    if against:
        steps = against["steps"]
        near_steps = [s for s in ("exact_dedup", "minhash_dedup") if s in steps]
        table = _table("Removed against earlier outputs", "earlier output", *near_steps,
                       right=tuple(range(1, len(near_steps) + 1)))
        for output in against["earlier"]:
            table.add_row(terminal_safe(output), *(_n(steps[s].get(output, 0)) for s in near_steps))
        tables.append(table)
        if "repeated_paragraphs" in steps:
            tables.append(_note(f"repeated lines counted with earlier outputs: "
                                f"{_n(steps['repeated_paragraphs']['lines_repeated_only_with_earlier'])} "
                                "lines were repeated only with the earlier documents' counts", "dim"))
    for name, part in (("clusters", clusters), ("repeated paragraphs", repeated)):
        if part and "error" in part:
            tables.append(_note(f"dedup {name}: {part['error']}"))
    return tables


def decontam_tables(decontam: dict) -> list:
    """Per benchmark, the numeric fields of OUT/decontam.json; its settings as a note."""
    rows = decontam.get("benchmarks", [])
    fields = list(dict.fromkeys(k for r in rows for k, v in r.items()
                                if isinstance(v, (int, float)) and not isinstance(v, bool)))
    fields.sort(key=lambda f: "hit" not in f)     # documents hit first: what the reader came for
    roles = any("role" in r for r in rows)
    table = _table("Decontamination", "benchmark", *(["role"] if roles else []),
                   *[f.replace("_", " ") for f in fields],
                   right=tuple(range(1 + roles, len(fields) + 1 + roles)))
    for row in rows:
        table.add_row(str(row.get("benchmark")), *([row.get("role", "")] if roles else []),
                      *(_num(row.get(f)) for f in fields))
    settings = {k: v for k, v in decontam.get("settings", {}).items() if v is not None}
    parts = [table]
    if settings:
        parts.append(_note(", ".join(f"{k} = {v}" for k, v in settings.items()), style="dim"))
    return parts


def _note(message: str, style: str = "yellow") -> Table:
    table = Table(box=None, show_header=False)
    table.add_column(overflow="fold")
    table.add_row(Text(message, style=style))
    return table


def _more(table: Table, total: int, what: str) -> None:
    if total > TOP_ROWS:
        more = f"… and {total - TOP_ROWS} more {what} (all in --json)"
        table.caption = f"{table.caption}; {more}" if table.caption else more
        table.caption_justify = "left"


def render(stats: dict, console: Console | None = None) -> None:
    """Print every section that has something to show."""
    console = console or Console(highlight=False, markup=False)   # data text is never markup
    where = stats["output"] or stats["path"]
    kind = "clean output" if stats["output"] else "shards"
    console.print(Text(f"xiulian stats: {where} ({kind})", style="bold"))
    docs = stats["kept"]["documents"]
    parts = [summary_table(stats)]
    if stats["funnel"]["read"] is not None:
        parts.append(funnel_table(stats))
    if stats["funnel"].get("note"):
        parts.append(_note("note: " + stats["funnel"]["note"]))
    parts += [languages_table(stats), lengths_table(stats)]
    if stats["scores"]:
        parts.append(scores_table(stats))
    if stats["tiers"]:
        parts.append(counts_table("Quality tiers", stats["tiers"], "tier", docs, limit=50, what="tiers"))
    domains = stats["domains"]
    domain_table = counts_table("Top domains", domains["top"], "domain", docs, what="domains")
    domain_table.caption = (f"{domains['distinct']:,}{'+' if domains['approximate'] else ''} distinct "
                            f"domains; {domains['documents_without_url']:,} documents without a URL")
    domain_table.caption_justify = "left"
    parts.append(domain_table)
    parts.append(counts_table("Sources", stats["sources"], "source", docs, what="sources"))
    parts.append(licences_table(stats))
    if stats["pii"]:
        parts.append(pii_table(stats))
    if stats["dedup"]:
        parts += dedup_tables(stats["dedup"])
    if stats["decontamination"]:
        if "error" in stats["decontamination"]:
            parts.append(_note(f"decontam.json: {stats['decontamination']['error']}"))
        else:
            parts += decontam_tables(stats["decontamination"])
    for part in parts:
        if part.row_count or part is parts[0]:
            console.print(_keep_numbers_whole(part))
