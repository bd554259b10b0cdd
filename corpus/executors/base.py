"""The executor contract: what `clean` and the corpus steps need from whatever runs their tasks.

An executor runs pure tasks (a spec in, files out) and hands results back in task order, so the
output never depends on which executor ran them or how many workers it had. Steps never see
the executor; only `clean` (the map phase) and `CorpusView.map` (the corpus steps) call it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs the map phase's tasks and the corpus steps' module-level functions."""

    workers: int

    def run_map(self, tasks: Iterable[Any], advance: Callable[[int], None],
                task_done: Callable[[], None]) -> list[dict]:
        """Run every map task (pipeline.MapTask); `advance(n)` as records are read, `task_done()`
        as each task finishes; returns each task's counts, in task order. `tasks` may be an
        iterator that reads a stream as it goes (planner.py): take them as they come, with only
        a few per worker unfinished at once, so a stream's pieces never pile up in memory."""
        ...

    def map(self, fn: Callable, items: Sequence) -> list:
        """`fn` (a module-level function) over `items` on the workers; results in order."""
        ...

    def submit(self, fn: Callable, item: Any) -> Callable[[], Any]:
        """Start `fn(item)` (module-level) on a worker and return at once: the parent, and the
        other workers, go on with other work meanwhile; calling the returned function waits
        for the result. With one worker it may simply run now."""
        ...

    def close(self) -> None:
        """Release the workers (the run is over)."""
        ...
