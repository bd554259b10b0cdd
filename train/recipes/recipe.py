"""`xiulian recipe run RECIPE.toml -o OUT`: the whole road, crawl to chat model, in one command.

A recipe is a TOML file with one table per stage. Each stage is an ordinary `xiulian` command
whose inputs are wired to the outputs of the stages before it; the table's keys are that
command's options (`max_steps = 200` is `--max-steps 200`, a list is several values, `true` a
flag). The runner prints each command before it runs it, so every step can be replayed by hand,
and records finished commands in OUT/recipe.json: running the recipe again skips what is done
and resumes what was interrupted (every command resumes by itself). A stage runs again when its
command changed, when a `--config` file it reads changed, when a stage whose output it reads ran
again since it finished, or when its output folder is gone; it then starts over (its finished
folder is kept beside it as FOLDER.previous: resuming a finished run would keep its old
weights and schedule), and says so. Stages, in order — a recipe leaves out the ones it does not want:

    prepare    line_documents (one per .txt line) and json_documents (nested JSON prose) ->
               OUT/inputs/*.jsonl (no command: a file rewrite)
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

import hashlib
import json
import os
import shlex
import shutil
import time
from pathlib import Path

from corpus.config import read_toml
from corpus.errors import UserError
from corpus.finalize import write_atomic_json

STAGES = ("prepare", "clean", "tokenizer", "pretrain", "sft", "sft_lora", "reward", "reward_proxy",
          "dpo", "ppo", "evaluate")
STATE = "recipe.json"
SETTINGS = "settings:"  # marks a digest of a config's settings (config_digest), not of its bytes


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
    if not set(recipe) & set(STAGES):
        raise UserError(f"{path}: no stages; a recipe has tables among {', '.join(STAGES)}")
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
            raise UserError("[clean] needs inputs (or [prepare] documents)")
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


PREPARE_KINDS = ("line_documents", "json_documents")


def _prepare_sources(recipe: dict) -> list[tuple[str, Path]]:
    """(kind, source file) of every `[prepare]` input; a folder of json_documents is its *.json."""
    table = recipe.get("prepare", {})
    unknown = sorted(set(table) - set(PREPARE_KINDS))
    if unknown:
        raise UserError(f"[prepare] unknown key(s) {', '.join(unknown)}; use {', '.join(PREPARE_KINDS)}")
    sources = []
    for kind in PREPARE_KINDS:
        for name in table.get(kind, []):
            path = Path(name)
            files = sorted(path.glob("*.json")) if kind == "json_documents" and path.is_dir() else [path]
            sources += [(kind, f) for f in files]
    return sources


def prepared_files(recipe: dict, out: Path) -> list[str]:
    return [str(out / "inputs" / (source.name.split(".")[0] + ".jsonl")) for _, source in _prepare_sources(recipe)]


def prepare_documents(recipe: dict, out: Path) -> None:
    """Rewrite `[prepare]` inputs as JSONL documents for `clean`, ids stable (file stem, number):
    line_documents  each non-empty line of a .txt file (Wikipedia dumps one article per line);
    json_documents  the strings of a nested JSON file (the chinese-poetry classics), in order,
                    eight paragraphs to a document."""
    for (kind, source), target in zip(_prepare_sources(recipe), prepared_files(recipe, out)):
        if not source.is_file():
            raise UserError(f"[prepare] no such file: {source}")
        target = Path(target)
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "line_documents":
            with open(source, encoding="utf-8") as lines:
                texts = [line.strip() for line in lines]
        else:
            try:
                texts = paragraph_groups(json.loads(source.read_text(encoding="utf-8")))
            except json.JSONDecodeError as exc:
                raise UserError(f"[prepare] {source}: not JSON: {exc}") from None
        temporary = target.with_suffix(".jsonl.tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            for number, text in enumerate(texts):
                if text:
                    f.write(json.dumps({"id": f"{target.stem}-{number}", "text": text}, ensure_ascii=False) + "\n")
        temporary.replace(target)


def paragraph_groups(value, size: int = 8) -> list[str]:
    """Every string longer than eight characters in a nested JSON value, in order, joined in
    groups of `size` paragraphs into documents."""
    strings: list[str] = []

    def walk(v):
        if isinstance(v, str) and len(v) > 8:
            strings.append(v.strip())
        elif isinstance(v, list):
            for item in v:
                walk(item)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
    walk(value)
    return ["\n".join(strings[i:i + size]) for i in range(0, len(strings), size)]


def stage_record(command: list[str]) -> dict:
    """What a finished stage is known by: its command line and the settings of the `--config` files
    it reads, so that editing a config runs the stage again as editing the recipe does."""
    configs = {value: config_digest(value) for value in option_values(command, "--config") if Path(value).is_file()}
    return {"command": command, "configs": configs}


def config_digest(path: str) -> str:
    """A digest of the settings a TOML config file holds, not of its bytes: a comment or a
    re-wrapped line must not throw away a finished hour of pretraining. A file that is not valid
    TOML (the stage will say so when it runs) is known by its bytes."""
    try:
        settings = read_toml(path)
    except UserError:
        return bytes_digest(path)
    return SETTINGS + hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def config_changed(path: str, recorded: str | None) -> bool:
    """Whether `path` differs from what a finished stage recorded. Records written before digests
    covered settings hold the digest of the file's bytes; those compare as bytes."""
    if recorded is None:  # older records have no digests
        return False
    if recorded.startswith(SETTINGS):
        return recorded != config_digest(path)
    return recorded != bytes_digest(path)


def bytes_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def option_values(command: list[str], *flags: str) -> list[str]:
    """The values a command line gives the options `flags`, in order."""
    return [value for flag, value in zip(command, command[1:]) if flag in flags]


def stage_output(command: list[str]) -> Path | None:
    """The folder a stage's command writes (its `-o`)."""
    outputs = option_values(command, "-o", "--output")
    return Path(outputs[0]) if outputs else None


def reads_output_of(command: list[str], folder: Path) -> bool:
    """Does the command name `folder` (another stage's output) or a path inside it?"""
    return any(arg == str(folder) or arg.startswith(str(folder) + os.sep) for arg in command)


def same_command(done: list[str], now: list[str]) -> bool:
    """Equal, or equal but for paths spelled differently that are the same file ($SHARED set
    to another spelling of the same folder is not a change)."""
    return done == now or (len(done) == len(now) and all(
        a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))
        for a, b in zip(done, now)))


def why_run_again(stage: str, command: list[str], done: dict, out: Path) -> str | None:
    """None when `stage` finished with this very command, config files and inputs; else why not.
    Inputs are the outputs of earlier stages that the command names (OUT/sft, OUT/clean/shards)."""
    record = done.get(stage)
    if record is None:
        return "it has not finished"
    if not same_command(record["command"], command):
        return "its command changed"
    output = stage_output(command)
    if output is not None and not output.exists():
        return f"its output {output} is gone"
    changed = [path for path in stage_record(command)["configs"]
               if config_changed(path, record.get("configs", {}).get(path))]
    if changed:
        return f"{', '.join(changed)} changed"
    for other, other_record in done.items():
        reads = reads_output_of(command, out / other)
        if other != stage and reads and other_record.get("finished", 0) > record.get("finished", 0):
            return f"{other}, whose output it reads, ran again since"
    return None


def run_recipe(recipe_path: str, out: str, only: list[str] | None = None) -> Path | None:
    """Run (or resume) every stage of the recipe; returns OUT/RESULTS.md, or None when no
    [evaluate] stage ran to write it."""
    from corpus.cli import main as xiulian
    recipe = load_recipe(recipe_path)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_file = out_dir / STATE
    state = json.loads(state_file.read_text()) if state_file.is_file() else {"done": {}}
    state["recipe"] = str(recipe_path)
    prepare_documents(recipe, out_dir)
    commands = stage_commands(recipe, out_dir)
    wanted = [s for s in STAGES if s in commands and (not only or s in only)]
    for number, stage in enumerate(wanted, 1):
        command = commands[stage]
        line = "xiulian " + shlex.join(command)
        missing = [other for other in STAGES[:STAGES.index(stage)]
                   if other in commands and other not in state["done"] and other not in wanted
                   and reads_output_of(command, out_dir / other)]
        if missing:
            raise UserError(f"stage {stage} reads the output of {', '.join(missing)}, which has not run "
                            f"in {out_dir}: add {' '.join(missing)} to --only, or run without --only")
        reason = why_run_again(stage, command, state["done"], out_dir)
        if reason is None:
            print(f"[{number}/{len(wanted)}] {stage}: done earlier ({line})", flush=True)
            continue
        if stage in state["done"]:
            output, note = stage_output(command), ""
            if output is not None and output.exists():
                previous = output.with_name(output.name + ".previous")
                shutil.rmtree(previous, ignore_errors=True)
                output.rename(previous)
                note = f"; it starts over (the finished run is now {previous})"
            print(f"[{number}/{len(wanted)}] {stage}: finished earlier, runs again because {reason}{note}", flush=True)
            del state["done"][stage]  # not finished any more: interrupted from here on, it resumes
            write_atomic_json(str(state_file), state)
        print(f"[{number}/{len(wanted)}] {stage}: $ {line}", flush=True)
        started = time.perf_counter()
        code = xiulian(command)
        if code:
            raise UserError(f"stage {stage} failed (exit {code}); fix it and run the recipe again "
                            f"to resume: {line}")
        seconds = round(time.perf_counter() - started, 1)
        # Re-read before recording: `--only` runs of independent stages may run side by side.
        state = {**state, "done": json.loads(state_file.read_text())["done"] if state_file.is_file() else {}}
        state["done"][stage] = {**stage_record(command), "seconds": seconds, "finished": time.time()}
        write_atomic_json(str(state_file), state)
    if "evaluate" in recipe and (not only or "evaluate" in only):
        from .report import write_results
        print(f"[evaluate] writing {out_dir / 'RESULTS.md'}", flush=True)
        results = write_results(recipe, Path(recipe_path), out_dir, state)
        return results
    return None

