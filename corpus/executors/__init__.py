"""Executors run the pipeline's pure tasks: `local` on processes of this machine (the default,
no Ray import), `ray` on a Ray cluster. Both keep the contract in base.py (`Executor`).

This package may import corpus.pipeline (the task runner) and corpus.errors; nothing in
corpus imports it except clean.py, and Ray is imported only when `--executor ray` is asked for.
"""
from __future__ import annotations

from ..errors import UserError
from .base import EXECUTORS, Executor
from .local import LocalExecutor


def make_executor(name: str, workers: int, ray_address: str | None = None) -> Executor:
    if name == "local":
        if ray_address:
            raise UserError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        from .ray import RayExecutor
        return RayExecutor(workers, ray_address)
    raise UserError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]
