"""The options the training commands share, and the sampling options of the commands that
generate."""
from __future__ import annotations

import argparse


def add_training_options(p, default_preset: str | None = "tiny") -> None:
    """The options every training stage shares (pretrain, sft, reward, dpo, kto, ppo)."""
    p.add_argument("-o", "--output", required=True, metavar="RUN",
                   help="run folder; an existing one is resumed")
    p.add_argument("--config", metavar="FILE", help="TOML with [model], [train] and [data] tables")
    if default_preset:
        p.add_argument("--preset", default=default_preset, help="model size: tiny, small or base")
    p.add_argument("--max-steps", type=int, help="optimizer steps (the schedule ends here)")
    p.add_argument("--save-every", type=int, help="steps between checkpoints")
    p.add_argument("--eval-every", type=int, help="steps between validation passes")
    p.add_argument("--batch-size", type=int, help="sequences per micro-batch per process")
    p.add_argument("--grad-accum", type=int, help="micro-batches per step")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--optimizer", choices=("adamw", "muon"), help="optimizer for the matrices")
    p.add_argument("--dtype", choices=("auto", "bf16", "fp32"), help="auto: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when there is one)")
    p.add_argument("--seed", type=int, help="seed for initialisation and data order")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def training_overrides(args) -> dict:
    names = ("max_steps", "save_every", "eval_every", "batch_size", "grad_accum", "lr",
             "optimizer", "dtype", "compile", "device", "seed")
    return {name: getattr(args, name) for name in names}


def add_lora_options(p) -> None:
    p.add_argument("--lora-rank", type=int, metavar="R", help="train LoRA adapters of rank R; base frozen")
    p.add_argument("--lora-alpha", type=float, metavar="A", help="LoRA scale numerator (default 2R)")
    p.add_argument("--lora-targets", nargs="+", metavar="NAME",
                   help="projections to adapt (default: q k v o gate up down)")


def lora_options(args) -> dict:
    return {"rank": args.lora_rank, "alpha": args.lora_alpha, "targets": args.lora_targets}


def print_training_result(result: dict, quiet: bool) -> None:
    if quiet:
        return
    line = f"step {result['step']}"
    if "val_loss" in result:
        line += f": validation loss {result['val_loss']:.4f}, perplexity {result['val_ppl']:.2f}"
    print(f"{line}; checkpoint in {result['run']}/checkpoint, curve in {result['run']}/loss.png")


def add_sampling_options(p, temperature: float = 0.8) -> None:
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
