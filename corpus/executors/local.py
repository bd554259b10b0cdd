"""The local executor: the pipeline's pure tasks on worker processes of this machine.

Workers are forked, so they share the models and indexes the parent loaded before the fork.
One pool serves the whole run (the plan's scans, the map phase, every corpus step): a pool
per call cost a fork of the whole parent each time, a second of a short run's serial time.

A worker process that dies (a segfault in an extension, the kernel's OOM killer, a SIGKILL)
breaks the pool, and every task then unfinished fails with BrokenProcessPool; nobody can tell
which one killed it. So, as the Ray executor does with its retries: the map tasks that were
unfinished run again one at a time, each alone in a fresh worker, up to MAX_ATTEMPTS times;
one that kills its worker every time is quarantined into the ledger (quarantine.py), the others
finish, and the run goes on in a fresh pool. A corpus step's call (`map`) is run again as a
whole -- its functions skip the files already written -- and after MAX_ATTEMPTS deaths the run
ends with one line saying so, the finished work kept for a resume.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from itertools import repeat

from ..errors import UserError
from ..heap import WORKER_KEEPS, release_heap
from ..pipeline import MapTask, run_map_task
from .quarantine import quarantine

QUEUED_PER_WORKER = 2
MAX_ATTEMPTS = 4  # as the Ray executor: the first and three retries
_counter = None


def _init_worker(counter) -> None:
    global _counter
    _counter = counter


def _report(n: int) -> None:
    with _counter.get_lock():
        _counter.value += n


def _run_in_worker(task: MapTask) -> dict:
    # A BaseException (a Rust panic from an extension, say) would kill the worker; turn it
    # into an ordinary error that reaches the parent.
    try:
        return run_map_task(task, progress=_report)
    except Exception:
        raise
    except BaseException as exc:
        raise RuntimeError(f"task {task.index} died: {exc!r}") from None
    finally:
        release_heap(collect=False, keep=WORKER_KEEPS)


def _call_in_worker(fn: Callable, item):
    """One item of a corpus step; what the task freed goes back to the kernel, so a worker
    enters each task (and each phase) at its rest, not at the peak of the largest task before."""
    try:
        return fn(item)
    finally:
        release_heap(collect=False, keep=WORKER_KEEPS)


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


def _stop(pool: ProcessPoolExecutor) -> None:
    """Shut a pool down without waiting for the tasks it may still run (an error ends the run,
    or a worker died): ProcessPoolExecutor has no public way to terminate them before 3.14."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


class LocalExecutor:
    """Worker processes on this machine (forked, so they share the parent's loaded models).

    The pool is forked on the first call that needs it and kept until `close()` (or exit), or
    until a worker dies."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._context = mp.get_context("fork")
        self._counter = self._context.Value("q", 0)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # What the parent holds now (modules, models, indexes) lives as long as the run:
            # frozen, a collection -- the driver's after each phase (heap.py), or an automatic
            # one in a worker -- no longer walks it, and a worker no longer writes to the pages
            # it shares with the driver (the `gc.freeze` advice of Python's gc docs). Each of
            # the driver's collections cost ~25 ms of serial time before.
            gc.freeze()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=self._context,
                                             initializer=_init_worker, initargs=(self._counter,))
        return self._pool

    def _drop_pool(self) -> None:
        if self._pool is not None:
            _stop(self._pool)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
            gc.unfreeze()

    def run_map(self, tasks: Iterable[MapTask], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        if self.workers <= 1 or (isinstance(tasks, Sequence) and len(tasks) <= 1):
            results = []
            for task in tasks:
                results.append(run_map_task(task, progress=advance))
                task_done()
            return results
        if isinstance(tasks, Sequence):  # all known: start the costly ones first
            source = iter([(i, tasks[i]) for i in longest_first(tasks)])
        else:  # a stream read as it goes: in order
            source = enumerate(tasks)
        counter = self._counter
        with counter.get_lock():
            counter.value = 0
        seen = 0

        def progress() -> None:
            nonlocal seen
            value = counter.value
            advance(value - seen)
            seen = value

        results: dict[int, dict] = {}
        pending: dict = {}  # future -> (position, task)
        more = True
        try:
            while more or pending:
                # Take tasks as they come (a stream's pieces are read meanwhile), keeping a
                # few per worker queued: workers never wait, memory stays bounded.
                while more and len(pending) < QUEUED_PER_WORKER * self.workers:
                    item = next(source, None)
                    if item is None:
                        more = False
                    else:
                        pending[self._get_pool().submit(_run_in_worker, item[1])] = item
                done, _ = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                progress()
                broken = []
                for future in done:
                    position, task = pending.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken.append((position, task))
                        continue
                    results[position] = future.result()  # a task's error ends the run here
                    task_done()
                if broken:  # the pool is gone: every task still unfinished is a suspect
                    wait(pending)
                    for future, (position, task) in pending.items():
                        if isinstance(future.exception(), BrokenProcessPool):
                            broken.append((position, task))
                        else:
                            results[position] = future.result()
                            task_done()
                    pending = {}
                    self._drop_pool()
                    for position, task in sorted(broken, key=lambda b: b[0]):
                        results[position] = self._alone(task)
                        progress()
                        task_done()
        except BaseException:
            self._drop_pool()
            raise
        progress()
        return [results[i] for i in range(len(results))]

    def _alone(self, task: MapTask) -> dict:
        """Run a task that was unfinished when a worker died, alone in a fresh worker, so a
        death is its own: quarantined after MAX_ATTEMPTS of them."""
        for _ in range(MAX_ATTEMPTS):
            pool = ProcessPoolExecutor(1, mp_context=self._context, initializer=_init_worker,
                                       initargs=(self._counter,))
            try:
                result = pool.submit(_run_in_worker, task).result()
                pool.shutdown()
                return result
            except BrokenProcessPool:
                pass
            finally:
                _stop(pool)
        return quarantine(task, MAX_ATTEMPTS, "BrokenProcessPool: the worker process died")

    def submit(self, fn: Callable, item) -> Callable[[], object]:
        """Start fn(item) on a worker and go on; the returned function waits for its result.
        With one worker it runs here, now. A worker that dies under it: run again (`map`)."""
        if self.workers <= 1:
            result = self.map(fn, [item])[0]
            return lambda: result
        future = self._get_pool().submit(_call_in_worker, fn, item)

        def result():
            try:
                return future.result()
            except BrokenProcessPool:
                self._drop_pool()
                return self.map(fn, [item])[0]
        return result

    def map(self, fn: Callable, items: Sequence) -> list:
        """fn over items in parallel, results in order (fn must be a module-level function)."""
        if self.workers <= 1 or len(items) <= 1:
            results = [fn(item) for item in items]
            # Trim only: a full collection here costs ~0.2 s a map in a process that has
            # imported torch; the step boundary (run_corpus_steps) collects.
            release_heap(collect=False)
            return results
        for _ in range(MAX_ATTEMPTS):
            try:
                return list(self._get_pool().map(_call_in_worker, repeat(fn), items))
            except BrokenProcessPool:
                self._drop_pool()
            except BaseException:
                self._drop_pool()
                raise
        raise UserError(f"a worker process died {MAX_ATTEMPTS} times running {fn.__name__} "
                        "(killed by the kernel for memory? try fewer --workers); the finished "
                        "work is kept: run the same command again to resume")
