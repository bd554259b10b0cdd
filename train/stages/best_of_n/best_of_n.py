"""Best-of-N: sample N answers to each prompt and keep the one the reward model scores highest.

The simplest way to spend a reward model — no training — and the baseline PPO has to beat
(Stiennon et al. 2020; Nakano et al. 2021). Its divergence from the policy has a closed-form
bound: the best-of-N distribution π_N satisfies KL(π_N ‖ π) ≤ log N − (N−1)/N (Stiennon et al.
2020; Hilton & Gao's note on Goodhart's law). Beirami et al. 2024 show it is a bound, not the
exact value: close when every answer is rare (long free text), loose when a few answers carry
much of the probability. It makes best-of-N the yardstick for "reward bought per nat of KL".

The mean score of all N answers is the unbiased estimate of what a single sample earns, so one
run reports both sides of the comparison. Answers are sampled by rollout.sample_answers, which
seeds each answer by its index in a call: calls cover fixed groups of prompts (not
--batch-size rows), so the output does not depend on the batch size.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from corpus.errors import UserError
from train.data.sampling_prompts import fit_prompt
from train.model.chat_template import prompt_ids, stop_ids
from train.serve.rollout import sample_answers

ANSWERS_PER_CALL = 512   # one sample_answers call (and one progress tick) per this many answers
PARTS = ("helpful", "safety", "safety_took_over")   # what a safety-combined reward adds


@dataclass
class BestOfNSettings:
    n: int = 4
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int = 0
    batch_size: int = 64             # rows decoded at once; does not change the output
    missing_eos_penalty: float = 0.0
    keep_all: bool = False
    overlong: str = "truncate"       # a prompt that leaves too little room: "truncate" or "drop"

    def check(self) -> None:
        if self.n < 1:
            raise UserError("-n must be at least 1")
        if self.max_new_tokens < 1:
            raise UserError("--max-new-tokens must be at least 1")
        if self.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        if self.temperature < 0:
            raise UserError("--temperature cannot be negative (0 is greedy)")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError("--top-p must be in (0, 1]")
        if self.top_k is not None and self.top_k < 1:
            raise UserError("--top-k must be at least 1")
        if self.overlong not in ("truncate", "drop"):
            raise UserError("--overlong must be truncate or drop")


def kl_bound(n: int) -> float:
    """The analytic bound on KL(best-of-n ‖ policy) in nats: log n − (n − 1)/n."""
    return math.log(n) - (n - 1) / n


def _chunk_seed(seed: int, chunk: int) -> int:
    """The seed of one sample_answers call, which seeds answer i of the call with
    seed * 1_000_003 + i: distinct calls, disjoint streams. Below 2**43 so that stays < 2**64."""
    return (seed * 2**20 + chunk) % 2**43


def _score(reward, conversations: list[list[dict]]) -> dict[str, list]:
    """A RewardFunction's parts, or {"reward": ...} from any callable scoring conversations."""
    if hasattr(reward, "score_parts"):
        return reward.score_parts(conversations)
    return {"reward": list(reward(conversations))}


def best_of_n(policy, tokenizer, reward, prompts: list[list[dict]], settings: BestOfNSettings,
              progress: bool = False) -> tuple[list[dict], dict]:
    """One output row per usable prompt (messages ending with a user turn, as prompts.read_prompts
    gives them), in order, and the run's summary.

    `reward` maps conversations (each ending with the answer) to scores: a
    reward_function.RewardFunction, or any callable. Scores include the missing-EOS penalty; the
    helpful and safety parts of a combined reward do not."""
    settings.check()
    max_len = policy.config.max_seq_len
    kept, counts = [], Counter()
    for prompt in prompts:
        ids = prompt_ids(tokenizer, prompt)
        cut = fit_prompt(ids, max_len, settings.max_new_tokens)
        if len(cut) < len(ids):
            counts["prompts_dropped_overlong" if settings.overlong == "drop" else "prompts_truncated"] += 1
            if settings.overlong == "drop":
                continue
        kept.append((prompt, cut, len(cut) < len(ids)))
    if not kept:
        raise UserError(f"every prompt is too long for the {max_len}-token context (try --overlong truncate)")
    per_call = max(1, ANSWERS_PER_CALL // settings.n)
    calls = range(0, len(kept), per_call)
    from tqdm import tqdm
    bar = tqdm(total=len(kept) * settings.n, desc="best-of-N", unit="answer", dynamic_ncols=True,
               disable=not progress or len(calls) < 2)
    rows, took_over = [], 0
    for chunk, start in enumerate(calls):
        group = kept[start:start + per_call]
        repeated = [entry for entry in group for _ in range(settings.n)]
        answers = sample_answers(policy, [ids for _, ids, _ in repeated],
                                 settings.max_new_tokens, settings.temperature, settings.top_k,
                                 settings.top_p, stop_ids(tokenizer), _chunk_seed(settings.seed, chunk),
                                 settings.batch_size)
        texts = [tokenizer.decode(answer.ids) for answer in answers]
        conversations = [prompt + [{"role": "assistant", "content": text}]
                         for (prompt, _, _), text in zip(repeated, texts)]
        parts = _score(reward, conversations)
        took_over += sum(parts.get("safety_took_over", []))
        for i, (prompt, _, cut) in enumerate(group):
            span = range(i * settings.n, (i + 1) * settings.n)
            rows.append(_row(prompt, cut, [texts[j] for j in span], [answers[j].finished for j in span],
                             {name: [values[j] for j in span] for name, values in parts.items()}, settings))
        bar.update(len(answers))
    bar.close()
    summary = _summary(rows, settings, counts)
    if "safety_took_over" in parts:
        summary["safety_took_over_share"] = took_over / (len(rows) * settings.n)
    return rows, summary


def shown_prompt(messages: list[dict]) -> str | list[dict]:
    """A prompt as an output row gives it: the text of a lone user turn, else the messages —
    the shapes `xiulian reward score` and prompts.read_prompts read back."""
    return messages[0]["content"] if len(messages) == 1 else messages


def _row(prompt: list[dict], cut: bool, texts: list[str], finished: list[bool], parts: dict,
         settings: BestOfNSettings) -> dict:
    """The output row of one prompt: its best answer, and every sample with `keep_all`."""
    rewards = [float(r) - (0.0 if done else settings.missing_eos_penalty)
               for r, done in zip(parts["reward"], finished)]
    best = max(range(len(rewards)), key=lambda j: rewards[j])  # the first of equal scores
    row = {"prompt": shown_prompt(prompt), "answer": texts[best], "reward": rewards[best],
           "finished": finished[best], "mean_reward": sum(rewards) / len(rewards),
           "finished_share": sum(finished) / len(finished)}
    row.update({name: parts[name][best] for name in PARTS if name in parts})
    if cut:
        row["prompt_truncated"] = True
    if settings.keep_all:
        row["samples"] = [{"text": text, "reward": reward, "finished": done,
                           **{name: parts[name][j] for name in PARTS if name in parts}}
                          for j, (text, reward, done) in enumerate(zip(texts, rewards, finished))]
    return row


def _summary(rows: list[dict], settings: BestOfNSettings, counts: Counter) -> dict:
    return {"prompts": len(rows), "n": settings.n,
            "mean_best_reward": sum(r["reward"] for r in rows) / len(rows),
            "mean_single_reward": sum(r["mean_reward"] for r in rows) / len(rows),
            "kl_bound": kl_bound(settings.n),
            "finished_share": sum(r["finished_share"] for r in rows) / len(rows),
            "best_finished_share": sum(r["finished"] for r in rows) / len(rows),
            "missing_eos_penalty": settings.missing_eos_penalty,
            **counts}
