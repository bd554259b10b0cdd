"""What the corpus-wide steps wrote beside the shards: dedup clusters, the most repeated
paragraphs, decontamination hits per benchmark.

These files belong to other steps and may gain or rename columns, so columns are found by
type and by a few likely names rather than assumed; a file that cannot be read is reported
as such, never a crash.
"""
from __future__ import annotations

import heapq
import json
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SIZE_NAMES = ("size", "n", "count", "members_count", "n_members", "num_members")
TEXT_NAMES = ("paragraph", "text", "line", "content")
COUNT_NAMES = ("count", "n", "documents", "occurrences", "docs", "frequency", "times")
NAME_KEYS = ("benchmark", "label", "name", "path", "file")
ROLE_KEYS = ("benchmarks", "per_benchmark", "by_benchmark", "holdout_from")
SIZE_BUCKETS = ((2, 2), (3, 3), (4, 4), (5, 9), (10, 99), (100, None))


def _pick(schema: pa.Schema, names: tuple[str, ...], accept) -> str | None:
    """The first column named in `names` (exact, then as a substring) whose type `accept`s."""
    fields = [f for f in schema if accept(f.type)]
    for name in names:
        for f in fields:
            if f.name.lower() == name:
                return f.name
    for name in names:
        for f in fields:
            if name in f.name.lower():
                return f.name
    return None


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def dedup_clusters(path: str, top: int = 10) -> dict:
    """Cluster sizes from OUT/dedup/clusters.parquet: one row per cluster (a size or a member
    list, optionally the step that found it) or one row per member (a cluster id column)."""
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        return {"error": f"unreadable: {exc}"}
    schema = parquet.schema_arrow
    size_col = _pick(schema, SIZE_NAMES, pa.types.is_integer)
    list_col = _pick(schema, ("members", "member_ids", "ids", "documents"), _is_list)
    cluster_col = _pick(schema, ("cluster", "cluster_id"), lambda t: True)
    survivor_col = _pick(schema, ("survivor", "survivor_id", "kept", "keep"), _is_text)
    step_col = "step" if "step" in schema.names else None
    if size_col or list_col:
        rows = _cluster_rows(parquet, size_col, list_col, cluster_col, survivor_col, step_col)
    elif cluster_col:
        members: Counter = Counter()
        for batch in parquet.iter_batches(columns=[cluster_col]):
            members.update(batch.column(cluster_col).to_pylist())
        rows = ((n, c, None, None) for c, n in members.items())
    else:
        return {"error": f"no cluster size, member list or cluster id column in {schema.names}"}
    sizes: Counter = Counter()
    by_step: dict[str, Counter] = {}
    largest: list[tuple] = []
    for chunk in _chunks(rows, 65536):      # counters and a top-k only: memory stays small
        for size, _, _, step in chunk:
            sizes[size] += 1
            if step_col:
                by_step.setdefault(str(step), Counter())[size] += 1
        largest = heapq.nlargest(top, [*largest, *chunk], key=lambda r: r[0])
    result = {**_cluster_totals(sizes),
              "size_buckets": [{"sizes": _bucket_label(lo, hi),
                                "clusters": sum(n for s, n in sizes.items()
                                                if s >= lo and (hi is None or s <= hi))}
                               for lo, hi in SIZE_BUCKETS],
              "largest": [{"size": size, "cluster": _plain(cluster), "survivor": _plain(survivor),
                           **({"step": step} if step_col else {})}
                          for size, cluster, survivor, step in largest]}
    if by_step:
        result["by_step"] = {step: _cluster_totals(counts) for step, counts in sorted(by_step.items())}
    return result


def _chunks(rows, n: int):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _cluster_rows(parquet, size_col, list_col, cluster_col, survivor_col, step_col):
    """(size, cluster, survivor, step) for each cluster, streamed batch by batch."""
    columns = [c for c in (size_col or list_col, cluster_col, survivor_col, step_col) if c]
    for batch in parquet.iter_batches(columns=list(dict.fromkeys(columns))):
        size = (batch.column(size_col) if size_col
                else pc.list_value_length(batch.column(list_col))).to_pylist()
        none = [None] * len(size)
        yield from (r for r in zip(size, *(batch.column(c).to_pylist() if c else none
                                           for c in (cluster_col, survivor_col, step_col)))
                    if r[0] is not None)


def _cluster_totals(sizes: Counter) -> dict:
    """Clusters (size 2 and up), the documents in them, and the duplicates beyond one survivor each."""
    clusters = sum(n for size, n in sizes.items() if size >= 2)
    in_clusters = sum(size * n for size, n in sizes.items() if size >= 2)
    return {"clusters": clusters, "documents_in_clusters": in_clusters,
            "duplicates": in_clusters - clusters}


def _bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")


def _plain(value):
    return value if value is None or isinstance(value, (int, float, str)) else str(value)


def repeated_paragraphs(path: str, top: int = 20, max_chars: int = 500) -> dict:
    """The most repeated paragraphs from OUT/dedup/repeated.parquet (a text and a count column)."""
    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        return {"error": f"unreadable: {exc}"}
    text_col = _pick(schema, TEXT_NAMES, _is_text)
    count_col = _pick(schema, COUNT_NAMES, pa.types.is_integer)
    if not text_col or not count_col:
        return {"error": f"no text and count columns in {schema.names}"}
    best: list[tuple[int, str]] = []
    for batch in pq.ParquetFile(path).iter_batches(columns=[text_col, count_col]):
        order = pc.select_k_unstable(batch, top, [(count_col, "descending")])
        rows = batch.take(order)
        best = sorted([*best, *zip(rows.column(count_col).to_pylist(),
                                   rows.column(text_col).to_pylist())],
                      key=lambda x: (-(x[0] or 0), x[1] or ""))[:top]
    return {"top": [{"count": n, "text": (t or "")[:max_chars]} for n, t in best]}


def decontamination(path: str) -> dict:
    """Per-benchmark rows from OUT/decontam.json, whatever its exact shape: lists of objects
    naming their benchmark (under "benchmarks" and "holdout_from"), or an object keyed by
    benchmark; other scalars (and flattened objects) are its settings."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        return {"error": f"unreadable: {exc}"}
    if not isinstance(data, dict):
        data = {"benchmarks": data}
    lists = [k for k in ROLE_KEYS if isinstance(data.get(k), (dict, list))]
    if not lists:                       # {benchmark: {...}} at the top level
        lists, data = ["benchmarks"], {"benchmarks": {k: v for k, v in data.items()
                                                      if isinstance(v, dict)},
                                       **{k: v for k, v in data.items() if not isinstance(v, dict)}}
    settings = {}
    for key, value in data.items():
        if key in lists:
            continue
        if isinstance(value, dict):
            settings.update(_flatten(value, key + "."))
        elif _scalar(value):
            settings[key] = value
    rows = []
    for role in lists:
        block = data[role]
        items = ([{"benchmark": k, **v} for k, v in block.items() if isinstance(v, dict)]
                 if isinstance(block, dict) else [v for v in block if isinstance(v, dict)])
        for item in items:
            name = next((item[k] for k in NAME_KEYS if item.get(k) is not None), None)
            row = {"benchmark": name, **_flatten({k: v for k, v in item.items() if k != "benchmark"})}
            if role != "benchmarks":
                row["role"] = role
            rows.append(row)
    return {"benchmarks": rows, "settings": settings}


def _scalar(value) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def _flatten(record: dict, prefix: str = "") -> dict:
    """Scalars of a (nested) record as "a.b": value; lists become their length."""
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, list):
            flat[name] = len(value)
        else:
            flat[name] = value
    return flat
