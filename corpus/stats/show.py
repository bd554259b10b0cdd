"""`xiulian show`: print kept or removed documents, filtered with SQL, to read what a rule did.

duckdb reads the shards (or the removed ledger) in place and stops as soon as it has enough
rows, so `show` is instant on a corpus of any size unless `--random` asks for a sample of
all of it. `--where` is any SQL boolean over the columns, e.g.
`language = 'zh' and length(text) > 500` or `json_extract_string(metadata, '$.tier') = 'high'`.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from ..errors import UserError
from .funnel import fold
from .layout import locate
from .tables import terminal_safe as _safe

MAX_LISTED = 30
HEADER_COLUMNS = ("url", "source", "language", "language_score", "license", "date")


@dataclass(frozen=True)
class ShowQuery:
    removed: bool = False
    where: str | None = None
    step: str | None = None
    reason: str | None = None
    limit: int = 10
    random: bool = False
    seed: int = 0


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def _files(path: str, removed: bool) -> list[str]:
    layout = locate(path)
    if not removed:
        return layout.shard_files
    if not layout.removed_files:
        raise UserError(f"{path}: no removed ledger here (expected OUT/removed/*.parquet)")
    return layout.removed_files


def select_rows(path: str, query: ShowQuery) -> list[dict]:
    """The documents `query` asks for, as dicts of their columns."""
    import duckdb
    files = _files(path, query.removed)
    source = f"read_parquet({_sql_list(files)}, union_by_name = true)"
    conditions, params = [], []
    if query.where:
        conditions.append(f"({query.where})")
    if query.step:
        conditions.append("step = ?")
        params.append(query.step)
    if query.reason:
        # a folded reason ("duplicate_of", "gsm8k_test.jsonl") matches its detailed ones
        conditions.append("(reason = ? OR starts_with(reason, ?) OR starts_with(reason, ?))")
        params += [query.reason, query.reason + ":", query.reason + "#"]
    sql = f"SELECT * FROM {source}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if query.random:
        sql += " ORDER BY hash(id, ?::BIGINT), id"
        params.append(query.seed)
    sql += " LIMIT ?"
    params.append(query.limit)
    connection = duckdb.connect()
    try:
        cursor = connection.execute(sql, params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, duckdb.BinderException):  # a column this output lacks: name the ones it has
            columns = [r[0] for r in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            message += f" (columns here: {', '.join(columns)})"
        raise UserError(f"--where {query.where!r}: {message}" if query.where else message) from None
    if not rows and (query.step or query.reason):
        _explain_no_match(connection, source, query)
    connection.close()
    return rows


def _explain_no_match(connection, source: str, query: ShowQuery) -> None:
    """An unknown step or reason is a user error naming the ones that exist."""
    steps = [s for (s,) in connection.execute(f"SELECT DISTINCT step FROM {source} ORDER BY 1").fetchall()]
    if query.step and query.step not in steps:
        raise UserError(f"no documents removed by step {query.step!r}; "
                        f"steps in the ledger: {', '.join(steps) or 'none'}")
    if query.reason:
        sql, params = f"SELECT DISTINCT reason FROM {source}", []
        if query.step:
            sql, params = sql + " WHERE step = ?", [query.step]
        reasons = sorted({fold(r) for (r,) in connection.execute(sql, params).fetchall()})
        if query.reason not in reasons:
            where = f" by step {query.step!r}" if query.step else ""
            listed = ", ".join(reasons[:MAX_LISTED]) + (" ..." if len(reasons) > MAX_LISTED else "")
            raise UserError(f"no documents removed{where} for reason {query.reason!r}; "
                            f"reasons: {listed or 'none'}")


def _header(row: dict, index: int, total: int) -> Text:
    head = Text(f"── {index}/{total} ", style="dim")
    head.append(_safe(row.get("id")), style="bold cyan")
    if row.get("step"):
        head.append(_safe(f"  removed by {row['step']}:{row.get('reason')}"), style="bold red")
    return head


def _details(row: dict) -> Text:
    parts = []
    for column in HEADER_COLUMNS:
        value = row.get(column)
        if value is None:
            continue
        parts.append(f"{column}: {value:.3f}" if isinstance(value, float) else f"{column}: {value}")
    scores = [f"{k}={v:.3g}" for k, v in row.items() if k.startswith("score_") and v is not None]
    if scores:
        parts.append("scores: " + " ".join(scores))
    return Text(_safe("  ".join(parts)), style="dim")


def _body(text: str, console: Console, lines: int) -> Text:
    if lines == 0:
        return Text(text)
    width = max(20, console.width)
    head = text[: lines * width * 2 + 1]     # enough for `lines` wrapped lines, even of CJK
    wrapped = Text(head).wrap(console, width)
    if len(wrapped) <= lines and len(head) == len(text):
        return Text(head)
    shown = Text("\n").join(wrapped[:lines])
    shown.append(f" … ({len(text):,} characters in all)", style="dim")
    return shown


def print_rows(rows: list[dict], lines: int = 6, console: Console | None = None) -> None:
    console = console or Console(highlight=False, markup=False, soft_wrap=False)
    for i, row in enumerate(rows, 1):
        console.print(_header(row, i, len(rows)), overflow="fold")
        details = _details(row)
        if details.plain:
            console.print(details, overflow="fold")
        metadata = row.get("metadata")
        if metadata and metadata != "{}":
            console.print(Text(_safe(f"metadata: {metadata}"), style="dim"), no_wrap=True,
                          overflow="ellipsis", crop=True)
        console.print(_body(_safe(row.get("text") or ""), console, lines))
        console.print()


def show(path: str, query: ShowQuery, lines: int = 6, as_json: bool = False) -> int:
    """Print the matching documents; returns how many there were."""
    rows = select_rows(path, query)
    if not rows:
        what = "removed" if query.removed else "kept"
        print(f"no {what} documents match", file=sys.stderr)
        return 0
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    else:
        print_rows(rows, lines)
    return len(rows)
