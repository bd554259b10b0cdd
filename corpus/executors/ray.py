"""The Ray executor: the same pure tasks as the local executor, as Ray tasks on a cluster.

Faults, and what happens:
* a worker process or a whole node dies mid-task: Ray runs the task again elsewhere
  (`max_retries`); a task that finished before is never recomputed, because its
  `counts.json` exists (written last; see pipeline.py), and a rerun writes the same bytes;
* the worker dies on every attempt (a poisoned input): the map task is quarantined into the
  ledger after the retries (quarantine.py) instead of failing the run;
* the driver dies: the tasks' results are in OUT, so the same command resumes from there;
* the object store fails: requests are retried with backoff (fs.py, uris.py); an error that
  persists fails the task and the run with one line.
Workers on other machines need OUT where they all reach it: an object-store URI (s3://,
gs://; see corpus/fs.py) or a shared filesystem.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from ..errors import UserError
from ..pipeline import MapTask, run_map_task
from .quarantine import quarantine

MAX_RETRIES = 3
QUEUED_PER_WORKER = 2


class RayExecutor:
    def __init__(self, workers: int, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'xiulian[ray]'") from None
        self.ray = ray
        self.workers = max(1, workers)
        if not ray.is_initialized():
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance
            options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address:
                ray.init(address=address, **options)
            else:  # a private local instance with exactly the worker count asked for, never a
                # cluster that `ray start` left running on this machine
                ray.init(address="local", num_cpus=self.workers, **options)
        self._run_task = ray.remote(max_retries=MAX_RETRIES)(run_map_task)
        # The worker process died (a segfault, the memory monitor): on every attempt, the input is
        # to blame. A lost node is not (NodeDiedError): that one fails the run, which resumes.
        self._crashes = (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError)

    def run_map(self, tasks: Iterable[MapTask], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        refs, pending, task_of, results = [], [], {}, {}
        for task in tasks:  # taken as they come, a few per worker unfinished at once
            while len(pending) >= QUEUED_PER_WORKER * self.workers:
                pending = self._wait(pending, task_of, results, advance, task_done)
            refs.append(self._run_task.remote(task))
            task_of[refs[-1]] = task
            pending.append(refs[-1])
        while pending:
            pending = self._wait(pending, task_of, results, advance, task_done)
        return [results[ref] for ref in refs]

    def _wait(self, pending: list, task_of: dict, results: dict,
              advance: Callable[[int], None], task_done: Callable[[], None]) -> list:
        done, pending = self.ray.wait(pending, num_returns=1, timeout=0.5)
        for ref in done:
            task = task_of.pop(ref)  # a stream's piece carries its bytes: let them go
            try:
                results[ref] = self.ray.get(ref)
            except self._crashes as exc:
                results[ref] = quarantine(task, MAX_RETRIES + 1, type(exc).__name__)
            advance(results[ref]["read"])
            task_done()
        return pending

    def close(self) -> None:
        """Nothing to release: Ray keeps its workers for the next run in this process."""

    def submit(self, fn: Callable, item) -> Callable[[], object]:
        ref = self.ray.remote(max_retries=MAX_RETRIES)(fn).remote(item)
        return lambda: self.ray.get(ref)

    def map(self, fn: Callable, items: Sequence) -> list:
        remote = self.ray.remote(max_retries=MAX_RETRIES)(fn)
        return self.ray.get([remote.remote(item) for item in items])
