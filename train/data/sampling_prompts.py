"""Prompts for sampling (best-of-N, PPO): conversations that end with a user turn.

Accepted per record, in JSON/JSONL files (.gz ok, as in sft_formats.read_records):
- `{"prompt": "text"}` or `{"prompt": [{"role", "content"}, ...]}` (preference files' prompts too);
- Alpaca `instruction` (+ `input`, `system`, `history`), any `output` ignored;
- `messages` (OpenAI) or `conversations` (ShareGPT): a trailing assistant reply is dropped, so SFT
  files serve as prompt files.
A `.txt` file holds one prompt per line. Records in no known shape are counted by reason, never
silently dropped.
"""
from __future__ import annotations

import os
from collections import Counter

from corpus.errors import UserError
from corpus.readers import record_files

from .sft_formats import Skipped, _from_alpaca, _from_messages, _from_sharegpt, load_records, read_records


def record_to_prompt(record) -> list[dict]:
    """One record as messages ending with a user turn, or raise Skipped."""
    if not isinstance(record, dict) or record.get("__broken__"):
        raise Skipped("not a JSON object")
    if "prompt" in record:
        prompt = record["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _from_messages(prompt)
    elif "instruction" in record:
        messages = _from_alpaca({**record, "output": ""})[:-1]
    elif "messages" in record:
        messages = _from_messages(record["messages"])
    elif "conversations" in record:
        messages = _from_sharegpt(record["conversations"], record.get("system"))
    else:
        raise Skipped("unknown format (no prompt, instruction, messages or conversations)")
    if messages and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if not messages or messages[-1]["role"] != "user":
        raise Skipped("does not end with a user turn")
    if not messages[-1]["content"].strip():
        raise Skipped("empty prompt")
    return messages


def read_prompts(paths: list[str]) -> tuple[list[list[dict]], Counter]:
    """All usable prompts in `paths` (message lists, file order), and skipped records by reason."""
    return load_records(paths, record_to_prompt, "prompts", read=_prompt_records)


def _prompt_records(path: str):
    """A .txt file's non-empty lines as {"prompt": line}; any other file's JSON records."""
    if not path.endswith((".txt", ".txt.gz")):
        yield from read_records(path)
        return
    if not os.path.isfile(path):
        raise UserError(f"no such file: {path}")
    yield from ({"prompt": line.strip()} for line in record_files.read_records(path, "text"))


def fit_prompt(ids: list[int], max_len: int, max_new_tokens: int) -> list[int]:
    """`ids` cut so the answer keeps min(max_new_tokens, half the context) of room: the first
    token (beginning of text) stays, and the end (the last user turn and `<|assistant|>`)."""
    budget = max_len - min(max_new_tokens, max_len // 2)
    return ids if len(ids) <= budget else ids[:1] + ids[len(ids) - budget + 1:]
