"""Test-set decontamination: remove training documents that contain benchmark items.

`step.py` holds the `decontam` pipeline step; `index.py` the n-gram index it builds once per
run; `normalize.py` the normalisation and hashing both share; `benchmarks.py` reads benchmark
files of any common format; `cut.py` takes matched text out for `action = "cut"`.
`with_benchmarks` is what `--benchmark` on the command line does. Guide: docs/decontam.md.
"""
from __future__ import annotations

from .step import Decontaminate

__all__ = ["Decontaminate", "with_benchmarks"]


def with_benchmarks(config: dict, paths: list[str], fields: list[str] | None = None,
                    holdout_from: list[str] | None = None) -> dict:
    """`config` (resolved) with a decontam step for these benchmark (and validation) files.

    An existing decontam step gets the given files (and `fields`, when given) in place of its
    own, keeping its other options; otherwise a new step goes after the last per-document step,
    before the corpus-wide ones (dedup), which must come last.
    """
    from ..config import resolve_steps
    from ..corpus_steps import CorpusStep
    from ..steps import REGISTRY

    options: dict = {}
    if paths:
        options["benchmarks"] = list(paths)
    if fields:
        options["fields"] = list(fields)
    if holdout_from:
        options["holdout_from"] = list(holdout_from)
    steps = [dict(s) for s in config["steps"]]
    existing = [i for i, s in enumerate(steps) if s["use"] == Decontaminate.name]
    if existing:
        steps[existing[-1]].update(options)
    else:
        per_document = [i for i, s in enumerate(steps)
                        if not issubclass(REGISTRY[s["use"]], CorpusStep)]
        at = per_document[-1] + 1 if per_document else 0
        steps.insert(at, {"use": Decontaminate.name, **options})
    return {**config, "steps": resolve_steps(steps, "--benchmark")}
