"""Benchmark scores: `xiulian eval --tasks` against lm-evaluation-harness on our HF export.

    .venv/bin/python bench/eval_vs_lmeval.py --part agreement --limit 100     # per-item agreement
    /work/bin/quiet .venv/bin/python bench/eval_vs_lmeval.py --part speed --limit 20   # timings
    .venv/bin/python bench/eval_vs_lmeval.py --limit 20 --tasks hellaswag --no-docs   # a smoke run

The two parts write one section: the agreement table of the last `--part agreement` run and the
speed table of the last `--part speed` run (kept in bench/out/eval_vs_lmeval/PART.json, rows merged by task), so the
long agreement run can share the machine while the short timing run has it to itself.

The harness runs in its own venv (bench/.venv-lmeval: `python -m venv bench/.venv-lmeval`, then
`bench/.venv-lmeval/bin/pip install torch==2.13.0` FIRST, then `pip install "lm-eval[hf]==0.4.13"`)
on `xiulian export --hf` of the same checkpoint, with the task YAMLs of bench/lmeval_tasks/: the
harness's own prompts and metrics, reading the shared files (the hub is unreachable). MMLU and
CMMLU become one harness subtask per subject, written into bench/out/lmeval_tasks/ here, as the
harness's own mmlu/cmmlu groups are. Both sides run the same items (`--limit` per task, per
subject for mmlu/cmmlu), 0-shot unless --shots, few-shot examples by first_n on both.

Per item, the chosen answer (acc) and the length-normalised one (acc_norm) are compared; the
harness's per-item log-likelihoods come from its --log_samples files. Speed: each side is one
command, timed whole (start, model load, scoring), same batch size, same machine, in turn;
items/s = items / wall seconds. Writes "## Benchmark evaluation vs lm-evaluation-harness" of
docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import command, machine_line, versions, write_section  # noqa: E402

SECTION = "## Benchmark evaluation vs lm-evaluation-harness"
LMEVAL = ROOT / "bench" / ".venv-lmeval" / "bin"
XIULIAN = ROOT / ".venv" / "bin" / "xiulian"
TASKS = ("hellaswag", "arc_challenge", "mmlu", "cmmlu")


def write_harness_tasks(target: Path) -> None:
    """The committed YAMLs plus one per MMLU/CMMLU subject and the two groups, into `target`."""
    code = ("import json; from lm_eval.tasks.mmlu._generate_configs import SUBJECTS as M; "
            "from lm_eval.tasks.cmmlu._generate_configs import SUBJECTS as C; print(json.dumps([list(M), C]))")
    mmlu, cmmlu = json.loads(subprocess.run([str(LMEVAL / "python"), "-c", code], check=True,
                                            capture_output=True, text=True).stdout)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "bench" / "lmeval_tasks", target)
    for subject in mmlu:
        name = " ".join(subject.split("_"))
        (target / f"xl_mmlu_{subject}.yaml").write_text(
            f'include: _xl_mmlu_template_yaml\ntask: xl_mmlu_{subject}\n'
            f'process_docs: !function utils.mmlu_{subject}\n'
            f'description: "The following are multiple choice questions (with answers) about {name}.\\n\\n"\n')
    for subject, name in cmmlu.items():
        (target / f"xl_cmmlu_{subject}.yaml").write_text(
            f'include: _xl_cmmlu_template_yaml\ntask: xl_cmmlu_{subject}\n'
            f'process_docs: !function utils.cmmlu_{subject}\n'
            f'description: "以下是关于{name}的单项选择题，请直接给出正确答案的选项。\\n\\n"\n', encoding="utf-8")
    for group, subjects in (("xl_mmlu", mmlu), ("xl_cmmlu", list(cmmlu))):
        (target / f"_{group}.yaml").write_text(
            f"group: {group}\ntask:\n" + "".join(f"  - {group}_{s}\n" for s in subjects)
            + "aggregate_metric_list:\n  - metric: acc\n    weight_by_size: true\n"
            "  - metric: acc_norm\n    weight_by_size: true\nmetadata:\n  version: 1.0\n")


def run_ours(run: str, task: str, args, samples: Path) -> tuple[dict, float]:
    cmd = [str(XIULIAN), "eval", run, "--tasks", task, "--limit", str(args.limit), "--shots", str(args.shots),
           "--batch-size", str(args.batch_size), "--samples", str(samples), "--json", "--quiet"]
    started = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out)["tasks"][task], time.perf_counter() - started


def run_harness(hf: str, task: str, args, tasks_dir: Path, out: Path) -> float:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [str(LMEVAL / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={hf},dtype=float32",
           "--tasks", f"xl_{task}", "--include_path", str(tasks_dir), "--limit", str(args.limit),
           "--num_fewshot", str(args.shots), "--batch_size", str(args.batch_size), "--device", "cpu",
           "--log_samples", "--output_path", str(out)]
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode:
        sys.exit(f"lm_eval failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def harness_items(out: Path, task: str) -> dict[tuple[str, int], dict]:
    """(subject, position) -> the harness's per-item log-likelihoods, choices and gold."""
    items = {}
    for path in glob.glob(str(out / "**" / f"samples_xl_{task}*.jsonl"), recursive=True):
        name = Path(path).name.removeprefix("samples_").rsplit("_", 1)[0]   # xl_mmlu_anatomy
        subject = name.removeprefix(f"xl_{task}").lstrip("_")
        for line in open(path, encoding="utf-8"):
            sample = json.loads(line)
            lls = [float(r[0][0] if isinstance(r[0], list) else r[0]) for r in sample["resps"]]
            choices = [a[1] for a in sample["arguments"]] if isinstance(sample["arguments"], list) \
                else [sample["arguments"][k]["arg_1"] for k in sorted(sample["arguments"])]
            items[(subject, int(sample["doc_id"]))] = {"lls": lls, "gold": int(sample["target"]),
                                                       "choices": [c.lstrip(" ") for c in choices]}
    return items


def compare(ours_samples: Path, theirs: dict, task: str) -> dict:
    seen: dict[str, int] = {}
    same = same_norm = n = acc_ours = acc_theirs = 0
    max_gap = 0.0
    for line in open(ours_samples, encoding="utf-8"):
        item = json.loads(line)
        subject = item["subject"] if task in ("mmlu", "cmmlu") else ""
        position = seen.get(subject, 0)
        seen[subject] = position + 1
        other = theirs.get((subject, position))
        if other is None:
            continue
        n += 1
        lengths = [len(c) for c in other["choices"]]
        pick = _argmax(other["lls"])
        pick_norm = _argmax([ll / max(1, k) for ll, k in zip(other["lls"], lengths)])
        same += pick == item["pred"]
        same_norm += pick_norm == item["pred_norm"]
        acc_ours += item["pred"] == item["gold"]
        acc_theirs += pick == other["gold"]
        max_gap = max(max_gap, max(abs(a - b) for a, b in zip(item["loglikelihoods"], other["lls"])))
    return {"items": n, "same_pred": same / n, "same_pred_norm": same_norm / n,
            "acc_ours": acc_ours / n, "acc_theirs": acc_theirs / n, "max_ll_gap": max_gap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="a run or checkpoint (default: train a tiny one here)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "eval_vs_lmeval"))
    parser.add_argument("--part", choices=("agreement", "speed"), default="agreement",
                        help="which table of the section this run fills")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    if not (LMEVAL / "lm_eval").is_file():
        sys.exit("no bench/.venv-lmeval: see this script's docstring for the three install commands")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    run = args.checkpoint or str(_tiny_model(work))
    hf = work / "hf"
    subprocess.run([str(XIULIAN), "export", run, "--hf", str(hf)], check=True, capture_output=True)
    tasks_dir = ROOT / "bench" / "out" / "lmeval_tasks"
    write_harness_tasks(tasks_dir)
    rows = []
    for task in args.tasks:
        samples = work / f"ours_{task}.jsonl"
        ours, our_seconds = run_ours(run, task, args, samples)
        their_seconds = run_harness(str(hf), task, args, tasks_dir, work / f"harness_{task}")
        result = compare(samples, harness_items(work / f"harness_{task}", task), task)
        result.update(task=task, command=command(__file__), ours_scoring_rate=ours["items_per_second"],
                      ours_seconds=our_seconds, theirs_seconds=their_seconds,
                      ours_rate=result["items"] / our_seconds, theirs_rate=result["items"] / their_seconds)
        print(json.dumps(result), flush=True)
        rows.append(result)
    if args.no_docs:
        return
    store = ROOT / "bench" / "out" / "eval_vs_lmeval"   # a part's rows, merged by task over runs
    store.mkdir(parents=True, exist_ok=True)
    saved = store / f"{args.part}.json"
    earlier = json.loads(saved.read_text())["rows"] if saved.is_file() else []
    rows = [r for r in earlier if r["task"] not in {row["task"] for row in rows}] + rows
    saved.write_text(json.dumps(
        {"rows": rows, "run": run, "limit": args.limit, "shots": args.shots, "batch_size": args.batch_size,
         "command": command(__file__), "machine": machine_line(),
         "versions": versions(["lm-eval", "transformers", "torch"], LMEVAL / "python")}, indent=2))
    parts = {p: json.loads((store / f"{p}.json").read_text()) for p in ("agreement", "speed")
             if (store / f"{p}.json").is_file()}
    write_section(SECTION, _section(parts))


def _tiny_model(work: Path) -> Path:
    """A tiny model of the acceptance check's recipe, trained longer (200 steps)."""
    run = work / "model"
    if (run / "checkpoint").is_dir():
        return run
    shared = ROOT.parent / "shared" / "data"
    steps = [["clean", str(shared / "text" / "c4_demo.jsonl"), "-o", str(work / "clean"), "-q"],
             ["tokenizer", "train", str(work / "clean" / "shards"), "-o", str(work / "tok"), "--vocab-size", "2048", "-q"],
             ["pretrain", "--data", str(work / "clean" / "shards"), "--tokenizer", str(work / "tok"), "-o", str(run),
              "--preset", "tiny", "--max-steps", "200", "-q"]]
    for step in steps:
        subprocess.run([str(XIULIAN), *step], check=True)
    return run


def _section(parts: dict) -> str:
    lines = [SECTION, "",
             "The same checkpoint scored by `xiulian eval --tasks` and, exported with `xiulian export "
             "--hf`, by lm-evaluation-harness's `hf` model with the task definitions of "
             "bench/lmeval_tasks/ (the harness's prompts and metrics, reading the shared files). "
             "Both sides score the same items (the first N of each task, of each subject for mmlu "
             "and cmmlu), with the same batch size, fp32 on the CPU.", ""]
    if "agreement" in parts:
        p = parts["agreement"]
        commands = list(dict.fromkeys(r.get("command", p["command"]) for r in p["rows"]))
        lines += ["### Per item", "", " and ".join(f"`{c}`" for c in commands) + f" on {p['machine']}; {p['versions']}. "
                  f"Checkpoint `{p['run']}` (the acceptance check's model when it is /tmp/...: c4_demo "
                  "cleaned, a 2,048-token BPE, the tiny preset, 30 steps), "
                  f"{p['shots']}-shot; the items column counts them (the first N "
                  "of each task, of each subject for mmlu and cmmlu). *Same choice*: "
                  "the share of items where both pick the same answer.", "",
                  "| task | items | same choice (acc) | same choice (acc_norm) | acc: xiulian | acc: harness "
                  "| largest log-likelihood gap |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['items']:,} | {r['same_pred']:.1%} | {r['same_pred_norm']:.1%} | "
                  f"{r['acc_ours']:.3f} | {r['acc_theirs']:.3f} | {r['max_ll_gap']:.1e} |" for r in p["rows"]]
        lines.append("")
    if "speed" in parts:
        p = parts["speed"]
        commands = list(dict.fromkeys(r.get("command", p["command"]) for r in p["rows"]))
        lines += ["### Speed", "", " and ".join(f"`/work/bin/quiet {c}`" for c in commands) + " (nothing else running) on "
                  f"{p['machine']}; {p['versions']}. The first N items of each task (of each subject for mmlu "
                  f"and cmmlu; the items column counts them), batch size {p['batch_size']}. Each side is one command timed whole from outside "
                  "(start, model load, scoring); items/s = items / wall seconds. The harness's fixed cost "
                  "(imports, building each subtask's dataset) weighs on few items; *xiulian scoring* is "
                  "ours without start and load, for the marginal rate (the harness's marginal rate is not "
                  "measured here). Same choice: as above, on these items.", "",
                  "| task | items | xiulian s | harness s | xiulian items/s | harness items/s | speed-up "
                  "| xiulian scoring items/s | same choice |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['items']:,} | {r['ours_seconds']:.1f} | {r['theirs_seconds']:.1f} | "
                  f"{r['ours_rate']:.1f} | {r['theirs_rate']:.1f} | {r['ours_rate'] / r['theirs_rate']:.1f}x | "
                  f"{r.get('ours_scoring_rate', float('nan')):.1f} | {r['same_pred']:.1%} |"
                  for r in p["rows"]]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
