"""Settings for every training command, one way: defaults, then the TOML file, then the flags.

Each table of a training config is a dataclass (`TrainConfig` for `[train]`, `SFTDataConfig` for
`[data]`, `DPOConfig` for `[dpo]`, `LoraConfig` for `[lora]`, ...). A dataclass names the fields
that are also command-line flags in its `flags` mapping (field -> help, or (help, argparse
keywords)), so it generates its own options, as litgpt builds its CLI from its dataclasses and
TRL's *Config classes are their own argument parsers: `add_flags(parser, DPOConfig)` adds
`--beta` and `--label-smoothing`, `flag_values(args, DPOConfig)` reads them back, and
`resolve_tables` layers the stage's defaults, the file and the flags — a flag left out is None
and never overrides the file. `write_run_json` records what a run resolved.
"""
from __future__ import annotations

import argparse
import json
import os
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from corpus.config import read_toml
from corpus.errors import UserError


def given(values: dict | None) -> dict:
    """The values the user set: None means "not given" everywhere in a merge."""
    return {k: v for k, v in (values or {}).items() if v is not None}


def build(config_class, values: dict, table: str):
    """`config_class(**values)`; an unknown key or a bad value is a one-line error naming the table."""
    unknown = sorted(set(values) - {f.name for f in fields(config_class)})
    if unknown:
        raise UserError(f"unknown [{table}] option(s): {', '.join(unknown)}")
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad [{table}] config: {exc}") from None


def resolve_tables(config_path: str | None, tables: dict[str, type],
                   flags: dict[str, dict | None] | None = None,
                   defaults: dict[str, dict] | None = None, lora_train_defaults: dict | None = None) -> dict:
    """{table: config} for each of `tables` (name -> dataclass), each from its defaults, then the
    TOML file's table, then the flags given; the file may hold only these tables. `[lora]` comes
    back as the dict of values set, checked against its class (a run records only what was
    asked), and when it sets a rank, `lora_train_defaults` join `[train]`'s defaults: adapters
    want a higher learning rate than full fine-tuning."""
    file = read_toml(config_path, tuple(tables)) if config_path else {}
    flags, defaults = flags or {}, defaults or {}
    lora = {**file.get("lora", {}), **given(flags.get("lora"))}
    resolved = {}
    for table, config_class in tables.items():
        base = {**defaults.get(table, {}),
                **((lora_train_defaults or {}) if table == "train" and lora.get("rank") else {})}
        values = {**base, **file.get(table, {}), **given(flags.get(table))}
        built = build(config_class, values, table)
        resolved[table] = values if table == "lora" else built
    return resolved


def write_run_json(run_dir: str | os.PathLike, record: dict) -> Path:
    """`RUN/run.json`: what the run resolved (settings, inputs, counts), written before it trains."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return run


# ---- the tables every training command shares ------------------------------------------------

@dataclass
class TrainConfig:
    """`[train]` in a training config."""
    max_steps: int = 1000
    batch_size: int = 16            # sequences per micro-batch, per process
    grad_accum: int = 1             # micro-batches per optimizer step
    lr: float = 3e-3
    min_lr_ratio: float = 0.1       # cosine decays to lr * this
    warmup_steps: int | None = None # default: 5 % of max_steps, at most 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    optimizer: str = "adamw"        # or "muon" (matrices; AdamW for the rest)
    muon_lr: float = 0.02           # Muon's peak rate, scaled by the schedule like `lr`
    dtype: str = "auto"             # auto = bf16 where the hardware multiplies it, else fp32
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    eval_every: int = 100           # steps between validation passes; 0 = only at the end
    eval_batches: int = 8
    save_every: int = 0             # steps between checkpoints; 0 = eval_every
    log_every: int = 1

    flags: ClassVar[dict] = {  # the fields every training command takes as flags (core/config.py)
        "max_steps": "optimizer steps (the schedule ends here)",
        "save_every": "steps between checkpoints",
        "eval_every": "steps between validation passes",
        "batch_size": "sequences per micro-batch per process",
        "grad_accum": "micro-batches per step",
        "lr": "peak learning rate",
        "optimizer": ("optimizer for the matrices", {"choices": ("adamw", "muon")}),
        "dtype": ("auto: bf16 on CUDA and on CPUs with bf16 instructions (AVX512-BF16, AMX), fp32 elsewhere", {"choices": ("auto", "bf16", "fp32")}),
        "compile": "torch.compile the model",
        "device": "cpu, cuda, cuda:1 (default: CUDA when there is one)",
        "seed": "seed for initialisation and data order",
    }

    def __post_init__(self):
        if self.max_steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise UserError("max_steps, batch_size and grad_accum must be at least 1")
        if self.optimizer not in ("adamw", "muon"):
            raise UserError(f"optimizer must be adamw or muon, not {self.optimizer!r}")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise UserError(f"dtype must be auto, bf16 or fp32, not {self.dtype!r}")

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else min(100, self.max_steps // 20)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        return build(cls, values, "train")


@dataclass
class LoraConfig:
    """`[lora]` in a training config, and the `--lora-*` flags: what `apply_lora` takes."""
    rank: int | None = None         # unset: no adapters, the whole model trains
    alpha: float | None = None      # default 2 * rank
    targets: list[str] | None = None
    dropout: float = 0.0

    flags: ClassVar[dict] = {
        "rank": ("train LoRA adapters of rank R; base frozen", {"metavar": "R"}),
        "alpha": ("LoRA scale numerator (default 2R)", {"metavar": "A"}),
        "targets": ("projections to adapt (default: q k v o gate up down)", {"metavar": "NAME"}),
    }


# ---- flags generated from the dataclasses ------------------------------------------------------

def _flag_type(annotation):
    """(type, nargs) of a field: Optional[X] is X, a list takes one or more values."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) in (list, tuple):
        return typing.get_args(annotation)[0], "+"
    return annotation, None


def add_flags(p, config_class, prefix: str = "") -> None:
    """One `--prefix-field-name` option per entry of `config_class.flags`, default None."""
    hints = typing.get_type_hints(config_class)
    for name, spec in config_class.flags.items():
        help_text, extra = spec if isinstance(spec, tuple) else (spec, {})
        flag_type, nargs = _flag_type(hints[name])
        option = "--" + f"{prefix}{name}".replace("_", "-")
        if flag_type is bool:
            p.add_argument(option, action="store_true", default=None, help=help_text, **extra)
        else:
            p.add_argument(option, type=flag_type, nargs=nargs, help=help_text, **extra)


def flag_values(args, config_class, prefix: str = "") -> dict:
    """The flags `add_flags` made, as {field: value or None}."""
    return {name: getattr(args, f"{prefix}{name}") for name in config_class.flags}


# ---- the options the training commands share ---------------------------------------------------

def add_training_options(p, default_preset: str | None = "tiny") -> None:
    """The options every training stage shares (pretrain, sft, reward, dpo, kto, ppo)."""
    p.add_argument("-o", "--output", required=True, metavar="RUN",
                   help="run folder; an existing one is resumed")
    p.add_argument("--config", metavar="FILE", help="TOML with [model], [train] and [data] tables")
    if default_preset:
        p.add_argument("--preset", default=default_preset, help="model size: tiny, small or base")
    add_flags(p, TrainConfig)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def training_overrides(args) -> dict:
    return flag_values(args, TrainConfig)


def add_lora_options(p) -> None:
    add_flags(p, LoraConfig, prefix="lora_")


def lora_options(args) -> dict:
    return flag_values(args, LoraConfig, prefix="lora_")


def add_preference_options(p) -> None:
    """What `reward`, `dpo` and `kto` take: a start, preference files, training and LoRA options."""
    p.add_argument("--init", metavar="CKPT", help="checkpoint or run to start from (usually SFT)")
    p.add_argument("--data", nargs="+", metavar="FILE", help="preference files (JSON/JSONL, .gz ok)")
    add_training_options(p, default_preset=None)
    add_lora_options(p)


def require_options(p, args, names: tuple[str, ...]) -> None:
    missing = [f"--{n}" if n != "output" else "-o/--output" for n in names if not getattr(args, n)]
    if missing:
        p.error(f"the following arguments are required: {', '.join(missing)}")


def print_training_result(result: dict, quiet: bool) -> None:
    if quiet or int(os.environ.get("RANK", "0")) != 0:  # under torchrun, once: from rank 0
        return
    line = f"step {result['step']}"
    if "val_loss" in result:
        line += f": validation loss {result['val_loss']:.4f}, perplexity {result['val_ppl']:.2f}"
    print(f"{line}; checkpoint in {result['run']}/checkpoint, curve in {result['run']}/loss.png")


def add_sampling_options(p, temperature: float = 0.8) -> None:
    """For the commands that generate (chat, generate, judge, self-instruct)."""
    p.add_argument("--max-new-tokens", type=_bounded(int, 1), default=200)
    p.add_argument("--temperature", type=_bounded(float, 0), default=temperature, help="0 = greedy")
    p.add_argument("--top-k", type=_bounded(int, 1), default=None)
    p.add_argument("--top-p", type=_bounded(float, 0, 1, low_open=True), default=None)
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--device", default="cpu")


def _bounded(kind: type, low: float, high: float | None = None, low_open: bool = False):
    """An argparse type: `kind`, within [low, high] ((low, high] with low_open)."""
    def parse(text: str):
        value = kind(text)
        if value < low or (low_open and value == low) or (high is not None and value > high):
            span = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
            raise argparse.ArgumentTypeError(f"{text} is outside {span}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse
