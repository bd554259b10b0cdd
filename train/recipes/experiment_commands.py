"""How an experiment reruns a recipe stage with one thing changed, so that it can be replayed.

An experiment takes the command the recipe's stage ran (`_stage`), replaces some of its options
(`_with`: other data, another output, fewer steps) and runs it through `xiulian`, which prints
the command and returns it for the results page; the command resumes, so a rerun of the
recipe skips what is done.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from corpus.errors import UserError


def xiulian(args: list) -> str:
    """Run one `xiulian` command in-process (it resumes if already done); returns its text."""
    from corpus.cli import main
    args = [str(a) for a in args]
    line = "xiulian " + shlex.join(args)
    print(f"  $ {line}", flush=True)
    if main(args):
        raise UserError(f"experiment command failed: {line}")
    return line


def _with(command: list[str], **replace) -> list[str]:
    """A recipe stage's command with some options' values replaced (`init="x"`, `data=[...]`)."""
    command = list(command)
    for name, value in replace.items():
        flag = "-o" if name == "output" else "--" + name.replace("_", "-")
        at = command.index(flag)
        end = at + 1
        while end < len(command) and not command[end].startswith("-"):
            end += 1
        command[at + 1:end] = value if isinstance(value, list) else [str(value)]
    return command


def _stage(recipe: dict, out: Path, name: str) -> list[str]:
    from .recipe import stage_commands
    commands = stage_commands(recipe, out)
    if name not in commands:
        raise UserError(f"this experiment needs the recipe's [{name}] stage")
    return commands[name]


def _final_val(run: Path) -> dict:
    from train.core.plots import read_metrics
    val = [r for r in read_metrics(run) if "val_loss" in r]
    return val[-1] if val else {}
