"""The map phase: one task reads its input files, runs every document through the steps and
writes what it kept and what it removed (with the step and reason) to its own folder.

A task is pure: a spec in, files out. Its `counts.json`, written last, is the completion
marker a resumed run trusts. Where the filesystem renames, the whole folder is written under a
temporary name and renamed when complete; on an object store (no rename), the files go
straight to the final folder, each one atomic, and `counts.json` still comes last.
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass

from . import fs
from .config import build_steps
from .document import HTML, Document, Unreadable
from .html_view import text_view
from .inputs import InputFile
from .output_layout import TASKS_DIR
from .readers import ReadOptions, Span, read_file
from .schema import REMOVED_SCHEMA, kept_row, kept_schema, removed_row
from .steps import Step
from .writers import RowWriter

READ_STEP = "read"
TASK_REMOVED = "removed.arrow"  # a task's removed rows (writers.RowWriter: Arrow IPC, LZ4)


class Pipeline:
    """Run one document through the steps; the first step that objects removes it.

    Steps after a `costly` one (trafilatura extraction) that can `screen` an HTML page from a
    cheap view of it (the language step) judge it first, right before the costly step, so a
    page they would remove anyway never pays for it; a page they let through meets them again,
    in their own place, on the extracted text. Steps marked `after_screens` that stand right
    before the costly step (consent, which reads the whole page and removes few) come after
    the screens: a page the screens remove does not pay for them either.
    """

    def __init__(self, steps: list[Step]):
        from .corpus_steps import CorpusStep
        self.steps = [s for s in steps if not isinstance(s, CorpusStep)]
        self.corpus_steps = [s for s in steps if isinstance(s, CorpusStep)]
        self.score_columns = sorted({c for s in steps for c in s.score_columns})
        self.errors_reported = 0
        costly = next((i for i, s in enumerate(self.steps) if getattr(s, "costly", False)), None)
        self.screens = [s for s in self.steps[costly + 1:] if s.screens] if costly is not None else []
        self.screen_before = costly
        while self.screens and self.screen_before and self.steps[self.screen_before - 1].after_screens:
            self.screen_before -= 1

    def setup(self) -> None:
        for step in self.steps:
            step.setup()

    @property
    def all_steps(self) -> list[Step]:
        return self.steps + self.corpus_steps

    def take_counts(self) -> dict[str, dict[str, int]]:
        return {s.name: c for s in self.steps if (c := s.take_counts())}

    def run(self, doc: Document) -> tuple[str, str] | None:
        for i, step in enumerate(self.steps):
            if i == self.screen_before and self.screens and doc.media_type == HTML:
                if verdict := self._screen(doc):
                    return verdict
            try:
                reason = step.apply(doc)
            except Exception as exc:  # one bad document must not end the run: ledger it
                reason = self._error(step, doc, exc)
            if reason:
                return step.name, reason
        return None

    def _screen(self, doc: Document) -> tuple[str, str] | None:
        try:
            view = text_view(doc.text)
        except Exception:  # the view is only a shortcut: the page goes on to the extractor
            return None
        for step in self.screens:
            try:
                reason = step.screen(doc, view)
            except Exception as exc:
                reason = self._error(step, doc, exc)
            if reason:
                return step.name, reason
        return None

    def _error(self, step: Step, doc: Document, exc: Exception) -> str:
        if self.errors_reported < 3:
            self.errors_reported += 1
            print(f"warning: step {step.name!r} failed on {doc.id}: {exc!r}", file=sys.stderr)
        return f"error:{type(exc).__name__}"


@dataclass(frozen=True)
class MapTask:
    """One unit of the map phase (see planner.py): whole files -- small pages grouped, or one
    file that is not split -- or, with `span` set, one span of the single file in `files`
    (readers/spans.py: a byte range of lines, row groups, gzip members, or a piece of a stream
    carried as bytes). A task's output depends on this spec alone, so a failing task can be
    rerun, or its span cut in two, without touching any other."""

    index: int
    files: tuple[InputFile, ...]
    out: str          # the run's output folder (a local path or a URI)
    config: dict      # the resolved config
    read_options: ReadOptions
    span: Span | None = None

    @property
    def folder(self) -> str:
        return task_folder(self.out, self.index)


def task_folder(out: str, index: int) -> str:
    return fs.join(out, TASKS_DIR, f"{index:05d}")


_PIPELINES: dict[str, Pipeline] = {}


def pipeline_for(config: dict) -> Pipeline:
    """One pipeline per process and config: models and indexes load once, not once per task.

    The parent builds it before forking workers, so they share it (copy-on-write) instead of
    each loading its own.
    """
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _PIPELINES:
        pipeline = Pipeline(build_steps(config))
        pipeline.setup()
        _PIPELINES[key] = pipeline
    return _PIPELINES[key]


def run_map_task(task: MapTask, progress=None) -> dict:
    """Run one task (or return its counts if it already finished) -> its counts."""
    done = fs.join(task.folder, "counts.json")
    if fs.exists(done):
        return json.loads(fs.read_bytes(done))
    pipeline = pipeline_for(task.config)
    pipeline.take_counts()  # start this task's counters from zero
    tmp = fs.staging_folder(task.folder, f".tmp-{os.getpid()}", fresh=True)
    kept = RowWriter(fs.join(tmp, "kept.parquet"), kept_schema(pipeline.score_columns))
    removed = RowWriter(fs.join(tmp, TASK_REMOVED), REMOVED_SCHEMA)
    removed_by: Counter[str] = Counter()
    per_file: dict[str, int] = {}
    read = 0
    for f in task.files:
        n_before = read
        for item in read_file(f, task.read_options, task.span):
            read += 1
            if isinstance(item, Unreadable):
                verdict, text, url = (READ_STEP, item.reason), item.text, item.url
            else:
                original = item.text
                verdict, url = pipeline.run(item), item.url
                text = item.text or original  # a page that extracted to nothing: show its HTML
            if verdict is None:
                kept.write(kept_row(item, pipeline.score_columns))
            else:
                step, reason = verdict
                removed_by[f"{step}:{reason.split('#')[0]}"] += 1  # '#' marks per-record detail
                removed.write(removed_row(item.id, url, item.source, step, reason, text))
            if progress is not None and read % 64 == 0:
                progress(64)
        per_file[f.path] = read - n_before
    if progress is not None:
        progress(read % 64)
    kept.close()
    removed.close()
    counts = {"read": read, "kept": kept.rows, "removed": removed.rows,
              "removed_by": dict(sorted(removed_by.items())), "files": per_file,
              "step_counts": pipeline.take_counts()}
    fs.write_bytes(fs.join(tmp, "counts.json"), json.dumps(counts, sort_keys=True).encode())
    fs.publish_folder(tmp, task.folder)
    return counts
