"""`xiulian judge`: preference pairs from AI feedback. Reads prompts with two or more answers (or
samples them from a policy), has a judge model pick the better answer (train/stages/judge/judge.py), and
writes `{prompt, chosen, rejected, judge}` rows that `xiulian dpo` and `xiulian reward` read.

Input records (JSON/JSONL, .gz ok): a prompt — `prompt` (string or message list, optional
`system`), Alpaca `instruction` (+ `input`), or `messages`/`conversations` ending with a user turn
— with its answers as `answers` (strings), `samples` ([{"text"}], what `xiulian bon --keep-all`
writes) or `answer_a` and `answer_b`. A preference pair in any format `xiulian dpo` reads is
judged as two answers in a seeded random order, and the summary says how often the judge agrees
with the data's label. Registered by train/cli.py; torch is imported only when the command runs.
"""
from __future__ import annotations

import os
import random
import sys
from collections import Counter

from corpus.errors import UserError
from train.data.sft_formats import Skipped, write_records

ANSWER_KEYS = ("answers", "samples", "answer_a")


def add_parsers(sub, command) -> None:
    p = command(sub, "judge", "Judge answers with a model (AI feedback): for each prompt, compare its "
                "answers in both orders by the judge's probability of replying A or B, and write "
                "the most and least preferred as a preference pair for `xiulian dpo` / `xiulian reward`. "
                "With --prompts and --policy it samples the answers first (one self-rewarding round "
                "when --policy is the judge).",
                "xiulian judge --judge sft --data answers.jsonl -o prefs.jsonl --min-confidence 0.6\n"
                "  xiulian judge --judge sft --policy sft --prompts prompts.jsonl -n 4 -o prefs.jsonl\n"
                "  xiulian judge --judge sft --data dpo_en_demo.json -o rejudged.jsonl   # agreement with labels")
    p.add_argument("--judge", required=True, metavar="CKPT", help="judge checkpoint or run (ours or imported)")
    p.add_argument("--data", nargs="+", metavar="FILE", help="prompts with answers (or preference pairs)")
    p.add_argument("--prompts", nargs="+", metavar="FILE", help="prompts to sample answers for (needs --policy)")
    p.add_argument("--policy", metavar="CKPT", help="checkpoint that samples -n answers per prompt")
    p.add_argument("-n", "--num-answers", type=int, default=4, help="answers sampled per prompt")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="preference pairs")
    p.add_argument("--template", metavar="FILE",
                   help="judging prompt with {question}, {answer_a} and {answer_b} (default: see docs)")
    p.add_argument("--prompt-style", choices=("auto", "chat", "plain"), default="auto",
                   help="chat: the template as a user turn, then 'A'/'B'; plain: the template, "
                        "'Better answer:', then ' A'/' B' (auto: chat when the tokenizer has chat tokens)")
    p.add_argument("--min-confidence", type=float, default=0.5, metavar="C",
                   help="skip pairs whose averaged P(chosen better) is below C")
    p.add_argument("--keep-unfinished", action="store_true",
                   help="keep answers cut off at --max-new-tokens, and samples marked \"finished\": false "
                        "(dropped by default)")
    p.add_argument("--batch-size", type=int, default=8, help="judging prompts per forward pass")
    from train.core.config import add_sampling_options
    add_sampling_options(p, temperature=0.7)   # for --policy; --seed also orders labelled pairs
    p.set_defaults(max_new_tokens=256)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=lambda args: _run(p, args))


def _run(p, args) -> int:
    if bool(args.data) == bool(args.prompts):
        p.error("give either --data (answers to judge) or --prompts with --policy (answers to sample)")
    if args.prompts and not args.policy:
        p.error("--prompts needs --policy, the checkpoint that samples the answers")
    if args.num_answers < 2 or args.batch_size < 1 or not 0 <= args.min_confidence <= 1:
        p.error("-n must be >= 2, --batch-size >= 1 and --min-confidence in [0, 1]")
    template = None
    if args.template:
        try:
            template = open(args.template, encoding="utf-8").read().rstrip("\n")
        except OSError as exc:
            raise UserError(f"cannot read --template {args.template}: {exc}") from None
    summary = judge_files(args.judge, args.output, data=args.data, prompts=args.prompts,
                          policy=args.policy, num_answers=args.num_answers, template=template,
                          style=args.prompt_style, min_confidence=args.min_confidence,
                          sampling=dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                        top_k=args.top_k, top_p=args.top_p, seed=args.seed),
                          keep_unfinished=args.keep_unfinished, batch_size=args.batch_size,
                          device=args.device, progress=not args.quiet)
    print(report(summary, args.output))
    return 0


# ---- inputs --------------------------------------------------------------------------------

def _answers(record: dict, keep_unfinished: bool, dropped: Counter) -> list[str]:
    if "answers" in record:
        answers = record["answers"]
    elif "samples" in record:
        samples = record["samples"] if isinstance(record["samples"], list) else None
        if samples is not None and not keep_unfinished:   # bon marks answers cut off at its limit
            dropped["unfinished (\"finished\": false)"] += sum(isinstance(s, dict) and s.get("finished") is False
                                                             for s in samples)
            samples = [s for s in samples if not (isinstance(s, dict) and s.get("finished") is False)]
        answers = [s.get("text") if isinstance(s, dict) else s for s in samples] if samples is not None else None
    else:
        answers = [record.get("answer_a"), record.get("answer_b")]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise Skipped("answers must be a list of strings (samples: of {\"text\"})")
    return answers


def candidates_of(record, rng: random.Random, keep_unfinished: bool = False,
                  dropped: Counter | None = None) -> tuple[list[dict], list[str], int | None]:
    """(prompt messages, answers, index of the answer the data prefers or None), or Skipped."""
    from train.data.preference_formats import to_pair
    from train.data.sampling_prompts import record_to_prompt
    if isinstance(record, dict) and any(key in record for key in ANSWER_KEYS):
        prompt = record_to_prompt(record)
        system = record.get("system")
        if "prompt" in record and isinstance(system, str) and system.strip() and prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": system}] + prompt
        return prompt, _answers(record, keep_unfinished, Counter() if dropped is None else dropped), None
    if isinstance(record, dict) and ("chosen" in record or isinstance(record.get("output"), list)):
        pair = to_pair(record)
        if rng.random() < 0.5:
            return pair.prompt, [pair.chosen, pair.rejected], 0
        return pair.prompt, [pair.rejected, pair.chosen], 1
    raise Skipped("no answers to compare (answers, samples, answer_a/answer_b, or chosen/rejected)")


def distinct(answers: list[str], dropped: Counter) -> list[int]:
    """Indices of the non-empty answers, the first of each repeated text; Skipped below two."""
    kept, seen = [], set()
    for i, answer in enumerate(answers):
        if not answer.strip():
            dropped["empty"] += 1
        elif answer.strip() in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(answer.strip())
            kept.append(i)
    if len(kept) < 2:
        raise Skipped("fewer than two different answers")
    return kept


def read_candidates(paths: list[str], seed: int, keep_unfinished: bool, dropped: Counter,
                    skipped: Counter) -> list[tuple[list[dict], list[str], int | None]]:
    from train.data.sft_formats import read_records
    found = []
    for path in map(str, paths):
        if not os.path.isfile(path):
            raise UserError(f"no such file: {path}")
        for index, record in enumerate(read_records(path)):
            try:
                rng = random.Random(f"{seed}:{os.path.basename(path)}:{index}")
                found.append(candidates_of(record, rng, keep_unfinished, dropped))
            except Skipped as reason:
                skipped[f"{os.path.basename(path)}: {reason}"] += 1
    return found


def sample_candidates(model, tokenizer, prompts: list[list[dict]], n: int, sampling: dict,
                      keep_unfinished: bool, dropped: Counter, skipped: Counter) -> list:
    """(prompt, n sampled answers, None) per prompt that leaves room to answer."""
    from train.model.chat_template import prompt_ids, stop_ids
    from train.serve.rollout import room_for_answer, sample_answers
    fitting, ids = [], []
    for messages in prompts:
        rendered = prompt_ids(tokenizer, messages)
        if room_for_answer(model, rendered) < 1:
            skipped["prompt leaves the policy no room to answer"] += 1
            continue
        fitting.append(messages)
        ids += [rendered] * n
    sampled = sample_answers(model, ids, stop=stop_ids(tokenizer), **sampling) if ids else []
    found = []
    for k, messages in enumerate(fitting):
        answers = []
        for answer in sampled[k * n:(k + 1) * n]:
            if answer.finished or keep_unfinished:
                answers.append(tokenizer.decode(answer.ids).strip())
            else:
                dropped["cut off at --max-new-tokens"] += 1
        found.append((messages, answers, None))
    return found


# ---- the run -------------------------------------------------------------------------------

def judge_files(judge: str, output: str, data=None, prompts=None, policy=None, num_answers: int = 4,
                template: str | None = None, style: str = "auto", min_confidence: float = 0.5,
                sampling: dict | None = None, keep_unfinished: bool = False, batch_size: int = 8,
                device: str = "cpu", progress: bool = True) -> dict:
    """Judge every record and write the pairs to `output` (atomically); returns the summary."""
    from tqdm import tqdm

    from train.model.checkpoint import load_model, load_tokenizer, resolve

    from .judge import DEFAULT_TEMPLATE, JudgePrompter, judge_many, question_text
    sampling = {"max_new_tokens": 256, "temperature": 0.7, "top_k": None, "top_p": None, "seed": 0,
                **(sampling or {})}
    judge_path = os.path.abspath(resolve(judge))
    skipped, dropped = Counter(), Counter()
    if data:   # read the inputs before loading any model: a bad file fails fast
        candidates = read_candidates(data, sampling["seed"], keep_unfinished, dropped, skipped)
        records = len(candidates) + sum(skipped.values())
        if not candidates:
            raise UserError("no prompts with answers to judge in " + ", ".join(map(str, data))
                            + (f" (skipped: {dict(skipped)})" if skipped else ""))
    else:
        from train.data.sampling_prompts import read_prompts
        messages, skipped = read_prompts(prompts)
        records = len(messages) + sum(skipped.values())
    model = load_model(judge, device).eval()
    tokenizer = load_tokenizer(judge)
    prompter = JudgePrompter(tokenizer, model.config.max_seq_len, template or DEFAULT_TEMPLATE, style)
    if not data:
        same = os.path.abspath(resolve(policy)) == judge_path
        policy_model = model if same else load_model(policy, device).eval()
        candidates = sample_candidates(policy_model, tokenizer if same else load_tokenizer(policy), messages,
                                       num_answers, sampling, keep_unfinished, dropped, skipped)
    judgeable, rows, stats = [], [], Counter()
    comparisons, agreements = [], []
    for prompt, answers, preferred in candidates:
        try:
            judgeable.append((prompt, answers, preferred, distinct(answers, dropped)))
        except Skipped as reason:
            skipped[str(reason)] += 1
    chunk = 64
    bar = tqdm(total=len(judgeable), desc="judge", unit="prompt", disable=not progress, file=sys.stderr)
    for start in range(0, len(judgeable), chunk):
        part = judgeable[start:start + chunk]
        tasks = [(question_text(prompt), [answers[i] for i in keep]) for prompt, answers, _, keep in part]
        for (prompt, answers, preferred, keep), verdict in zip(part, judge_many(model, prompter, tasks, batch_size)):
            if isinstance(verdict, Skipped):
                skipped[str(verdict)] += 1
                continue
            stats["judged"] += 1
            stats["truncated"] += verdict.truncated
            comparisons += verdict.comparisons
            chosen, rejected = keep[verdict.chosen], keep[verdict.rejected]
            if preferred is not None:
                agreements.append(chosen == preferred)
            p = verdict.comparison.p_first
            if p < min_confidence:
                skipped["below --min-confidence"] += 1
                continue
            row = {"prompt": _prompt_field(prompt), "chosen": answers[chosen], "rejected": answers[rejected],
                   "judge": {"model": judge_path, "p_chosen": round(p, 4),
                             "position_bias": round(verdict.comparison.position_bias, 4)}}
            if policy:
                row["policy"] = os.path.abspath(resolve(policy))
            rows.append(row)
        bar.update(len(part))
    bar.close()
    write_records(output, rows)
    mean = lambda values: sum(values) / len(values) if values else None  # noqa: E731
    return {"records": records, "judged": stats["judged"], "pairs": len(rows),
            "skipped": +skipped, "answers_dropped": +dropped,
            "truncated": stats["truncated"], "prompt_style": prompter.style,
            "mean_confidence": mean([r["judge"]["p_chosen"] for r in rows]),
            "position_bias": mean([c.position_bias for c in comparisons]),
            "consistency": mean([c.consistent for c in comparisons]),
            "label_mass": mean([c.label_mass for c in comparisons]),
            "agreement": mean(agreements), "labelled": len(agreements)}


def _prompt_field(messages: list[dict]):
    """A lone user turn as its text, a longer conversation as its messages."""
    return messages[0]["content"] if len(messages) == 1 and messages[0]["role"] == "user" else messages


def report(summary: dict, output: str) -> str:
    """The summary as a few lines for stdout."""
    lines = [f"judge: {summary['records']} records, {summary['judged']} judged, "
             f"{summary['pairs']} pairs written -> {output}"]
    if summary["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary["skipped"].most_common())
        lines.append(f"  skipped: {reasons}")
    if summary["answers_dropped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary["answers_dropped"].most_common())
        lines.append(f"  answers dropped: {reasons}")
        if summary["answers_dropped"]["cut off at --max-new-tokens"] and not summary["judged"]:
            lines.append("  (no answer ended its turn in time: raise --max-new-tokens, or --keep-unfinished)")
    if summary["judged"]:
        if summary["mean_confidence"] is not None:
            lines.append(f"  mean P(chosen better) {summary['mean_confidence']:.3f} over the pairs written")
        lines.append(f"  position bias {summary['position_bias']:+.3f} (P(answer A is better) - 0.5, mean over "
                     f"both orders; same winner in both orders in {summary['consistency']:.1%} of comparisons; "
                     f"p(A) + p(B) {summary['label_mass']:.3f}; {summary['prompt_style']} prompt)")
    if summary["truncated"]:
        lines.append(f"  {summary['truncated']} prompts cut to fit the judge's context")
    if summary["labelled"]:
        lines.append(f"  agrees with the data's preferred answer in {summary['agreement']:.1%} "
                     f"of {summary['labelled']} labelled pairs")
    return "\n".join(lines)
