"""Executors run map tasks: here on local processes; the same pure tasks run anywhere.

Workers report progress through a shared counter, so the bar shows records/s across all of
them. Results come back in task order whatever order the tasks finish in.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable

from .pipeline import MapTask, run_map_task

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


def run_local(tasks: list[MapTask], workers: int, advance: Callable[[int], None],
              task_done: Callable[[], None]) -> list[dict]:
    """Run tasks on `workers` processes (in this process when workers == 1)."""
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(run_map_task(task, progress=advance))
            task_done()
        return results
    # fork: workers inherit the imported extractors instead of importing them again.
    context = mp.get_context("fork")
    counter = context.Value("q", 0)
    with context.Pool(workers, initializer=_init_worker, initargs=(counter,),
                      maxtasksperchild=None) as pool:
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
