"""The results page a recipe writes: OUT/RESULTS.md and its figures in OUT/figures/.

One section per stage the recipe ran, each with the command that made it and numbers read back
from the stage's own outputs (manifest.json, metrics.jsonl), never typed in. With `[evaluate]
publish = "docs/RESULTS.md"` the page also replaces its own section of that file (between
`<!-- recipe:NAME -->` markers, so several recipes share one page) and its figures are copied
to docs/img/results/NAME/.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

from corpus.finalize import write_atomic_json
from corpus.output_layout import MANIFEST_FILE
from train.core.plots import read_metrics


def write_results(recipe: dict, recipe_path: Path, out: Path, state: dict) -> Path:
    evaluate = recipe.get("evaluate", {})
    name = recipe.get("recipe", {}).get("name", recipe_path.stem)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    done = state.get("done", {})

    def cmd(stage: str) -> str:
        return f"`xiulian {shlex.join(done[stage]['command'])}`" if stage in done else ""

    title = recipe.get("recipe", {}).get("title", f"Recipe {name}")
    stage_times = ", ".join(f"{s} {v['seconds']:.0f} s" for s, v in done.items() if "seconds" in v)
    # An experiments-only page trains its own runs on top of the stages: their times are not its own.
    times_sentence = (f"The stages it starts from took, on this machine: {stage_times}."
                      if evaluate.get("experiments_only") else f"Stage times on this machine: {stage_times}.")
    lines = [f"## {title}", "",
             f"Made by `xiulian recipe run {recipe_path} -o {out}`; every number below is read from "
             f"that run's outputs. {times_sentence}", ""]
    from .report_behaviour import behaviour_section
    from .report_pretraining import pretraining_section
    sections = [] if evaluate.get("experiments_only") else [
        _cleaning, pretraining_section, behaviour_section, _reward, _dpo, _ppo, _best_of_n]
    for section in sections:
        lines += section(recipe, evaluate, out, figures, cmd)
    if evaluate.get("experiments"):
        from .experiments import run_experiments
        lines += run_experiments(evaluate["experiments"], recipe, out, figures,
                                 own_page=bool(evaluate.get("experiments_only")))
    page = out / "RESULTS.md"
    page.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    if evaluate.get("publish"):
        publish(page, Path(evaluate["publish"]), name)
    return page


def _figure(path: Path, alt: str) -> str:
    return f"![{alt}](figures/{path.name})"


def _cleaning(recipe, evaluate, out, figures, cmd) -> list[str]:
    manifest_file = out / "clean" / MANIFEST_FILE
    if not manifest_file.is_file():
        return []
    manifest = json.loads(manifest_file.read_text())
    counts, removed_by = manifest["counts"], manifest.get("removed_by", {})
    by_step: dict[str, int] = {}
    for reason, n in removed_by.items():
        step = reason.split(":")[0]
        by_step[step] = by_step.get(step, 0) + n
    # Each step named once: the first bar is the records read, then what is left after each step
    # that removed any (records that could not be read at all are the "unreadable" step).
    order = ["read"] + [s["use"] for s in manifest["config"]["steps"]]
    remaining, funnel = counts["read"], [("records read", counts["read"])]
    for step in dict.fromkeys(order + sorted(set(by_step) - set(order))):
        if by_step.get(step):
            remaining -= by_step[step]
            funnel.append(("unreadable" if step == "read" else step, remaining))
    plot = figures / "cleaning_funnel.png"
    _bar_chart(plot, funnel, "documents left after each step", "documents")
    rows = [f"| {step} | {by_step['read' if step == 'unreadable' else step]:,} |" for step, _ in funnel[1:]]
    return ["### Cleaning: the funnel", "", cmd("clean"), "",
            f"{counts['read']:,} records read, {counts['kept']:,} kept, {counts['removed']:,} removed "
            "(every removal has a step and a reason in `clean/removed/`).", "",
            "| step | removed |", "|---|---|", *rows, "", _figure(plot, "cleaning funnel"), ""]


def _reward(recipe, evaluate, out, figures, cmd) -> list[str]:
    val = [r for r in read_metrics(out / "reward") if "val_accuracy" in r]
    if not val:
        return []
    pairs = json.loads((out / "reward" / "run.json").read_text())["pairs"]["validation"]
    return ["### Reward model", "", cmd("reward"), "",
            f"Held-out pairwise accuracy (chosen scored above rejected; chance 0.5) on {pairs} pairs: "
            + ", ".join(f"{r['val_accuracy']:.3f} at step {r['step']}" for r in val)
            + f"; final mean margin {val[-1]['val_margin']:.3f}. " + _above_chance(val[-1]["val_accuracy"], pairs,
                                                                              "the reward model"), ""]


def _above_chance(accuracy: float, pairs: int, who: str) -> str:
    """The final accuracy's 95% Wilson interval over the held-out pairs, and what it shows."""
    from train.eval.intervals import proportion_interval, verdict_word
    interval = proportion_interval(round(accuracy * pairs), pairs)
    return (f"Final accuracy {interval.mean:.3f} (95% interval over the {pairs} pairs {interval.low:.3f} to "
            f"{interval.high:.3f}): that {who} ranks held-out pairs better than chance is "
            f"{verdict_word(interval, 0.5)}.")


def _dpo(recipe, evaluate, out, figures, cmd) -> list[str]:
    val = [r for r in read_metrics(out / "dpo") if "val_accuracy" in r]
    if not val:
        return []
    record = out / "dpo" / "run.json"
    pairs = json.loads(record.read_text()).get("pairs", {}).get("validation") if record.is_file() else None
    return ["### DPO", "", cmd("dpo"), "",
            "| step | held-out implicit-reward accuracy | margin | chosen | rejected |", "|---|---|---|---|---|",
            *[f"| {r['step']} | {r['val_accuracy']:.3f} | {r['val_margin']:.4f} | {r['val_reward_chosen']:.4f} | "
              f"{r['val_reward_rejected']:.4f} |" for r in val], "",
            *([_above_chance(val[-1]["val_accuracy"], pairs, "the DPO policy's implicit reward"), ""] if pairs else [])]


def _ppo(recipe, evaluate, out, figures, cmd) -> list[str]:
    metrics = [r for r in read_metrics(out / "ppo") if "reward" in r]
    if not metrics:
        return []
    plot = figures / "ppo_curves.png"
    _line_chart(plot, [r["step"] for r in metrics],
                {name: [r.get(name) for r in metrics] for name in ("reward", "kl", "gold_reward")
                 if any(name in r for r in metrics)}, "PPO: reward-model score and KL to the start, per rollout")
    first, last = metrics[0], metrics[-1]
    rollouts = len({r.get("rollout", r["step"]) for r in metrics})
    if rollouts < 2:
        why = ("PPO ran a single rollout: its reward and KL are measured on the answers sampled *before* the "
               "updates on them (KL is 0 by construction), so this run cannot show whether PPO moves the policy; "
               "it needs more steps than `ppo_epochs` × `minibatches` (one rollout's worth).")
    else:
        why = (f"{rollouts} rollouts, each measured on answers sampled before the updates on it, so the first "
               "rollout's KL is 0 by construction. One number per rollout and no repeat runs: no claim that PPO "
               "raised the reward is made from these.")
    return ["### PPO", "", cmd("ppo"), "",
            f"Reward-model score {first['reward']:.3f} at step {first['step']} → {last['reward']:.3f} at "
            f"step {last['step']}; KL to the starting model {first.get('kl', 0):.3f} → {last.get('kl', 0):.3f}. "
            + why, "", _figure(plot, "PPO reward and KL"), ""]


def _best_of_n(recipe, evaluate, out, figures, cmd) -> list[str]:
    """Best-of-N from the SFT policy against N; with a proxy reward model, the proxy selects and
    the full reward model judges (Gao et al. 2023's reward-hacking set-up), PPO's run beside it."""
    ns = evaluate.get("best_of_n")
    if not ns or not (out / "reward" / "checkpoint").is_dir() or not (out / "sft" / "checkpoint").is_dir():
        return []
    from train.eval.reward_hacking import best_of_n_curve, plot_reward_hacking, read_ppo_curve
    from train.model.checkpoint import load_model, load_tokenizer
    from train.stages.reward.reward_function import load_reward_function
    gold = load_reward_function(str(out / "reward"))
    has_proxy = (out / "reward_proxy" / "checkpoint").is_dir()
    proxy = load_reward_function(str(out / "reward_proxy")) if has_proxy else gold
    prompts = [[{"role": "user", "content": p}] for _, p in evaluation_prompts(evaluate)]
    max_new = evaluate.get("max_new_tokens", 64)
    curve = best_of_n_curve(load_model(out / "sft"), load_tokenizer(out / "sft"), prompts, proxy, gold,
                            ns, max_new_tokens=max_new)
    write_atomic_json(str(out / "best_of_n.json"), curve.to_dict())
    ppo_metrics = read_metrics(out / "ppo")
    ppo = [read_ppo_curve(out / "ppo", "PPO")] if any("gold_reward" in r for r in ppo_metrics) else []
    plot = figures / "reward_hacking.png"
    plot_reward_hacking(curve, plot, ppo)
    judge = "the proxy reward model (`reward_proxy`, trained on a small part of the pairs) selects, " \
            "the reward model trained on all of them (`reward`) plays the gold judge" if has_proxy else \
            "the reward model selects and judges"
    rows = [f"| {n} | {kl:.3f} | {p:+.3f} | {g:+.3f} |"
            for n, kl, p, g in zip(curve.n, curve.kl, curve.proxy, curve.gold)]
    return ["### Best-of-N and reward hacking", "",
            f"{len(prompts)} held-out prompts, {curve.samples} answers sampled per prompt from the SFT "
            f"model (temperature 1, at most {max_new} tokens); best-of-N for each N is estimated over "
            f"all subsets of the pool ({curve.estimator}). {judge[0].upper() + judge[1:]}. KL is the "
            "analytic bound log N − (N−1)/N." + (" PPO's curve is its rollouts' proxy and gold "
                                                  "reward against its measured KL." if ppo else ""), "",
            "| N | KL bound | proxy reward of the pick | gold reward of the pick |", "|---|---|---|---|",
            *rows, "", _figure(plot, "reward hacking"), ""]


def _bar_chart(path: Path, items: list[tuple[str, int]], title: str, unit: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.2), dpi=120)
    labels, values = zip(*items)
    ax.barh(range(len(items)), values, color="#4c72b0")
    ax.set_yticks(range(len(items)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _line_chart(path: Path, steps: list, series: dict[str, list], title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3.2), dpi=120, squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        points = [(s, v) for s, v in zip(steps, values) if v is not None]
        ax.plot(*zip(*points), marker=".")
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def quote(text: str, limit: int = 80) -> str:
    """One line of model output for a Markdown page: whitespace folded, cut, table-safe."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…").replace("|", "\\|")


def evaluation_prompts(evaluate: dict, languages: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(language, instruction) from `[evaluate] prompts`, `per_language` of each language."""
    from train.eval.turn_taking import seed_task_prompts
    return [(language, prompt) for language, path in evaluate.get("prompts", {}).items()
            if languages is None or language in languages
            for prompt in seed_task_prompts(path, evaluate.get("per_language", 20))]


def publish(page: Path, target: Path, name: str, kind: str = "recipe") -> None:
    """Put this recipe's (or ablation's) page into `target` between its markers, figures beside it."""
    images = target.parent / "img" / "results" / name
    images.mkdir(parents=True, exist_ok=True)
    body = page.read_text(encoding="utf-8")
    for figure in (page.parent / "figures").glob("*.png"):  # the page's own: OUT may hold other recipes'
        if f"](figures/{figure.name})" in body:
            shutil.copyfile(figure, images / figure.name)
    body = body.replace("](figures/", f"](img/results/{name}/")
    begin, end = f"<!-- {kind}:{name} -->", f"<!-- /{kind}:{name} -->"
    block = f"{begin}\n{body}{end}"
    text = target.read_text(encoding="utf-8") if target.is_file() else "# Results\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    target.write_text(text, encoding="utf-8")
