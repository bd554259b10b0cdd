"""The local executor: the pipeline's pure tasks on worker processes of this machine.

Workers are forked, so they share the models and indexes the parent loaded before the fork.
One pool serves the whole run (the plan's scans, the map phase, every corpus step): a pool
per call cost a fork of the whole parent each time, a second of a short run's serial time.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterable, Sequence

from ..pipeline import MapTask, run_map_task

QUEUED_PER_WORKER = 2
_counter = None


def _init_worker(counter) -> None:
    global _counter
    _counter = counter


def _report(n: int) -> None:
    with _counter.get_lock():
        _counter.value += n


def _run_in_worker(task: MapTask) -> dict:
    # A BaseException (a Rust panic from an extension, say) would kill the worker and leave the
    # pool waiting forever; turn it into an ordinary error that reaches the parent.
    try:
        return run_map_task(task, progress=_report)
    except Exception:
        raise
    except BaseException as exc:
        raise RuntimeError(f"task {task.index} died: {exc!r}") from None


def task_weight(task: MapTask) -> int:
    """Bytes a task reads, as an estimate of its cost: a span's bytes (a piece of a stream, a
    range of lines or gzip members), else its files' sizes (a parquet span: its file's)."""
    span = task.span
    if span is not None and span.data is not None:
        return len(span.data)
    if span is not None and task.files[0].format != "parquet":
        return span.end - span.start
    return sum(f.size for f in task.files)


def longest_first(tasks: Sequence[MapTask]) -> list[int]:
    """Task positions, biggest first (ties in task order): the last tasks to start are the
    small ones, so no worker is left alone with a big one at the end."""
    return sorted(range(len(tasks)), key=lambda i: -task_weight(tasks[i]))


class LocalExecutor:
    """Worker processes on this machine (forked, so they share the parent's loaded models).

    The pool is forked on the first call that needs it and kept until `close()` (or exit)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool = None
        self._counter = None

    def _get_pool(self):
        if self._pool is None:
            context = mp.get_context("fork")
            self._counter = context.Value("q", 0)
            self._pool = context.Pool(self.workers, initializer=_init_worker,
                                      initargs=(self._counter,))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def run_map(self, tasks: Iterable[MapTask], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        if self.workers <= 1 or (isinstance(tasks, Sequence) and len(tasks) <= 1):
            results = []
            for task in tasks:
                results.append(run_map_task(task, progress=advance))
                task_done()
            return results
        if isinstance(tasks, Sequence):  # all known: start the costly ones first
            order = longest_first(tasks)
            source = iter([(i, tasks[i]) for i in order])
        else:  # a stream read as it goes: in order
            source = enumerate(tasks)
        pool = self._get_pool()
        counter = self._counter
        with counter.get_lock():
            counter.value = 0
        submitted: dict[int, object] = {}
        seen, finished, more = 0, 0, True
        while more or finished < len(submitted):
            # Take tasks as they come (a stream's pieces are read meanwhile), keeping a
            # few per worker queued: workers never wait, memory stays bounded.
            while more and len(submitted) - finished < QUEUED_PER_WORKER * self.workers:
                item = next(source, None)
                if item is None:
                    more = False
                else:
                    submitted[item[0]] = pool.apply_async(_run_in_worker, (item[1],))
            time.sleep(0.05)
            value = counter.value
            advance(value - seen)
            seen = value
            for r in submitted.values():
                if r.ready() and not r.successful():
                    self.close()
                    r.get()  # raises the task's error here
            now_finished = sum(r.ready() for r in submitted.values())
            for _ in range(now_finished - finished):
                task_done()
            finished = now_finished
        advance(counter.value - seen)
        return [submitted[i].get() for i in range(len(submitted))]

    def map(self, fn: Callable, items: Sequence) -> list:
        """fn over items in parallel, results in order (fn must be a module-level function)."""
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        return self._get_pool().map(fn, items, chunksize=1)
