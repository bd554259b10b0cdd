"""`xiulian ablate VARIANTS.toml -o OUT`: which cleaning makes the better model.

The FineWeb/DCLM/Dolma method at proxy scale: clean the same inputs with each variant's config,
train one small model per variant and seed on the same token budget and one shared tokenizer,
and score every model on one held-out text set (which every variant's pipeline decontaminates
against, so none trains on it) and on benchmark tasks. Then a table of means with 95% intervals
over seeds, the n-gram floors of each variant's training tokens beside them, and a plot of
held-out loss against tokens (ablation_report.py).

Work is tasks on the executor (corpus/executors: local processes, or Ray): one clean per
distinct clean config, then one train-and-score task per (variant, seed). A task that finished
left OUT/.../result.json (written last, atomically) and is skipped when the command runs again;
one that was cut resumes (clean and pretrain resume by themselves).

    OUT/clean/<config hash>/        a cleaned corpus (variants with one config share it)
    OUT/tokenizer/                  trained on the `tokenizer_from` variant's shards
    OUT/variants/NAME/pretrain.toml the proxy model's [model]/[train] + the variant's [data]
    OUT/variants/NAME/seed-S/       a pretraining run + result.json (held-out and task scores)
    OUT/variants/NAME/floors.json   unigram/bigram/trigram floors on the held-out tokens
    OUT/ABLATION.md, OUT/figures/   the table and the plot
"""
from __future__ import annotations

import json
import math
import os
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.errors import UserError
from corpus.finalize import write_atomic_json

from .ablation_config import Ablation, load_ablation

RESULT = "result.json"


@dataclass(frozen=True)
class CleanTask:
    key: str
    inputs: tuple[str, ...]
    config: dict
    out: str


@dataclass(frozen=True)
class TrainTask:
    variant: str
    seed: int
    shards: str
    tokenizer: str
    run: str
    preset: str
    config: str
    steps: int
    eval_every: int                              # ceil(steps / 8): at most 8 points on the curve
    heldout: tuple[str, ...]
    heldout_tokens: int
    tasks: tuple[tuple[str, int | None], ...]    # (task, first N items)
    threads: int

    def commands(self) -> list[list[str]]:
        """The `xiulian` commands this task runs, to replay one by hand."""
        pretrain = ["pretrain", "--data", self.shards, "--tokenizer", self.tokenizer, "-o", self.run,
                    "--preset", self.preset, "--config", self.config, "--max-steps", str(self.steps),
                    "--seed", str(self.seed), "--eval-every", str(self.eval_every),
                    "--heldout", *self.heldout, "--quiet"]
        heldout = ["eval", self.run, "--data", *self.heldout, "--max-tokens", str(self.heldout_tokens), "--json"]
        return [pretrain, heldout] + [["eval", self.run, "--tasks", name, *(["--limit", str(limit)] if limit else []),
                                       "--json", "--quiet"] for name, limit in self.tasks]


def run_ablation(path: str, out: str, workers: int | None = None, executor: str | None = None,
                 progress: bool = True) -> Path:
    """Run (or resume) the ablation in VARIANTS.toml; returns OUT/ABLATION.md."""
    from corpus.executors import make_executor
    ablation = load_ablation(path, workers, executor)   # every check, before any work
    out_dir = Path(out)
    plan, saved = _plan(ablation), out_dir / "ablation.json"
    if saved.is_file() and _comparable(json.loads(saved.read_text())) != _comparable(plan):
        raise UserError(f"{out_dir} holds an ablation with other inputs, variants, seeds or budget; "
                        "use a new -o folder (or delete this one) to start over")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic_json(str(saved), plan)
    if ablation.workers > 1:  # the tokenizer trains before the workers fork: no Rust threads then
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    runner = make_executor(ablation.executor, ablation.workers)
    started = time.perf_counter()

    cleans = {v.clean_key: CleanTask(v.clean_key, tuple(ablation.inputs), v.clean_config,
                                     str(out_dir / "clean" / v.clean_key)) for v in ablation.variants}
    _say(progress, f"ablate: {len(ablation.variants)} variants x {len(ablation.seeds)} seeds, "
         f"{ablation.steps} steps of {ablation.tokens_per_step:,} tokens each; cleaning "
         f"{len(cleans)} distinct configs on the {ablation.executor} executor ({ablation.workers} workers)")
    try:
        runner.map(clean_corpus, list(cleans.values()))
        tokenizer = _tokenizer(ablation, out_dir, progress)
        tasks = _train_tasks(ablation, out_dir, tokenizer)
        _say(progress, f"ablate: training and scoring {len(tasks)} models")
        results = runner.map(train_and_score, tasks)
    finally:
        runner.close()
    floors = {v.name: _floors(ablation, out_dir, v.name, tokenizer) for v in ablation.variants}
    from .ablation_report import write_report
    page = write_report(ablation, Path(path), out_dir, results, floors,
                        round(time.perf_counter() - started, 1))
    _say(progress, f"ablate: done in {time.perf_counter() - started:,.0f} s -> {page}")
    return page


def _say(progress: bool, line: str) -> None:
    if progress:
        print(line, flush=True)


def _plan(ablation: Ablation) -> dict:
    plan = asdict(ablation)
    plan["variants"] = [{"name": v.name, "clean": v.clean_key, "data": v.data} for v in ablation.variants]
    return json.loads(json.dumps(plan))   # as it reads back: tuples as lists


def _comparable(plan: dict) -> dict:
    """What a finished task's results depend on: not how many workers ran them, nor where the
    page is published."""
    return {k: v for k, v in plan.items() if k not in ("workers", "executor", "publish", "title")}


def clean_corpus(task: CleanTask) -> dict:
    """One variant's cleaning (a pure task: spec in, OUT/clean/<key>/ out); resumes by itself."""
    from corpus.clean import clean
    started = time.perf_counter()
    manifest = clean(list(task.inputs), task.out, config=task.config, workers=1, progress=False)
    print(f"  clean {task.key}: {manifest['counts']['kept']:,} of {manifest['counts']['read']:,} "
          f"records kept ({time.perf_counter() - started:,.0f} s)", flush=True)
    return manifest["counts"]


def _tokenizer(ablation: Ablation, out: Path, progress: bool) -> str:
    """One tokenizer for every model, so held-out losses per token compare."""
    from train.data.shards import find_files, iter_sample
    from train.model.tokenizer import train_tokenizer
    directory = out / "tokenizer"
    if not (directory / "tokenizer.json").is_file():
        source = next(v for v in ablation.variants if v.name == ablation.tokenizer_from)
        files = find_files([str(out / "clean" / source.clean_key / "shards")])
        train_tokenizer(iter_sample(files, 500_000_000), directory, ablation.vocab_size, progress=False)
        _say(progress, f"  tokenizer: {ablation.vocab_size:,} tokens from the {source.name} variant's shards")
    return str(directory)


def _train_tasks(ablation: Ablation, out: Path, tokenizer: str) -> list[TrainTask]:
    threads = max(1, min(len(os.sched_getaffinity(0)) // ablation.workers, _thread_cap()))
    tasks = []
    for variant in ablation.variants:
        folder = out / "variants" / variant.name
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "pretrain.toml"
        config.write_text(_pretrain_toml(ablation.pretrain_config, variant.data), encoding="utf-8")
        for seed in ablation.seeds:
            tasks.append(TrainTask(
                variant.name, seed, str(out / "clean" / variant.clean_key / "shards"), tokenizer,
                str(folder / f"seed-{seed}"), ablation.preset, str(config), ablation.steps,
                math.ceil(ablation.steps / 8), tuple(ablation.heldout), ablation.heldout_tokens,
                tuple(ablation.task_limit.items()), threads))
    return tasks


def _thread_cap() -> int:
    """The user's OMP_NUM_THREADS, where set: torch.set_num_threads would otherwise override it."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return os.cpu_count() or 1


def _pretrain_toml(base: str | None, data: dict) -> str:
    """The proxy config (`pretrain_config`) with the variant's [data] merged in, as TOML."""
    tables = {"model": {}, "train": {}, "data": {}}
    if base:
        from corpus.config import read_toml
        for name, values in read_toml(base, ("model", "train", "data")).items():
            tables[name].update(values)
    tables["data"].update(data)
    lines = ["# Written by xiulian ablate: the proxy model's config and this variant's [data]."]
    for name, values in tables.items():
        lines += ["", f"[{name}]"] + [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise UserError(f"cannot write {value!r} into a pretraining config")


def train_and_score(task: TrainTask) -> dict:
    """Pretrain one proxy model, then score it on the held-out text and the tasks (a pure task:
    spec in, RUN/ and RUN/result.json out). A finished task returns its saved result."""
    result_file = Path(task.run) / RESULT
    if result_file.is_file():
        return json.loads(result_file.read_text())
    import torch
    torch.set_num_threads(task.threads)
    from train.core.plots import read_metrics
    from train.eval.benchmarks import evaluate_tasks
    from train.eval.perplexity import evaluate_files
    from train.stages.pretrain.pretrain import pretrain
    label = f"{task.variant} seed {task.seed}"
    print(f"  {label}: training {task.steps} steps", flush=True)
    started = time.perf_counter()
    pretrain([task.shards], task.tokenizer, task.run, task.preset, task.config,
             {"max_steps": task.steps, "seed": task.seed, "eval_every": task.eval_every},
             progress=False, heldout=list(task.heldout))
    trained = time.perf_counter()
    heldout = evaluate_files(task.run, list(task.heldout), task.heldout_tokens)
    scores = {}
    for name, limit in task.tasks:
        scores.update(evaluate_tasks(task.run, [name], limit=limit, progress=False)["tasks"])
    curve = [{"step": r["step"], "val_loss": r["val_loss"]} for r in read_metrics(task.run) if "val_loss" in r]
    result = {"variant": task.variant, "seed": task.seed, "steps": task.steps, "heldout": heldout,
              "tasks": {name: {k: v for k, v in s.items() if k != "file"} for name, s in scores.items()},
              "curve": curve, "seconds": {"train": round(trained - started, 1),
                                          "score": round(time.perf_counter() - trained, 1)},
              "commands": ["xiulian " + shlex.join(c) for c in task.commands()]}
    write_atomic_json(str(result_file), result)
    print(f"  {label}: held-out loss {heldout['loss']:.4f}, {heldout['bits_per_byte']:.4f} bits/byte "
          f"({result['seconds']['train']:,.0f} s training, {result['seconds']['score']:,.0f} s scoring)",
          flush=True)
    return result


def _floors(ablation: Ablation, out: Path, variant: str, tokenizer_dir: str) -> dict:
    """Unigram/bigram/trigram floors fit on the variant's training tokens (each document once),
    scored on the same held-out tokens as the models (train/eval/ngram.py)."""
    import numpy as np

    from train.data.shards import find_files, read_token_stream
    from train.data.token_shards import TRAIN, DataConfig, prepare
    from train.eval.ngram import ngram_floors
    from train.model.tokenizer import Tokenizer
    path = out / "variants" / variant / "floors.json"
    if path.is_file():
        return json.loads(path.read_text())
    tokenizer = Tokenizer(tokenizer_dir)
    run = out / "variants" / variant / f"seed-{ablation.seeds[0]}"
    saved = json.loads((run / "run.json").read_text())
    data = prepare(saved["data_paths"], tokenizer, run / "data", DataConfig(**saved["data"]), progress=False)
    docs = data.split(TRAIN)
    eos = np.array([tokenizer.eos_id])
    train = np.concatenate([part for doc in docs for part in (data.tokens_of(doc), eos)]).astype(np.int64)
    held_out, n_bytes = read_token_stream(find_files(ablation.heldout), tokenizer, ablation.heldout_tokens)
    floors = {f.name: f.to_dict() for f in ngram_floors(train, held_out, tokenizer.vocab_size,
                                                        tokenizer.eos_id, n_bytes)}
    floors["training_tokens"] = int(len(train) - len(docs))
    write_atomic_json(str(path), floors)
    return floors
