"""A few example texts per group (removal reason, language) for the HTML report.

Two cheap passes: the first reads only the grouping columns and gives every row a seeded
random priority, keeping the `k` lowest per group (a uniform sample, the same for the same
seed); the second reads the text of just the row groups that hold the chosen rows.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .funnel import reason_key

SNIPPET_CHARS = 400


def _group_keys(batch: pa.RecordBatch, columns: list[str]) -> pa.Array:
    if len(columns) == 1:
        return pc.fill_null(batch.column(columns[0]), "(none)")
    parts = [pc.fill_null(batch.column(c), "") for c in columns]
    return pc.binary_join_element_wise(*parts, ":")


def sample_rows(files: list[str], columns: list[str], k: int, seed: int,
                group_of=lambda key: key) -> dict[str, list[tuple[int, int, int]]]:
    """{group: [(file index, row group, row in group)]}, k rows per group, chosen at random.

    Rows are grouped by the values of `columns` (joined with ":"), mapped through `group_of`.
    """
    rng = np.random.default_rng(seed)
    best: dict[str, list[tuple[float, int, int, int]]] = defaultdict(list)
    for file_index, path in enumerate(files):
        parquet = pq.ParquetFile(path)
        if any(c not in parquet.schema_arrow.names for c in columns):
            continue
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=columns)
            if table.num_rows == 0:
                continue
            batch = table.combine_chunks().to_batches()[0]
            priority = rng.random(batch.num_rows)
            encoded = pc.dictionary_encode(_group_keys(batch, columns))
            index = encoded.indices.to_numpy(zero_copy_only=False)
            order = np.lexsort((priority, index))      # by group, then by priority
            starts = np.r_[0, np.nonzero(np.diff(index[order]))[0] + 1, len(order)]
            keys = encoded.dictionary.to_pylist()
            for start, end in zip(starts[:-1], starts[1:]):
                key = group_of(keys[index[order[start]]])
                rows = order[start:min(end, start + k)]
                merged = best[key] + [(priority[r], file_index, group, int(r)) for r in rows]
                best[key] = sorted(merged)[:k]
    return {key: [entry[1:] for entry in sorted(rows, key=lambda e: e[1:])]
            for key, rows in best.items()}


def fetch(files: list[str], chosen: dict[str, list[tuple[int, int, int]]],
          columns: list[str]) -> dict[str, list[dict]]:
    """Read `columns` of the chosen rows, one row group at a time; texts trimmed to snippets."""
    wanted: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
    for key, places in chosen.items():
        for file_index, group, row in places:
            wanted[(file_index, group)].append((row, key))
    found: dict[str, list[dict]] = defaultdict(list)
    for (file_index, group), rows in sorted(wanted.items()):
        parquet = pq.ParquetFile(files[file_index])
        present = [c for c in columns if c in parquet.schema_arrow.names]
        table = parquet.read_row_group(group, columns=present)
        picked = table.take(pa.array([r for r, _ in rows])).to_pylist()
        for (_, key), record in zip(rows, picked):
            record["text"] = snippet(record.get("text") or "")
            found[key].append(record)
    return dict(found)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a text with runs of whitespace collapsed, cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + " …"


def removed_examples(removed_files: list[str], keys: set[str], k: int = 3, seed: int = 0
                     ) -> dict[str, list[dict]]:
    """Examples per funnel key ("step:reason"); a ledger reason with a detail the funnel folds
    away ("gsm8k_test.jsonl#921") counts under its folded key."""
    def group_of(key: str) -> str:
        step, _, reason = key.partition(":")
        return reason_key(step, reason, keys)
    chosen = sample_rows(removed_files, ["step", "reason"], k, seed, group_of)
    return fetch(removed_files, chosen, ["id", "url", "step", "reason", "text"])


def kept_examples(shard_files: list[str], k: int = 3, seed: int = 0) -> dict[str, list[dict]]:
    if not all("language" in pq.read_schema(f).names for f in shard_files):
        chosen = sample_rows(shard_files, ["source"], k, seed)
    else:
        chosen = sample_rows(shard_files, ["language"], k, seed)
    return fetch(shard_files, chosen, ["id", "url", "language", "source", "text"])
