"""VARIANTS.toml for `xiulian ablate`: what is compared, checked whole before anything runs.

    [ablation]
    inputs = ["$SHARED/web/warc/...", ...]     # cleaned by every variant
    heldout = ["$SHARED/text/..."]             # scored by every model, trained on by none
    seeds = [0, 1, 2]
    tokens = 1_000_000                         # training tokens per model (same for all)
    preset = "tiny"                            # proxy model; `pretrain_config` adds [model]/[train]
    vocab_size = 4096                          # one tokenizer for all, trained on `tokenizer_from`
    tasks = ["hellaswag", "arc_challenge"]     # benchmark tasks (xiulian eval --tasks)
    task_limit = 100                           # or { hellaswag = 200, mmlu = 5 }

    [variants.default]                         # the shipped `xiulian clean` config
    [variants.none]
    steps = [{ use = "extract" }]              # a whole pipeline, inline ...
    [variants.no_dedup]
    drop_steps = ["exact_dedup", "minhash_dedup"]   # ... or the default (or `config`) edited
    [variants.weighted]
    source_weights = { c4_demo = 2.0 }         # pretraining [data] source weights

Every variant's pipeline gets a `decontam` step against the held-out files (`clean
--holdout-from`), so no variant trains on the text it is scored on. A variant is resolved into a
clean config and a [data] table; two variants with the same clean config share one cleaned
corpus. Mistakes (an unknown step, a missing file, an unknown task, a benchmark file without its
fields) are one-line errors here, before any cleaning or training starts.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import UserError

SETTINGS = {"name", "title", "inputs", "heldout", "seeds", "tokens", "preset", "pretrain_config",
            "vocab_size", "tokenizer_from", "tasks", "task_limit", "heldout_tokens", "workers",
            "executor", "publish"}
VARIANT_KEYS = {"description", "config", "steps", "drop_steps", "add_steps", "source_weights"}


@dataclass
class Variant:
    name: str
    description: str
    clean_config: dict               # resolved, as `xiulian clean` records it
    data: dict                       # pretraining [data] overrides (source_weights)

    @property
    def clean_key(self) -> str:
        """Names the cleaned corpus: variants with one clean config share it."""
        text = json.dumps(self.clean_config, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Ablation:
    name: str
    title: str
    inputs: list[str]
    heldout: list[str]
    seeds: list[int]
    tokens: int
    preset: str
    pretrain_config: str | None
    vocab_size: int
    tokenizer_from: str
    tasks: list[str]
    task_limit: dict[str, int | None]     # per task: first N items (per subject for mmlu, cmmlu)
    heldout_tokens: int
    workers: int
    executor: str
    publish: str | None
    variants: list[Variant] = field(default_factory=list)
    steps: int = 0                   # optimizer steps that spend `tokens`
    tokens_per_step: int = 0


def load_ablation(path: str | os.PathLike, workers: int | None = None, executor: str | None = None) -> Ablation:
    """Read, expand ($SHARED) and check VARIANTS.toml; every error is a UserError."""
    from corpus.config import read_toml

    from .recipe import expand_paths
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such variants file: {path}")
    raw = expand_paths(read_toml(path, ("ablation", "variants")))
    settings = raw.get("ablation", {})
    unknown = sorted(set(settings) - SETTINGS)
    if unknown:
        raise UserError(f"{path}: [ablation] has no option(s) {', '.join(unknown)} "
                        f"(options: {', '.join(sorted(SETTINGS))})")
    variants_raw = raw.get("variants", {})
    if len(variants_raw) < 2:
        raise UserError(f"{path}: an ablation compares at least two [variants.NAME] tables")
    ablation = Ablation(
        name=settings.get("name", path.stem), title=settings.get("title", f"Ablation {path.stem}"),
        inputs=_files(settings.get("inputs"), "inputs", path),
        heldout=_files(settings.get("heldout"), "heldout", path),
        seeds=_ints(settings.get("seeds", [0]), "seeds", path),
        tokens=_positive(settings.get("tokens", 1_000_000), "tokens", path),
        preset=settings.get("preset", "tiny"), pretrain_config=settings.get("pretrain_config"),
        vocab_size=_positive(settings.get("vocab_size", 4096), "vocab_size", path),
        tokenizer_from=settings.get("tokenizer_from", next(iter(variants_raw))),
        tasks=list(settings.get("tasks", [])), task_limit={},
        heldout_tokens=_positive(settings.get("heldout_tokens", 500_000), "heldout_tokens", path),
        workers=workers or _positive(settings.get("workers", 1), "workers", path),
        executor=executor or settings.get("executor", "local"), publish=settings.get("publish"))
    if ablation.tokenizer_from not in variants_raw:
        raise UserError(f"{path}: tokenizer_from names no variant: {ablation.tokenizer_from!r}")
    for name, table in variants_raw.items():
        ablation.variants.append(_variant(name, table, ablation.heldout, path))
    _check_training(ablation, path)
    _check_tasks(ablation, settings.get("task_limit"), path)
    return ablation


def _files(value, key: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UserError(f"{path}: [ablation] {key} must be a non-empty list of paths")
    missing = [v for v in value if not os.path.exists(v)]
    if missing:
        raise UserError(f"{path}: [ablation] {key}: no such file or folder: {missing[0]}")
    return value


def _ints(value, key: str, path: Path) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) for v in value) \
            or len(set(value)) != len(value):
        raise UserError(f"{path}: [ablation] {key} must be a list of distinct integers")
    return value


def _positive(value, key: str, path: Path) -> int:
    if not isinstance(value, int) or value < 1:
        raise UserError(f"{path}: [ablation] {key} must be a positive integer")
    return value


def _variant(name: str, table: dict, heldout: list[str], path: Path) -> Variant:
    """One [variants.NAME] table as a resolved clean config (held-out decontam added) and [data]."""
    from corpus.config import load_config, resolve
    from corpus.decontam import with_benchmarks
    where = f"{path}: [variants.{name}]"
    if not isinstance(table, dict):
        raise UserError(f"{where} must be a table")
    unknown = sorted(set(table) - VARIANT_KEYS)
    if unknown:
        raise UserError(f"{where} has no option(s) {', '.join(unknown)} (options: {', '.join(sorted(VARIANT_KEYS))})")
    try:
        if "steps" in table:
            if "config" in table:
                raise UserError(f"{where}: give `steps` or `config`, not both")
            base = resolve({"steps": table["steps"]}, where)
        else:
            config = table.get("config", "default")
            base = load_config(None if config == "default" else config)
        steps = [dict(s) for s in base["steps"]]
        dropped = table.get("drop_steps", [])
        absent = [s for s in dropped if s not in {step["use"] for step in steps}]
        if absent:
            raise UserError(f"{where}: drop_steps names step(s) the pipeline does not have: {', '.join(absent)}")
        steps = [s for s in steps if s["use"] not in dropped]
        steps = _insert(steps, table.get("add_steps", []), where)
        if not steps:
            raise UserError(f"{where}: no steps left")
        config = resolve({**{k: base[k] for k in ("seed", "read")}, "steps": steps}, where)
        config = with_benchmarks(config, [], holdout_from=heldout)
    except UserError as exc:
        message = str(exc)
        raise UserError(message if message.startswith(str(path)) else f"{where}: {message}") from None
    weights = table.get("source_weights", {})
    if not isinstance(weights, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in weights.values()):
        raise UserError(f"{where}: source_weights must map source names to weights >= 0")
    return Variant(name, table.get("description", ""), config,
                   {"source_weights": dict(weights)} if weights else {})


def _insert(steps: list[dict], added: list, where: str) -> list[dict]:
    """Added per-document steps go before the first corpus-wide one (dedup), as the pipeline wants."""
    from corpus.config import _register_builtin_steps
    from corpus.corpus_steps import CorpusStep
    from corpus.steps import REGISTRY
    if not isinstance(added, list) or not all(isinstance(s, dict) and "use" in s for s in added):
        raise UserError(f"{where}: add_steps must be a list of {{ use = \"STEP\", ... }} tables")
    _register_builtin_steps()
    steps = list(steps)
    for spec in added:
        if spec["use"] not in REGISTRY:
            raise UserError(f"{where}: unknown step {spec['use']!r} in add_steps")
        corpus_wide = [i for i, s in enumerate(steps) if issubclass(REGISTRY[s["use"]], CorpusStep)]
        at = len(steps) if issubclass(REGISTRY[spec["use"]], CorpusStep) or not corpus_wide else corpus_wide[0]
        steps.insert(at, dict(spec))
    return steps


def _check_training(ablation: Ablation, path: Path) -> None:
    """The proxy model's config resolves, and the token budget becomes a step count."""
    from train.stages.pretrain.pretrain import resolve_config
    for variant in ablation.variants:
        config = resolve_config(ablation.preset, ablation.pretrain_config, {}, ablation.vocab_size)
        try:
            from train.data.token_shards import DataConfig
            DataConfig(**{**config["data"], **variant.data})
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path}: [variants.{variant.name}]: bad [data]: {exc}") from None
    train = config["train"]
    ablation.tokens_per_step = train["batch_size"] * train["grad_accum"] * config["model"]["max_seq_len"]
    ablation.steps = max(1, math.ceil(ablation.tokens / ablation.tokens_per_step))


def _check_tasks(ablation: Ablation, limit, path: Path) -> None:
    """Task names and their files, read and checked now rather than after an hour of training;
    `task_limit` is one number for every task or a table by task."""
    from train.eval.benchmark_tasks import load_docs, parse_task_names, task_file
    if not ablation.tasks:
        return
    ablation.tasks = parse_task_names(",".join(ablation.tasks))
    limits = limit if isinstance(limit, dict) else {name: limit for name in ablation.tasks}
    unknown = sorted(set(limits) - set(ablation.tasks))
    if unknown or not all(v is None or isinstance(v, int) and v > 0 for v in limits.values()):
        raise UserError(f"{path}: [ablation] task_limit must be a positive integer, or a table of "
                        f"them by task (of {', '.join(ablation.tasks)})")
    ablation.task_limit = {name: limits.get(name) for name in ablation.tasks}
    for name in ablation.tasks:
        load_docs(name, task_file(name, {}))
