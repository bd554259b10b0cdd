"""Pipeline configs: a TOML file with a `[[steps]]` list, validated into a resolved dict.

The resolved config spells out every option of every step, defaults included, so the manifest
says exactly what ran.
"""
from __future__ import annotations

import inspect
import os
import tomllib
from importlib import resources

from .errors import UserError
from .steps import REGISTRY, Step, build_step

TOP_LEVEL = {"seed", "read", "steps"}
READ_OPTIONS = {"max_bytes": int}


def _register_builtin_steps() -> None:
    """Import every module that defines steps, so REGISTRY knows them by name."""
    from . import decontam, dedup, extract  # noqa: F401
    try:
        import filters  # noqa: F401  (filters registers its steps on import)
    except ImportError:
        pass


def load_config(path: str | None = None) -> dict:
    """Read and validate a config file (the shipped default when `path` is None)."""
    if path is None:
        text = resources.files("corpus").joinpath("configs/default.toml").read_text("utf-8")
        return resolve(parse_toml(text, "default config"), "default config")
    return resolve(read_toml(path), path)


def read_toml(path: str | os.PathLike, tables: tuple[str, ...] | None = None) -> dict:
    """The project's one TOML reader (pipeline configs, training configs, recipes): a missing,
    unreadable or invalid file, or a table not among `tables`, is a one-line UserError."""
    if not os.path.isfile(path):
        raise UserError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config {path}: {exc}") from None
    raw = parse_toml(text, str(path))
    unknown = sorted(set(raw) - set(tables)) if tables is not None else []
    if unknown:
        raise UserError(f"{path}: unknown section(s) {', '.join(unknown)}; "
                        f"use {', '.join(f'[{t}]' for t in tables)}")
    return raw


def parse_toml(text: str, where: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where}: not valid TOML: {exc}") from None


def resolve(raw: dict, where: str = "config") -> dict:
    unknown = set(raw) - TOP_LEVEL
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                        f"(allowed: {', '.join(sorted(TOP_LEVEL))})")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int):
        raise UserError(f"{where}: seed must be an integer")
    read = dict(raw.get("read", {}))
    for key, value in read.items():
        if key not in READ_OPTIONS:
            raise UserError(f"{where}: [read] has no option {key!r} (options: {', '.join(READ_OPTIONS)})")
        if not isinstance(value, READ_OPTIONS[key]) or value <= 0:
            raise UserError(f"{where}: [read] {key} must be a positive integer")
    steps = raw.get("steps", [])
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise UserError(f"{where}: needs at least one [[steps]] table")
    return {"seed": seed, "read": read, "steps": resolve_steps(steps, where)}


def resolve_steps(steps: list[dict], where: str = "config") -> list[dict]:
    """Validate `[[steps]]` tables and spell out every option, defaults included."""
    _register_builtin_steps()
    from .corpus_steps import CorpusStep
    resolved_steps = []
    seen_corpus_step = None
    for spec in steps:
        step = build_step(spec)  # raises a UserError naming the mistake
        if isinstance(step, CorpusStep):
            seen_corpus_step = step.name
        elif seen_corpus_step:
            raise UserError(f"{where}: step {step.name!r} looks at one document at a time, so it must "
                            f"come before the corpus-wide step {seen_corpus_step!r}")
        resolved_steps.append({"use": spec["use"], **defaults_of(REGISTRY[spec["use"]]), **spec})
    return resolved_steps


def corpus_steps_only(config: dict) -> dict:
    """The same config with only its corpus-wide steps (dedup ...), for `xiulian dedup`."""
    from .corpus_steps import CorpusStep
    _register_builtin_steps()
    steps = [s for s in config["steps"] if issubclass(REGISTRY[s["use"]], CorpusStep)]
    if not steps:
        raise UserError("the config has no corpus-wide (dedup) steps")
    return {**config, "steps": steps}


def defaults_of(cls: type[Step]) -> dict:
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params
            if p.kind == p.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}


def build_steps(config: dict) -> list[Step]:
    _register_builtin_steps()
    return [build_step(spec) for spec in config["steps"]]
