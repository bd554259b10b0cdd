"""`xiulian reward score`: a reward model's scores for the records of preference or chat files.

Each record comes back as it was with its scores added: a pair gets `reward_chosen` and
`reward_rejected`; a conversation (messages, ShareGPT, Alpaca) or a `{prompt, completion}`
record (also `response` or `answer`) gets `reward`, the score of its final assistant answer;
a `{prompt, answers: [...]}` record (what `judge` reads) gets `rewards`, one per answer in
its order (None for an empty one).
"""
from __future__ import annotations

import json
import os
from collections import Counter

from corpus.errors import UserError
from train.data.preference_formats import as_messages, to_pair
from train.data.sft_formats import Skipped, read_records, to_messages

ANSWER_KEYS = ("completion", "response", "answer")


def conversations_of(record) -> tuple[str, list[list[dict]]]:
    """("pair", [chosen, rejected]), ("answers", [one per answer]) or ("single", [conversation]);
    Skipped if none."""
    if isinstance(record, dict) and ("chosen" in record or isinstance(record.get("output"), list)):
        pair = to_pair(record)
        return "pair", [pair.prompt + [{"role": "assistant", "content": pair.chosen}],
                        pair.prompt + [{"role": "assistant", "content": pair.rejected}]]
    if isinstance(record, dict) and "prompt" in record and isinstance(record.get("answers"), list):
        if not any(_has_text(a) for a in record["answers"]):
            raise Skipped("a prompt whose answers list has no text")
        prompt = as_messages(record["prompt"], "user")
        return "answers", [to_messages({"messages": prompt + as_messages(a)})
                           for a in record["answers"] if _has_text(a)]
    if isinstance(record, dict) and "prompt" in record:
        answer = next((record[k] for k in ANSWER_KEYS if k in record), None)
        if answer is None:
            raise Skipped(f"a prompt without an answer ({', '.join(ANSWER_KEYS)})")
        return "single", [to_messages({"messages": as_messages(record["prompt"], "user")
                                       + as_messages(answer)})]
    return "single", [to_messages(record)]


def _has_text(answer) -> bool:
    return isinstance(answer, str) and bool(answer.strip())


def score_files(checkpoint: str, paths: list[str], out, batch_size: int = 16,
                device: str = "cpu") -> dict:
    """Write each scoreable record of `paths` to `out` as a JSON line with its scores added."""
    from train.model.checkpoint import load_tokenizer

    from .reward_model import load_reward_model, score
    model = load_reward_model(checkpoint, device)
    tokenizer = load_tokenizer(checkpoint)
    records, kinds, conversations, skipped = [], [], [], Counter()
    for path in map(str, paths):
        if not os.path.isfile(path):
            raise UserError(f"no such file: {path}")
        for record in read_records(path):
            try:
                kind, found = conversations_of(record)
            except Skipped as reason:
                skipped[f"{os.path.basename(path)}: {reason}"] += 1
                continue
            records.append(record)
            kinds.append(kind)
            conversations += found
    if not records:
        why = "; ".join(f"{n} x {reason}" for reason, n in skipped.items()) or "the files are empty"
        raise UserError(f"no record to score ({why}); records are preference pairs, "
                        "conversations, {prompt, completion} or {prompt, answers: [...]}")
    rewards = iter(score(model, tokenizer, conversations, batch_size))
    singles, pairs_right, pairs = [], 0, 0
    for record, kind in zip(records, kinds):
        if kind == "answers":  # aligned with `answers`: an empty answer was not scored
            record = {**record, "rewards": [next(rewards) if _has_text(a) else None
                                            for a in record["answers"]]}
            singles += [r for r in record["rewards"] if r is not None]
        elif kind == "pair":
            chosen, rejected = next(rewards), next(rewards)
            record = {**record, "reward_chosen": chosen, "reward_rejected": rejected}
            pairs += 1
            pairs_right += chosen > rejected
        else:
            record = {**record, "reward": next(rewards)}
            singles.append(record["reward"])
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {"scored": len(records), "skipped": skipped, "pairs": pairs,
            "accuracy": pairs_right / pairs if pairs else None,
            "mean_reward": sum(singles) / len(singles) if singles else None}
