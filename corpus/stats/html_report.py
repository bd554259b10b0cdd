"""The HTML report: one self-contained file a user can send to a colleague.

Plots are inline SVG (svg.py), styles inline, no script, and nothing is fetched: every piece
of data text (URLs included) is escaped and shown as text, never as a link. Every section is
always present, saying "not in this output" when its data is missing, so a reader knows the
question was asked.
"""
from __future__ import annotations

import os
from html import escape
from importlib import resources
from string import Template

from .svg import bar_chart, histogram

SECTIONS = (("summary", "Summary"), ("funnel", "Funnel"), ("removals", "Removal reasons"),
            ("languages", "Languages"), ("lengths", "Lengths"), ("scores", "Scores"),
            ("tiers", "Quality tiers"), ("domains", "Domains and sources"),
            ("licences", "Licences and consent"), ("dedup", "Dedup"),
            ("decontamination", "Decontamination"), ("kept-examples", "Kept examples"))
TOP_LANGUAGES = 12


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _n(value) -> str:
    return "–" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def _pct(part, whole) -> str:
    return "" if not whole or part is None else f"{part / whole:.1%}"


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    if not rows:
        return '<p class="empty">nothing to show</p>'
    head = "".join(f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="num">{_e(c)}</td>' if i in numeric
                                    else f"<td>{_e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _missing(what: str) -> str:
    return f'<p class="empty">{_e(what)}</p>'


def _snippet(example: dict, fields: tuple[str, ...]) -> str:
    meta = " · ".join(f"{f}: {example[f]}" for f in fields if example.get(f))
    return f'<div class="snippet"><span class="meta">{_e(meta)}</span>{_e(example["text"])}</div>'


def summary(stats: dict) -> str:
    kept, funnel = stats["kept"], stats["funnel"]
    cards = [("documents kept", _n(kept["documents"])), ("characters", _n(kept["characters"])),
             ("approx. tokens", _n(kept["approx_tokens"]))]
    if funnel["read"] is not None:
        cards = [("records read", _n(funnel["read"])), *cards,
                 ("removed", f"{_n(funnel['removed'])} ({_pct(funnel['removed'], funnel['read'])})")]
    html = '<div class="cards">' + "".join(
        f'<div class="card"><div class="n">{_e(v)}</div><div class="l">{_e(k)}</div></div>'
        for k, v in cards) + "</div>"
    html += (f'<p class="note">{stats["shards"]["files"]} shard file(s), '
             f'{stats["shards"]["bytes"]:,} bytes. Tokens are estimated from characters and UTF-8 bytes: '
             'about 4 characters a token for ASCII, 1.5 for CJK, 2.2 for Cyrillic.</p>')
    if funnel.get("note"):
        html += f'<p class="note">Note: {_e(funnel["note"])}</p>'
    return html


def funnel_section(stats: dict) -> str:
    funnel = stats["funnel"]
    if funnel["read"] is None:
        return _missing("No manifest or removed ledger here (a bare folder of shards): no funnel.")
    rows = [("records read", funnel["read"], 0)]
    rows += [(f"after {s['step']}", s["remaining"], s["removed"])
             for s in funnel["steps"] if s["removed"]]
    rows.append(("kept", funnel["kept"], 0))
    steps = ", ".join(f"{s['step']} ({s['removed']:,})" for s in funnel["steps"])
    return (bar_chart(rows, title="documents remaining after each step (red: removed by it)") +
            f'<p class="note">Steps in pipeline order, with documents removed: {_e(steps)}. '
            f'Books from the {_e(funnel["origin"])}.</p>')


def removals_section(stats: dict) -> str:
    funnel = stats["funnel"]
    if funnel["read"] is None:
        return _missing("No removed ledger here.")
    examples = stats.get("examples", {}).get("removed", {})
    rows = []
    for step in funnel["steps"]:
        for reason, n in step["reasons"].items():
            key = f"{step['step']}:{reason}"
            snippets = "".join(_snippet(x, ("url", "id")) for x in examples.get(key, []))
            rows.append(f'<tr><td>{_e(step["step"])}</td><td>{_e(reason)}</td>'
                        f'<td class="num">{n:,}</td><td class="num">{_pct(n, funnel["read"])}</td>'
                        f'<td class="removed">{snippets or "<span class=empty>no example</span>"}</td></tr>')
    if not rows:
        return _missing("Nothing was removed.")
    return ('<table><thead><tr><th>step</th><th>reason</th><th class="num">removed</th>'
            '<th class="num">of read</th><th>examples (start of the removed text)</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def languages_section(stats: dict) -> str:
    docs = stats["kept"]["documents"]
    langs = stats["languages"]
    chart = bar_chart([(r["language"], r["documents"], 0) for r in langs[:TOP_LANGUAGES]],
                      title="documents per language")
    table = _table(["language", "documents", "share", "characters", "approx. tokens"],
                   [[r["language"], _n(r["documents"]), _pct(r["documents"], docs),
                     _n(r["characters"]), _n(r["approx_tokens"])] for r in langs], {1, 2, 3, 4})
    return chart + table


def _aligned(histogram_json: dict, edges: list[int]) -> list[int]:
    """A language's length counts spread over the bins of all languages (a common x axis)."""
    counts = [0] * (len(edges) - 1)
    for lower, count in zip(histogram_json["edges"], histogram_json["counts"]):
        if lower in edges[:-1]:
            counts[edges.index(lower)] += count
    return counts


def _length_block(title: str, s: dict, edges: list[int]) -> str:
    quantiles = (f"p10 {_n(s['p10'])} · median {_n(s['p50'])} · p90 {_n(s['p90'])} · "
                 f"mean {_n(round(s['mean'])) if s['mean'] is not None else '–'}")
    return (f"<div><h3>{_e(title)} ({s['documents']:,} documents)</h3>"
            + histogram(_aligned(s["histogram"], edges), edges, "characters", log_x=True)
            + f'<p class="note">{_e(quantiles)}</p></div>')


def lengths_section(stats: dict) -> str:
    edges = stats["length"]["histogram"]["edges"]
    blocks = [_length_block("all languages", stats["length"], edges)]
    blocks += [_length_block(lang, s, edges)
               for lang, s in list(stats["length_by_language"].items())[:7]]
    return ('<p class="note">Characters per kept document; 10 logarithmic bins a decade; '
            'quantiles estimated from the bins.</p><div class="grid">' + "".join(blocks) + "</div>")


def scores_section(stats: dict) -> str:
    if not stats["scores"]:
        return _missing("No score columns in these shards.")
    blocks = []
    for column, s in stats["scores"].items():
        h = s["histogram"]
        note = (f"{s['count']:,} documents, {s['missing']:,} missing · min {_n(s['min'])} · "
                f"p10 {_n(s['p10'])} · median {_n(s['p50'])} · p90 {_n(s['p90'])} · "
                f"mean {_n(s['mean'])} · max {_n(s['max'])}")
        blocks.append(f"<div><h3>{_e(column)}</h3>" + histogram(h["counts"], h["edges"], column)
                      + f'<p class="note">{_e(note)}</p></div>')
    return '<div class="grid">' + "".join(blocks) + "</div>"


def tiers_section(stats: dict) -> str:
    if not stats["tiers"]:
        return _missing("No quality tiers (metadata.tier) in these shards.")
    docs = stats["kept"]["documents"]
    return (bar_chart([(str(t["tier"]), t["documents"], 0) for t in stats["tiers"]], title="tiers")
            + _table(["tier", "documents", "share"],
                     [[t["tier"], _n(t["documents"]), _pct(t["documents"], docs)]
                      for t in stats["tiers"]], {1, 2}))


def domains_section(stats: dict) -> str:
    d, docs = stats["domains"], stats["kept"]["documents"]
    note = (f'{d["distinct"]:,}{"+" if d["approximate"] else ""} distinct domains; '
            f'{d["documents_without_url"]:,} documents without a URL.')
    return (f'<p class="note">{_e(note)}</p><div class="grid"><div>'
            + _table(["domain", "documents", "share"], [[r["domain"], _n(r["documents"]),
                     _pct(r["documents"], docs)] for r in d["top"]], {1, 2}) + "</div><div>"
            + _table(["source", "documents", "share"], [[r["source"], _n(r["documents"]),
                     _pct(r["documents"], docs)] for r in stats["sources"]], {1, 2}) + "</div></div>")


def licences_section(stats: dict) -> str:
    lic, consent, docs = stats["licenses"], stats["consent"], stats["kept"]["documents"]
    rows = [["kept, licence declared", _n(lic["declared"]), _pct(lic["declared"], docs)],
            ["kept, no licence", _n(lic["none"]), _pct(lic["none"], docs)]]
    rows += [[f"licence: {r['license']}", _n(r["documents"]), _pct(r["documents"], docs)]
             for r in lic["top"]]
    rows += [[f"licence found in: {k}", _n(v), _pct(v, docs)] for k, v in lic["found_in"].items()]
    rows += [[f"removed by consent: {k}", _n(v), ""] for k, v in consent["removed"].items()]
    rows += [[f"kept with a consent signal: {k}", _n(v), _pct(v, docs)]
             for k, v in consent["kept_with_signal"].items()]
    rows += [[f"personal data replaced: {p['kind']}", f"{p['documents']:,} docs",
              f"{p['replaced']:,} times"] for p in stats["pii"]]
    return _table(["what", "documents", "share"], rows, {1, 2})


def dedup_section(stats: dict) -> str:
    dedup = stats["dedup"]
    if not dedup:
        return _missing("No dedup report (OUT/dedup/) in this output.")
    html = ""
    clusters = dedup.get("clusters")
    if clusters and "error" in clusters:
        html += _missing(f"clusters.parquet: {clusters['error']}")
    elif clusters:
        html += (f'<p class="note">{clusters["clusters"]:,} clusters holding '
                 f'{clusters["documents_in_clusters"]:,} documents; {clusters["duplicates"]:,} '
                 'duplicates beyond one survivor per cluster.</p>')
        if clusters.get("by_step"):
            html += _table(["found by", "clusters", "documents", "duplicates"],
                           [[step, _n(t["clusters"]), _n(t["documents_in_clusters"]), _n(t["duplicates"])]
                            for step, t in clusters["by_step"].items()], {1, 2, 3})
        html += bar_chart([(f"size {b['sizes']}", b["clusters"], 0) for b in clusters["size_buckets"]],
                          title="clusters by size")
        with_step = any("step" in c for c in clusters["largest"])
        html += "<h3>Largest clusters</h3>" + _table(
            ["size", "cluster", "survivor", *(["found by"] if with_step else [])],
            [[_n(c["size"]), c["cluster"], c["survivor"], *([c.get("step")] if with_step else [])]
             for c in clusters["largest"]], {0})
    repeated = dedup.get("repeated_paragraphs")
    if repeated and "error" in repeated:
        html += _missing(f"repeated.parquet: {repeated['error']}")
    elif repeated:
        html += "<h3>Most repeated paragraphs</h3>" + _table(
            ["count", "paragraph"], [[_n(r["count"]), r["text"]] for r in repeated["top"]], {0})
    return html


def decontamination_section(stats: dict) -> str:
    decontam = stats["decontamination"]
    if not decontam:
        return _missing("No decontamination report (OUT/decontam.json) in this output.")
    if "error" in decontam:
        return _missing(f"decontam.json: {decontam['error']}")
    rows = decontam["benchmarks"]
    fields = [k for k in dict.fromkeys(k for r in rows for k in r)
              if all(isinstance(r.get(k), (int, float, type(None))) and not isinstance(r.get(k), bool)
                     for r in rows)]
    fields.sort(key=lambda f: "hit" not in f)     # documents hit first
    roles = any("role" in r for r in rows)
    headers = ["benchmark", *(["role"] if roles else []), *(f.replace("_", " ") for f in fields)]
    html = _table(headers, [[r.get("benchmark"), *([r.get("role", "")] if roles else []),
                             *(_n(r.get(f)) for f in fields)] for r in rows],
                  set(range(1 + roles, len(headers))))
    settings = {k: v for k, v in decontam.get("settings", {}).items() if v is not None}
    if settings:
        html += f'<p class="note">{_e(", ".join(f"{k} = {v}" for k, v in settings.items()))}</p>'
    return html


def kept_examples_section(stats: dict) -> str:
    examples = stats.get("examples", {}).get("kept", {})
    if not examples:
        return _missing("No examples (the report was made without them).")
    order = [r["language"] for r in stats["languages"]] + sorted(examples)
    html = ""
    for lang in list(dict.fromkeys(o for o in order if o in examples))[:TOP_LANGUAGES]:
        html += f"<h3>{_e(lang)}</h3>" + "".join(_snippet(x, ("url", "source", "id"))
                                                   for x in examples[lang])
    return f'<div class="kept">{html}</div>'


BUILDERS = {"summary": summary, "funnel": funnel_section, "removals": removals_section,
            "languages": languages_section, "lengths": lengths_section, "scores": scores_section,
            "tiers": tiers_section, "domains": domains_section, "licences": licences_section,
            "dedup": dedup_section, "decontamination": decontamination_section,
            "kept-examples": kept_examples_section}


def render_html(stats: dict) -> str:
    sections = "\n".join(f'<section id="{key}"><h2>{_e(title)}</h2>{BUILDERS[key](stats)}</section>'
                         for key, title in SECTIONS)
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title in SECTIONS)
    template = Template(resources.files(__package__).joinpath("template.html").read_text("utf-8"))
    where = stats["output"] or stats["path"]
    return template.substitute(title=_e(os.path.basename(os.path.normpath(where)) or where),
                               path=_e(where), nav=nav, sections=sections,
                               footer="Made by <code>xiulian stats --html</code>.")


def write_report(stats: dict, path: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_html(stats))
    os.replace(tmp, path)
