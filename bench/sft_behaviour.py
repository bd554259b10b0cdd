"""The lecture's point about stage 2, measured: base vs SFT vs LoRA on held-out instructions.

A pretrained model asked a question continues the text — often with more questions — and
rarely stops. After instruction tuning it answers and ends its turn. For each model this
greedy-decodes held-out instructions (the Alpaca and BELLE seed tasks, never trained on) and
counts the replies that end with an end token within the limit, and the replies that mostly ask
questions instead of answering. Results go to docs/sft.md's "Base vs SFT vs LoRA" section.

    .venv/bin/python bench/sft_behaviour.py --base /tmp/pretrain_prose/run [--steps 400]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import write_section  # noqa: E402

from train.eval.turn_taking import behaviour, seed_task_prompts  # noqa: E402

SFT = ROOT.parent / "shared" / "data" / "sft"


def held_out_prompts(per_language: int) -> list[tuple[str, str]]:
    """(language, instruction) from the seed tasks, with their first input appended."""
    return [(language, prompt) for language, name in (("en", "alpaca_seed_tasks.jsonl"),
                                                      ("zh", "belle_zh_seed_tasks.jsonl"))
            for prompt in seed_task_prompts(SFT / name, per_language)]


def xiulian(*args) -> None:
    print("$ xiulian", " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "corpus.cli", *map(str, args)], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="a pretrained run")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--work", type=Path, default=Path("/tmp/sft_behaviour"))
    parser.add_argument("--per-language", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    config = args.work / "sft.toml"
    config.write_text('[data]\noverlong = "drop"\n')
    data = [SFT / "alpaca_en_demo.json", SFT / "alpaca_zh_demo.json", SFT / "oasst1_sft_zh.json"]
    runs = {"SFT (full)": args.work / "sft", "LoRA (rank 16)": args.work / "lora"}
    xiulian("sft", "--init", args.base, "--data", *data, "-o", runs["SFT (full)"], "--config", config,
            "--max-steps", args.steps, "-q")
    xiulian("sft", "--init", args.base, "--data", *data, "-o", runs["LoRA (rank 16)"], "--config", config,
            "--max-steps", args.steps, "--lora-rank", "16", "-q")
    prompts = held_out_prompts(args.per_language)
    results = {"base (pretrained only)": behaviour(args.base, prompts, chat=False, max_new_tokens=args.max_new_tokens)}
    for name, run in runs.items():
        results[name] = behaviour(run, prompts, chat=True, max_new_tokens=args.max_new_tokens)
    lines = [
        f"Command: `.venv/bin/python bench/sft_behaviour.py --base {args.base} --steps {args.steps}` — "
        f"{len(prompts)} held-out instructions ({args.per_language} Alpaca seed tasks in English, "
        f"{args.per_language} BELLE seed tasks in Chinese), greedy decoding, at most "
        f"{args.max_new_tokens} new tokens. SFT data: alpaca_en_demo, alpaca_zh_demo and oasst1_sft_zh "
        "(conversations longer than the context dropped), same steps and batch for both runs. The base "
        "model gets the instruction as plain text; the tuned ones get it in the chat template.",
        "",
        "| model | replies that end their turn | replies that mostly ask questions |",
        "|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['end_rate']:.0%} | {r['question_rate']:.0%} |")
    lines += ["", "At this scale (a 1.8 M-parameter model with a 256-token context) replies are repetitive "
              "whatever the stage, and none of the models asks questions back; what instruction tuning "
              "changes, measurably, is that the model ends its turn. LoRA trains about 8 % of the "
              "parameters here and, at the same step budget and its default rate, moves much less: "
              "adapters this small need more steps (not tuned here).",
              "", "Example replies (first prompt of each language):", ""]
    for name, r in results.items():
        for language, (prompt, reply) in r["examples"].items():
            lines.append(f"- **{name}**, {language}: {prompt[:80]!r} → {reply[:160]!r}")
    heading = "## Base vs SFT vs LoRA"
    write_section(heading, heading + "\n\n" + "\n".join(lines), ROOT / "docs" / "sft.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
