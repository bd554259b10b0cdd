"""`xiulian recipe run RECIPE.toml -o OUT`: the whole road, crawl to chat model, in one command.

A recipe is a TOML file with one table per stage. Each stage is an ordinary `xiulian` command
whose inputs are wired to the outputs of the stages before it; the table's keys are that
command's options (`max_steps = 200` is `--max-steps 200`, a list is several values, `true` a
flag). The runner prints each command before it runs it, so every step can be replayed by hand,
and records finished commands in OUT/recipe.json: running the recipe again skips what is done
and resumes what was interrupted (every command resumes by itself), and a stage whose options
changed runs again. Stages, in order — a recipe leaves out the ones it does not want:

    prepare    line-per-document .txt files -> OUT/inputs/*.jsonl (no command: a file rewrite)
    clean      xiulian clean INPUTS... -o OUT/clean
    tokenizer  xiulian tokenizer train OUT/clean/shards -o OUT/tokenizer
    pretrain   xiulian pretrain --data OUT/clean/shards --tokenizer OUT/tokenizer -o OUT/pretrain
    sft        xiulian sft --init OUT/pretrain --data ... -o OUT/sft
    sft_lora   xiulian sft --init OUT/pretrain --data ... -o OUT/sft_lora --lora-rank R
    reward     xiulian reward --init OUT/sft --data ... -o OUT/reward
    reward_proxy  the same on a small part of the data ([data] max_train in its --config): the
               proxy of the reward-hacking measurement, where OUT/reward plays the gold judge
    dpo        xiulian dpo --init OUT/sft --data ... -o OUT/dpo
    ppo        xiulian ppo --init OUT/sft --reward OUT/reward --prompts ... -o OUT/ppo
               (with reward_proxy: --reward OUT/reward_proxy --gold-reward OUT/reward)
    evaluate   the results page, OUT/RESULTS.md (train/recipes/report.py)

`[recipe] base = "other.toml"` starts from another recipe's tables (this file's replace them
whole): data/recipes/experiments.toml runs the lecture's experiments on the small recipe's
outputs that way. Relative paths are relative to the directory the recipe runs from (the project root for the
recipes in data/recipes/); `$SHARED` expands to the shared data folder (../shared/data unless
the environment sets SHARED).
"""
from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

from corpus.config import read_toml
from corpus.errors import UserError
from corpus.finalize import write_atomic_json

STAGES = ("prepare", "clean", "tokenizer", "pretrain", "sft", "sft_lora", "reward", "reward_proxy",
          "dpo", "ppo", "evaluate")
STATE = "recipe.json"


def load_recipe(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such recipe: {path}")
    recipe = read_toml(path)
    base = recipe.get("recipe", {}).get("base")
    if base:  # another recipe's stages, this one's tables replacing them whole
        recipe = {**load_recipe(base), **recipe}
    unknown = sorted(set(recipe) - set(STAGES) - {"recipe"})
    if unknown:
        raise UserError(f"{path}: unknown table(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
    return expand_paths(recipe)


def expand_paths(value):
    """Environment variables in every string of a TOML table; $SHARED defaults to ../shared/data."""
    os.environ.setdefault("SHARED", str(Path("..", "shared", "data")))
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, list):
        return [expand_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_paths(v) for k, v in value.items()}
    return value


def options(table: dict, skip: tuple[str, ...] = ()) -> list[str]:
    """A stage table's keys as command-line options, in the table's order."""
    args: list[str] = []
    for key, value in table.items():
        if key in skip:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False:
            continue
        elif isinstance(value, list):
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return args


def stage_commands(recipe: dict, out: Path) -> dict[str, list[str]]:
    """The `xiulian` argument list of each stage the recipe has, wired together."""
    o = lambda name: str(out / name)  # noqa: E731
    commands: dict[str, list[str]] = {}
    if "clean" in recipe:
        table = recipe["clean"]
        inputs = [*table.get("inputs", []), *prepared_files(recipe, out)]
        if not inputs:
            raise UserError("[clean] needs inputs (or [prepare] line_documents)")
        commands["clean"] = ["clean", *inputs, "-o", o("clean"), *options(table, ("inputs",))]
    shards = o("clean/shards")
    if "tokenizer" in recipe:
        commands["tokenizer"] = ["tokenizer", "train", shards, "-o", o("tokenizer"), *options(recipe["tokenizer"])]
    if "pretrain" in recipe:
        commands["pretrain"] = ["pretrain", "--data", shards, "--tokenizer", o("tokenizer"), "-o", o("pretrain"),
                                *options(recipe["pretrain"])]
    for name in ("sft", "sft_lora"):
        if name in recipe:
            table = {"data": recipe.get("sft", {}).get("data"), **recipe[name]}
            if not table.get("data"):
                raise UserError(f"[{name}] needs data")
            commands[name] = ["sft", "--init", o("pretrain"), "-o", o(name), *options(table)]
    policy = o("sft")
    if "reward" in recipe:
        commands["reward"] = ["reward", "--init", policy, "-o", o("reward"), *options(recipe["reward"])]
    if "reward_proxy" in recipe:
        table = {"data": recipe.get("reward", {}).get("data"), **recipe["reward_proxy"]}
        commands["reward_proxy"] = ["reward", "--init", policy, "-o", o("reward_proxy"), *options(table)]
    if "dpo" in recipe:
        commands["dpo"] = ["dpo", "--init", policy, "-o", o("dpo"), *options(recipe["dpo"])]
    if "ppo" in recipe:
        judges = (["--reward", o("reward_proxy"), "--gold-reward", o("reward")] if "reward_proxy" in recipe
                  else ["--reward", o("reward")])
        commands["ppo"] = ["ppo", "--init", policy, *judges, "-o", o("ppo"), *options(recipe["ppo"])]
    return commands


def prepared_files(recipe: dict, out: Path) -> list[str]:
    return [str(out / "inputs" / (Path(p).name.split(".")[0] + ".jsonl"))
            for p in recipe.get("prepare", {}).get("line_documents", [])]


def prepare_line_documents(recipe: dict, out: Path) -> None:
    """Each non-empty line of a .txt file becomes a document (Wikipedia dumps one article per
    line); the id is the file's stem and the line number, so it is stable."""
    for source, target in zip(recipe.get("prepare", {}).get("line_documents", []), prepared_files(recipe, out)):
        if not Path(source).is_file():
            raise UserError(f"[prepare] no such file: {source}")
        target = Path(target)
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        stem, temporary = target.stem, target.with_suffix(".jsonl.tmp")
        with open(source, encoding="utf-8") as lines, open(temporary, "w", encoding="utf-8") as f:
            for number, line in enumerate(lines):
                if line.strip():
                    f.write(json.dumps({"id": f"{stem}-{number}", "text": line.strip()},
                                       ensure_ascii=False) + "\n")
        temporary.replace(target)


def run_recipe(recipe_path: str, out: str, only: list[str] | None = None) -> Path:
    """Run (or resume) every stage of the recipe; returns OUT/RESULTS.md."""
    from corpus.cli import main as xiulian
    recipe = load_recipe(recipe_path)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_file = out_dir / STATE
    state = json.loads(state_file.read_text()) if state_file.is_file() else {"done": {}}
    state["recipe"] = str(recipe_path)
    prepare_line_documents(recipe, out_dir)
    commands = stage_commands(recipe, out_dir)
    wanted = [s for s in STAGES if s in commands and (not only or s in only)]
    for number, stage in enumerate(wanted, 1):
        command = commands[stage]
        line = "xiulian " + shlex.join(command)
        if state["done"].get(stage, {}).get("command") == command:
            print(f"[{number}/{len(wanted)}] {stage}: done earlier ({line})", flush=True)
            continue
        print(f"[{number}/{len(wanted)}] {stage}: $ {line}", flush=True)
        started = time.perf_counter()
        code = xiulian(command)
        if code:
            raise UserError(f"stage {stage} failed (exit {code}); fix it and run the recipe again "
                            f"to resume: {line}")
        state["done"][stage] = {"command": command, "seconds": round(time.perf_counter() - started, 1)}
        write_atomic_json(str(state_file), state)
    if "evaluate" in recipe and (not only or "evaluate" in only):
        from .report import write_results
        print(f"[evaluate] writing {out_dir / 'RESULTS.md'}", flush=True)
        results = write_results(recipe, Path(recipe_path), out_dir, state)
        return results
    return out_dir / "RESULTS.md"

