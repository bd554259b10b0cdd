"""The local executor: the pipeline's pure tasks on worker processes of this machine.

Workers are forked, so they share the models and indexes the parent loaded before the fork.

A worker process that dies (a segfault in an extension, the kernel's OOM killer, a SIGKILL)
breaks its pool, and every task then unfinished fails with BrokenProcessPool; nobody can tell
which one killed it. So, as the Ray executor does with its retries: the map tasks that were
unfinished run again one at a time, each alone in a fresh worker, up to MAX_ATTEMPTS times;
one that kills its worker every time is quarantined into the ledger (quarantine.py), the others
finish, and the run goes on. A corpus step's call (`map`) is run again as a whole -- its
functions skip the files already written -- and after MAX_ATTEMPTS deaths the run ends with one
line saying so, the finished work kept for a resume.
"""
from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import UserError
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


def _stop(pool: ProcessPoolExecutor) -> None:
    """Shut a pool down without waiting for the tasks it may still run (an error ends the run,
    or a worker died): ProcessPoolExecutor has no public way to terminate them before 3.14."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


class LocalExecutor:
    """Worker processes on this machine (forked, so they share the parent's loaded models)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._context = mp.get_context("fork")

    def _pool(self, workers: int, counter=None) -> ProcessPoolExecutor:
        if counter is None:
            return ProcessPoolExecutor(workers, mp_context=self._context)
        return ProcessPoolExecutor(workers, mp_context=self._context, initializer=_init_worker,
                                   initargs=(counter,))

    def run_map(self, tasks: Iterable[MapTask], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        if self.workers <= 1 or (isinstance(tasks, Sequence) and len(tasks) <= 1):
            results = []
            for task in tasks:
                results.append(run_map_task(task, progress=advance))
                task_done()
            return results
        counter = self._context.Value("q", 0)
        seen = 0

        def progress() -> None:
            nonlocal seen
            value = counter.value
            advance(value - seen)
            seen = value

        source = iter(tasks)
        results: list[dict | None] = []
        pending: dict = {}  # future -> (position in results, task)
        more = True
        pool = self._pool(self.workers, counter)
        try:
            while more or pending:
                # Take tasks as they come (a stream's pieces are read meanwhile), keeping a
                # few per worker queued: workers never wait, memory stays bounded.
                while more and len(pending) < QUEUED_PER_WORKER * self.workers:
                    task = next(source, None)
                    if task is None:
                        more = False
                    else:
                        results.append(None)
                        pending[pool.submit(_run_in_worker, task)] = (len(results) - 1, task)
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
                    broken += [pending[f] for f in pending if isinstance(f.exception(), BrokenProcessPool)]
                    for future in [f for f in pending if not isinstance(f.exception(), BrokenProcessPool)]:
                        results[pending[future][0]] = future.result()
                        task_done()
                    pending = {}
                    _stop(pool)
                    for position, task in sorted(broken, key=lambda b: b[0]):
                        results[position] = self._alone(task, counter)
                        progress()
                        task_done()
                    pool = self._pool(self.workers, counter)
            progress()
            pool.shutdown()
            return results
        finally:
            _stop(pool)

    def _alone(self, task: MapTask, counter) -> dict:
        """Run a task that was unfinished when a worker died, alone in a fresh worker, so a
        death is its own: quarantined after MAX_ATTEMPTS of them."""
        for _ in range(MAX_ATTEMPTS):
            pool = self._pool(1, counter)
            try:
                result = pool.submit(_run_in_worker, task).result()
                pool.shutdown()
                return result
            except BrokenProcessPool:
                pass
            finally:
                _stop(pool)
        return quarantine(task, MAX_ATTEMPTS, "BrokenProcessPool: the worker process died")

    def map(self, fn: Callable, items: Sequence) -> list:
        """fn over items in parallel, results in order (fn must be a module-level function)."""
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        for _ in range(MAX_ATTEMPTS):
            pool = self._pool(min(self.workers, len(items)))
            try:
                results = list(pool.map(fn, items))
                pool.shutdown()
                return results
            except BrokenProcessPool:
                pass
            finally:
                _stop(pool)
        raise UserError(f"a worker process died {MAX_ATTEMPTS} times running {fn.__name__} "
                        "(killed by the kernel for memory? try fewer --workers); the finished "
                        "work is kept: run the same command again to resume")
