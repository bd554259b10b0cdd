"""Plan the map phase: input files -> tasks, the same whatever the worker count.

Small one-document files are grouped (inputs.plan_tasks); a big record file becomes one task
per span (readers/spans.py), so one file keeps every worker busy. Seekable files are cut
before the run, from scans of their blocks run on the executor's workers; a compressed stream,
which cannot seek, is cut while the parent reads it during the run, each piece handed to a
worker as bytes. Task numbers follow the input order, then each file's spans in order: the
order finalize writes the shards in.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from .executors.base import Executor
from .inputs import InputFile, plan_tasks
from .pipeline import MapTask
from .readers import ReadOptions
from .readers.spans import (MAX_STREAM_PIECE, Span, piece_bytes, scan_block, scan_items,
                            spans_from_scans, split_kind, stream_spans)

STREAM_RATIO = 4  # compressed JSONL: about 4 bytes of text per byte stored, to size its pieces


def plan_spans(groups: list[list[InputFile]], executor: Executor, run_bytes: int
               ) -> list[list[Span | None] | None]:
    """Per group: its spans ([None]: read whole; None: a stream, cut during the run)."""
    kinds = [split_kind(g[0]) if len(g) == 1 else None for g in groups]
    items = [(i, item) for i, (g, kind) in enumerate(zip(groups, kinds))
             if kind not in (None, "stream") for item in scan_items(g[0], kind, run_bytes)]
    results = executor.map(scan_block, [item for _, item in items])
    scans: dict[int, list] = {}
    for (i, _), result in zip(items, results):
        scans.setdefault(i, []).append(result)
    planned: list[list[Span | None] | None] = []
    for i, (g, kind) in enumerate(zip(groups, kinds)):
        if kind == "stream":
            planned.append(None)
        elif i in scans:
            spans = spans_from_scans(g[0], kind, scans[i], run_bytes)
            planned.append(spans if len(spans) > 1 else [None])
        else:
            planned.append([None])
    return planned


def plan_map(files: list[InputFile], out: str, config: dict, read_options: ReadOptions,
             executor: Executor) -> Iterable[MapTask]:
    """The map tasks, in order: a list, or -- when a stream is cut during the run -- an
    iterator that reads the stream as the executor takes tasks."""
    groups = plan_tasks(files)
    run_bytes = sum(f.size for f in files)
    planned = plan_spans(groups, executor, run_bytes)

    def tasks() -> Iterator[MapTask]:
        index = 0
        for group, spans in zip(groups, planned):
            if spans is None:
                block = piece_bytes(group[0].size * STREAM_RATIO, run_bytes * STREAM_RATIO,
                                    MAX_STREAM_PIECE)
                spans = stream_spans(group[0], block)
            for span in spans:
                yield MapTask(index, tuple(group), out, config, read_options, span)
                index += 1

    return tasks() if None in planned else list(tasks())
