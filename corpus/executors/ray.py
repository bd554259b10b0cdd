"""The Ray executor: the same pure tasks as the local executor, as Ray tasks.

A task whose worker dies is retried by Ray (`max_retries`); a task that finished before is
never recomputed, because its `counts.json` exists (written last; see pipeline.py).
Workers on other machines need OUT where they all reach it: a shared filesystem or an
object-store URI (s3://, gs://; see corpus/fs.py).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from ..errors import UserError
from ..pipeline import MapTask, run_map_task

MAX_RETRIES = 3


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
            else:  # a local instance with exactly the worker count asked for
                ray.init(num_cpus=self.workers, **options)
        self._run_task = ray.remote(max_retries=MAX_RETRIES)(run_map_task)

    def run_map(self, tasks: Sequence[MapTask], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        ray = self.ray
        refs = [self._run_task.remote(task) for task in tasks]
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in done:
                advance(ray.get(ref)["read"])
                task_done()
        return ray.get(refs)

    def map(self, fn: Callable, items: Sequence) -> list:
        remote = self.ray.remote(max_retries=MAX_RETRIES)(fn)
        return self.ray.get([remote.remote(item) for item in items])
