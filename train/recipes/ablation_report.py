"""The ablation's page: OUT/ABLATION.md (a table of means with 95% intervals over seeds, the
n-gram floors beside them) and OUT/figures/heldout_loss.png (held-out loss against tokens).

Every number is read from the tasks' result.json and the floors; the sentences under the table
are decided by those numbers (do two intervals overlap? does an accuracy's interval hold chance?),
never typed in. With `publish = "docs/RESULTS.md"` the page replaces its own section there.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .ablation_config import Ablation

# Two-sided 95% Student t quantiles by degrees of freedom; the normal's 1.96 past 30.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}
CHANCE = {"hellaswag": 0.25, "arc_easy": 0.25, "arc_challenge": 0.25, "mmlu": 0.25, "cmmlu": 0.25,
          "gsm8k": 0.0}
METRIC = {"gsm8k": "exact_match", "mmlu": "acc", "cmmlu": "acc"}   # the rest: acc_norm


def interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t interval over seeds); half-width nan for one seed."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    df = n - 1
    t = T95.get(df) or T95[max(k for k in T95 if k <= df)] if df <= 30 else 1.96
    return mean, t * sd / math.sqrt(n)


def task_interval(rows: list[dict], task: str) -> tuple[float, float]:
    """A benchmark score's mean over seeds, and a 95% half-width that adds the items' sampling
    error (1.96 x the harness's standard error, averaged over seeds) to the seeds' spread: a few
    hundred items leave a wide interval even when every seed agrees."""
    metric = METRIC.get(task, "acc_norm")
    mean, seeds = interval([r["tasks"][task][metric] for r in rows])
    errors = [r["tasks"][task].get(f"{metric}_stderr") for r in rows]
    items = 1.96 * sum(e for e in errors if e is not None) / max(1, len([e for e in errors if e is not None]))
    return mean, math.sqrt((0.0 if math.isnan(seeds) else seeds) ** 2 + items ** 2)


def _fmt(mean: float, half: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f}" + ("" if math.isnan(half) else f" ± {half:.{digits}f}")


def write_report(ablation: Ablation, path: Path, out: Path, results: list[dict], floors: dict,
                 seconds: float) -> Path:
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    by_variant = {v.name: [r for r in results if r["variant"] == v.name] for v in ablation.variants}
    clean_counts = {v.name: _clean_counts(out / "clean" / v.clean_key) for v in ablation.variants}
    heldout = {name: interval([r["heldout"]["loss"] for r in rows]) for name, rows in by_variant.items()}
    bpb = {name: interval([r["heldout"]["bits_per_byte"] for r in rows]) for name, rows in by_variant.items()}
    tasks = list(ablation.tasks)
    scores = {name: {t: task_interval(rows, t) for t in tasks} for name, rows in by_variant.items()}
    plot = figures / "heldout_loss.png"
    _plot_curves(plot, by_variant, ablation.tokens_per_step, floors)

    header = ["variant", "documents kept", "training tokens", "held-out loss", "bits/byte",
              "bigram floor", "trigram floor"] + [f"{t} {METRIC.get(t, 'acc_norm')}" for t in tasks]
    rows = []
    for v in ablation.variants:
        f = floors[v.name]
        rows.append([f"`{v.name}`", f"{clean_counts[v.name]['kept']:,}", f"{f['training_tokens']:,}",
                     _fmt(*heldout[v.name]), _fmt(*bpb[v.name]),
                     f"{f['bigram']['loss']:.3f}", f"{f['trigram']['loss']:.3f}"]
                    + [_fmt(*scores[v.name][t]) for t in tasks])
    seeds = len(ablation.seeds)
    described = [f"- `{v.name}`: {v.description}" for v in ablation.variants if v.description]
    replay = by_variant[ablation.variants[0].name][0]["commands"]
    train_s = sum(r["seconds"]["train"] for r in results)
    score_s = sum(r["seconds"]["score"] for r in results)
    lines = [f"## {ablation.title}", "",
             f"Made by `xiulian ablate {path} -o {out}` ({ablation.workers} worker(s), {ablation.executor} "
             f"executor; this invocation {seconds / 60:,.1f} min of wall time; the {len(results)} models "
             f"took {train_s / 60:,.0f} min of training and {score_s / 60:,.0f} min of scoring in all, "
             "on a 2-core machine shared with other work); every number below is "
             f"read from that run's outputs. {len(ablation.variants)} cleaning variants of the same "
             f"inputs, {seeds} seeds each; every model is a `{ablation.preset}` proxy trained for "
             f"{ablation.steps:,} steps ({ablation.steps * ablation.tokens_per_step:,} tokens) with one "
             f"shared tokenizer, then scored on held-out text no variant trained on "
             f"({', '.join(Path(h).name for h in ablation.heldout)}, first {ablation.heldout_tokens:,} "
             "tokens; every pipeline decontaminates against it).", "",
             *described, "" if described else "",
             f"Means over seeds ± the half-width of the 95% t interval (n = {seeds}; for benchmarks "
             "widened by the items' own sampling error). Loss is nats per "
             "token on the held-out text (lower is better). The floors are count models fit on each "
             "variant's training tokens and scored on the same held-out tokens (train/eval/ngram.py): "
             "a model is only learning what a count table cannot when it is below them. "
             + ("Benchmarks, 0-shot, scored as lm-evaluation-harness scores them (`xiulian eval "
                "--tasks`), on the first " + ", ".join(
                    f"{n:,} items of {t}" + (" per subject" if t in ("mmlu", "cmmlu") else "")
                    if n else f"all of {t}" for t, n in ablation.task_limit.items()) + "; chance is 25%."
                if tasks else ""), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows),
             "", "![held-out loss against training tokens](figures/heldout_loss.png)", "",
             "### What this scale can and cannot show", "",
             *_verdicts(ablation, heldout, floors, scores), "",
             "One model's commands, to replay it by hand:", "", "```",
             *replay, "```", ""]
    page = out / "ABLATION.md"
    page.write_text("\n".join(lines), encoding="utf-8")
    (out / "ablation_results.json").write_text(json.dumps(
        {"heldout_loss": heldout, "bits_per_byte": bpb, "tasks": scores, "floors": floors}, indent=2) + "\n")
    if ablation.publish:
        from .report import publish
        publish(page, Path(ablation.publish), ablation.name, kind="ablation")
    return page


def _clean_counts(folder: Path) -> dict:
    manifest = folder / "manifest.json"
    return json.loads(manifest.read_text())["counts"] if manifest.is_file() else {"kept": 0}


def _verdicts(ablation: Ablation, heldout: dict, floors: dict, scores: dict) -> list[str]:
    """Plain sentences decided by the numbers."""
    order = sorted(heldout, key=lambda n: heldout[n][0])
    best = order[0]
    lo = heldout[best][0] + (0 if math.isnan(heldout[best][1]) else heldout[best][1])
    separated = [n for n in order[1:] if not math.isnan(heldout[n][1]) and heldout[n][0] - heldout[n][1] > lo]
    tied = [n for n in order[1:] if n not in separated]
    lines = [f"- Held-out loss: `{best}` is lowest ({_fmt(*heldout[best])})."
             + (f" Its interval is clear of {', '.join(f'`{n}`' for n in separated)}" if separated else "")
             + ("." if separated and not tied else "")
             + (f"{'; it' if separated else ' It'} overlaps {', '.join(f'`{n}`' for n in tied)}, "
                "which this many seeds cannot tell apart." if tied else "")]
    under = [n for n in heldout if heldout[n][0] < min(floors[n]["bigram"]["loss"], floors[n]["trigram"]["loss"])]
    above = [n for n in heldout if n not in under]
    if not under:
        lines.append("- Against the floors: no variant's models beat the best count model fit on the "
                     "same training tokens, so at this budget the differences between variants are "
                     "differences in the n-gram statistics of what each kept, not in what a "
                     "transformer learns from it.")
    else:
        lines.append(f"- Against the floors: {', '.join(f'`{n}`' for n in under)} beat the best count "
                     "model fit on their own training tokens"
                     + (f"; {', '.join(f'`{n}`' for n in above)} do not" if above else "") + ".")
    for task, chance in ((t, CHANCE.get(t, 0.25)) for t in ablation.tasks):
        at_chance = [n for n in scores if scores[n][task][0] - (scores[n][task][1] if not math.isnan(scores[n][task][1]) else 0)
                     <= chance]
        if len(at_chance) == len(scores):
            lines.append(f"- {task}: every variant's interval reaches chance ({chance:.0%}); at this scale "
                         "the benchmark cannot rank the cleaning configs.")
        else:
            lines.append(f"- {task}: above chance ({chance:.0%}) for "
                         + ", ".join(f"`{n}`" for n in scores if n not in at_chance) + ".")
    lines.append(f"- What it cannot show: {ablation.preset} proxies on {ablation.steps * ablation.tokens_per_step:,} "
                 "tokens rank pipelines by how well they predict held-out text of this kind; whether "
                 "the ranking holds at 1B parameters and 100B tokens (where DCLM and FineWeb made "
                 "their calls) is an extrapolation this run does not test, and the benchmarks need "
                 "models orders of magnitude larger to leave chance.")
    return lines


def _plot_curves(path: Path, by_variant: dict, tokens_per_step: int, floors: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for i, (name, rows) in enumerate(by_variant.items()):
        color = f"C{i}"
        steps = sorted({p["step"] for r in rows for p in r["curve"]})
        per_step = [[p["val_loss"] for r in rows for p in r["curve"] if p["step"] == s] for s in steps]
        tokens = [s * tokens_per_step for s in steps]
        ax.plot(tokens, [sum(v) / len(v) for v in per_step], color=color, label=name, linewidth=1.6)
        ax.fill_between(tokens, [min(v) for v in per_step], [max(v) for v in per_step], color=color, alpha=0.15)
        ax.axhline(floors[name]["trigram"]["loss"], color=color, linestyle=":", linewidth=1)
    ax.set_xlabel("training tokens")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title("held-out loss per variant: mean over seeds, min-max band; dotted: trigram floor", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
