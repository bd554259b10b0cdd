"""Preference data in the common formats, detected per record: pairs for the reward model and
DPO, judged answers for KTO.

Pairs (a prompt conversation, a chosen and a rejected answer):
- `{"prompt", "chosen", "rejected"}`: strings, or message lists (TRL's conversational format);
  what `xiulian arena` writes. Without `prompt`, chosen and rejected are whole conversations and
  their shared beginning is the prompt (TRL's "implicit prompt").
- hh-rlhf: `chosen`/`rejected` are whole transcripts ("\\n\\nHuman: ...\\n\\nAssistant: ...").
- LLaMA-Factory (Alpaca style): `instruction`, `input`, `output: [chosen, rejected]`, optional
  `system` and `history`; or `chosen`/`rejected` beside `instruction`. A longer ranked `output`
  list gives its first two, as LLaMA-Factory reads it.
- ShareGPT-DPO: `conversations`, `chosen`, `rejected` (each turn `{"from", "value"}`).
An optional numeric `margin` (TRL's column) says by how much chosen is better.

Judged answers (KTO): `{"prompt", "completion", "label"}` (TRL's unpaired format), or a
conversation (`messages` or `conversations`) with a boolean `label` (LLaMA-Factory; `kto_tag`
too) whose last assistant message is the answer. A pair is also two judged answers, chosen
desirable and rejected undesirable, as TRL turns paired data into KTO data.

Every record becomes full conversations first and is split where chosen and rejected part, so
all formats meet the same checks. Unusable records are skipped and counted by reason.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .sft_formats import Skipped, load_records, to_messages


@dataclass(frozen=True)
class PreferencePair:
    prompt: list[dict]            # the conversation before the answers; ends with a user turn
    chosen: str
    rejected: str
    margin: float | None = None   # how much better chosen is, when the data rates it


@dataclass(frozen=True)
class JudgedAnswer:
    prompt: list[dict]
    completion: str
    desirable: bool


HH_TURN = re.compile(r"\n\n(Human|Assistant):")
HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def parse_transcript(text: str) -> list[dict]:
    """An hh-rlhf transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") as chat messages."""
    parts = HH_TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise Skipped("transcript does not start with a Human: turn")
    return [{"role": HH_ROLES[speaker], "content": body.strip()}
            for speaker, body in zip(parts[1::2], parts[2::2])]


def _margin(record: dict) -> float | None:
    value = record.get("margin")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Skipped("margin is not a number")
    return float(value)


def as_messages(value, role: str = "assistant") -> list[dict]:
    """A string as one message of `role`; a message list as it is."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list):
        return value
    raise Skipped(f"{role} text is neither a string nor a message list")


def _turn(value, what: str) -> dict:
    """A ShareGPT answer: {"from", "value"}, or a plain string."""
    if isinstance(value, str):
        return {"from": "gpt", "value": value}
    if isinstance(value, dict):
        return value
    raise Skipped(f"{what} is neither a turn nor a string")


def _conversations(record: dict) -> tuple[list[dict], list[dict]]:
    """The chosen and the rejected conversation of a pair record, each ending with its answer."""
    chosen, rejected = record["chosen"], record["rejected"]
    if "conversations" in record:  # ShareGPT-DPO
        shared = {"system": record.get("system")}
        return (to_messages({**shared, "conversations": [*record["conversations"], _turn(chosen, "chosen")]}),
                to_messages({**shared, "conversations": [*record["conversations"], _turn(rejected, "rejected")]}))
    if "instruction" in record:  # LLaMA-Factory, chosen/rejected columns
        if not (isinstance(chosen, str) and isinstance(rejected, str)):
            raise Skipped("chosen and rejected must be strings")
        return to_messages({**record, "output": chosen}), to_messages({**record, "output": rejected})
    if "prompt" in record:
        prompt = as_messages(record["prompt"], "user")
        if isinstance(record.get("system"), str) and record["system"].strip():
            prompt = [{"role": "system", "content": record["system"]}] + prompt
        return (to_messages({"messages": prompt + as_messages(chosen)}),
                to_messages({"messages": prompt + as_messages(rejected)}))
    if isinstance(chosen, str) and isinstance(rejected, str):
        if not HH_TURN.search(chosen):
            raise Skipped("chosen and rejected without a prompt, and not hh-rlhf transcripts")
        chosen, rejected = parse_transcript(chosen), parse_transcript(rejected)
    return to_messages({"messages": chosen}), to_messages({"messages": rejected})


def split_pair(chosen: list[dict], rejected: list[dict], margin: float | None = None) -> PreferencePair:
    """Two conversations that agree up to their final answer, as (prompt, chosen, rejected)."""
    shared = 0
    while (shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]):
        shared += 1
    chosen_rest, rejected_rest = chosen[shared:], rejected[shared:]
    if not chosen_rest and not rejected_rest:
        raise Skipped("chosen and rejected are the same")
    if len(chosen_rest) != 1 or len(rejected_rest) != 1:
        raise Skipped("chosen and rejected differ before their last answer")
    prompt = chosen[:shared]
    if not prompt or prompt[-1]["role"] != "user":
        raise Skipped("the prompt does not end with a user turn")
    return PreferencePair(prompt, chosen_rest[0]["content"], rejected_rest[0]["content"], margin)


def to_pair(record) -> PreferencePair:
    """One record as a preference pair, or raise Skipped with the reason."""
    if not isinstance(record, dict) or record.get("__broken__"):
        raise Skipped("not a JSON object")
    if "instruction" in record and isinstance(record.get("output"), list):  # LLaMA-Factory ranking
        ranked = record["output"]
        if len(ranked) < 2 or not all(isinstance(a, str) for a in ranked[:2]):
            raise Skipped("output must list at least two answers, best first")
        record = {**{k: v for k, v in record.items() if k != "output"},
                  "chosen": ranked[0], "rejected": ranked[1]}
    if "chosen" not in record or "rejected" not in record:
        if "label" in record or "kto_tag" in record:
            raise Skipped("a judged answer (KTO data), not a pair")
        raise Skipped("unknown format (no chosen and rejected)")
    return split_pair(*_conversations(record), _margin(record))


def _label(record: dict) -> bool:
    label = record.get("label", record.get("kto_tag"))
    if not isinstance(label, bool):
        raise Skipped("label is not true or false")
    return label


def to_judged(record) -> list[JudgedAnswer]:
    """One record as judged answers for KTO (two for a pair), or raise Skipped."""
    if not isinstance(record, dict) or record.get("__broken__"):
        raise Skipped("not a JSON object")
    if "chosen" in record or ("instruction" in record and isinstance(record.get("output"), list)):
        pair = to_pair(record)
        return [JudgedAnswer(pair.prompt, pair.chosen, True), JudgedAnswer(pair.prompt, pair.rejected, False)]
    if "label" not in record and "kto_tag" not in record:
        raise Skipped("unknown format (no label, and not a pair)")
    if "prompt" in record and "completion" in record:
        messages = to_messages({"messages": as_messages(record["prompt"], "user")
                                + as_messages(record["completion"])})
    elif "messages" in record or "conversations" in record:
        messages = to_messages(record)
    else:
        raise Skipped("a label without prompt and completion, messages or conversations")
    if len(messages) < 2 or messages[-2]["role"] != "user":
        raise Skipped("the prompt does not end with a user turn")
    return [JudgedAnswer(messages[:-1], messages[-1]["content"], _label(record))]


def load_pairs(paths: list[str]) -> tuple[list[PreferencePair], Counter]:
    """All usable preference pairs in `paths`, and the skipped records counted by reason."""
    return load_records(paths, to_pair, "preference pairs")


def load_judged(paths: list[str]) -> tuple[list[JudgedAnswer], Counter]:
    """All judged answers in `paths` (pairs give two each), and the skipped records by reason."""
    return load_records(paths, to_judged, "judged answers", many=True)
