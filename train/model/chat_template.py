"""The chat template: who speaks is marked by reserved special tokens, a turn ends with one.

    <|begin_of_text|><|system|>Be brief.<|end_of_turn|><|user|>Hi<|end_of_turn|><|assistant|>Hello!<|end_of_turn|>

The same rendering is used for training (with a mask of the supervised tokens), for generation
(ending in `<|assistant|>`, the generation prompt) and for export (`CHAT_TEMPLATE`, the Jinja
version written into the HF tokenizer config, which yields the same ids). Role markers are ids
placed by code, and message text is encoded as plain text, so a message cannot forge a turn.
"""
from __future__ import annotations

from dataclasses import dataclass

from corpus.errors import UserError

from .tokenizer import Tokenizer

ROLES = ("system", "user", "assistant")

# Jinja for transformers' apply_chat_template; renders to the token sequence `render` builds.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end_of_turn|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


@dataclass
class Rendered:
    ids: list[int]
    supervised: list[bool]   # True where the loss counts: assistant text and its end-of-turn


def check_messages(messages: list[dict]) -> list[dict]:
    """Messages as {role, content} with known roles and string content, or a UserError."""
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise UserError(f"message {i} is not an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise UserError(f"message {i}: role must be one of {', '.join(ROLES)}, not {role!r}")
        if not isinstance(content, str):
            raise UserError(f"message {i}: content must be a string")
        clean.append({"role": role, "content": content})
    return clean


def render(tokenizer: Tokenizer, messages: list[dict], add_generation_prompt: bool = False,
           train_on: str = "assistant") -> Rendered:
    """Token ids of a conversation and which of them are supervised.

    `train_on = "assistant"` supervises every assistant turn (multi-turn SFT); "last" only the
    final one (preference answers, where the history is shared context).
    """
    special = tokenizer.special
    missing = [name for name in ("user", "assistant", "end_of_turn") if name not in special]
    if missing:
        raise UserError(f"the tokenizer has no chat tokens ({', '.join(missing)}); "
                        "train it with `xiulian tokenizer train` (imported models: see docs/sft.md)")
    ids = [special["bos"]] if "bos" in special else []
    supervised = [False] * len(ids)
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    for i, message in enumerate(messages):
        learn = message["role"] == "assistant" and (train_on == "assistant" or i == last_assistant)
        body = tokenizer.encode(message["content"]) + [special["end_of_turn"]]
        ids += [special[message["role"]]] + body
        supervised += [False] + [learn] * len(body)
    if add_generation_prompt:
        ids.append(special["assistant"])
        supervised.append(False)
    return Rendered(ids, supervised)


def prompt_ids(tokenizer: Tokenizer, messages: list[dict]) -> list[int]:
    """What the model continues to answer: the conversation so far plus `<|assistant|>`."""
    return render(tokenizer, messages, add_generation_prompt=True).ids


def stop_ids(tokenizer: Tokenizer) -> set[int]:
    return {tokenizer.eos_id} | ({tokenizer.special["end_of_turn"]}
                                 if "end_of_turn" in tokenizer.special else set())
