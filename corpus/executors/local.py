"""The local executor: the pipeline's pure tasks on worker processes of this machine.

Workers are forked, so they share the models and indexes the parent loaded before the fork.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence

from ..pipeline import MapTask, run_map_task

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


class LocalExecutor:
    """Worker processes on this machine (forked, so they share the parent's loaded models)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def run_map(self, tasks: Sequence[MapTask], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        if self.workers <= 1 or len(tasks) <= 1:
            results = []
            for task in tasks:
                results.append(run_map_task(task, progress=advance))
                task_done()
            return results
        context = mp.get_context("fork")
        counter = context.Value("q", 0)
        with context.Pool(min(self.workers, len(tasks)), initializer=_init_worker,
                          initargs=(counter,)) as pool:
            pending = [pool.apply_async(_run_in_worker, (task,)) for task in tasks]
            seen, finished = 0, 0
            while finished < len(pending):
                time.sleep(0.2)
                value = counter.value
                advance(value - seen)
                seen = value
                now_finished = sum(r.ready() for r in pending)
                for r in pending:
                    if r.ready() and not r.successful():
                        r.get()  # raises the task's error here, ending the pool
                for _ in range(now_finished - finished):
                    task_done()
                finished = now_finished
            advance(counter.value - seen)
            return [r.get() for r in pending]

    def map(self, fn: Callable, items: Sequence) -> list:
        """fn over items in parallel, results in order (fn must be a module-level function)."""
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with mp.get_context("fork").Pool(min(self.workers, len(items))) as pool:
            return pool.map(fn, items, chunksize=1)
