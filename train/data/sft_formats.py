"""Instruction data in the common formats, detected per record, as lists of chat messages.

- Alpaca: `instruction`, `input`, `output`, optional `system` and `history` ([[user, reply], ...]),
  as in Stanford Alpaca and LLaMA-Factory's files (LIMA, BELLE, OpenAssistant exports).
- messages: `{"messages": [{"role", "content"}, ...]}` (OpenAI's chat format).
- ShareGPT: `{"conversations": [{"from": "human"|"gpt"|"system", "value"}], "system"?}`.
- question/answer: `{"question", "answer"}`, one exchange (GSM8K's worked answers, kept as written,
  calculator annotations and final `#### n` included).

Files are JSON (an array, or an object holding one) or JSONL, optionally gzipped. A record in
no known shape, or one that does not end with an assistant turn, is skipped and counted by
reason, never silently.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator

from corpus.errors import UserError
from corpus.readers import record_files

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
                  "system": "system"}


class Skipped(Exception):
    """A record that is not a usable conversation; the message is the reason."""


def write_records(path: str, rows) -> None:
    """Rows as JSON lines, written whole or not at all (corpus.fs: a temporary file, then a rename)."""
    from corpus import fs
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fs.write_bytes(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))


def read_records(path: str) -> Iterator[dict]:
    """Records of a JSON array/object or JSONL file (.gz ok), through the project's one reader
    (corpus/readers/record_files.py); an unreadable file is a UserError, and a broken line comes
    back as a record marked `__broken__` (its message) for the caller to count and skip."""
    if not os.path.isfile(path):
        raise UserError(f"no such file: {path}")
    fmt = "jsonl" if path.removesuffix(".gz").endswith(".jsonl") else "json"
    yield from record_files.read_records(path, fmt, broken="mark")


def to_messages(record) -> list[dict]:
    """One record as [{role, content}, ...] ending with an assistant turn, or raise Skipped."""
    if not isinstance(record, dict) or record.get("__broken__"):
        raise Skipped("not a JSON object")
    if "messages" in record:
        messages = _from_messages(record["messages"])
    elif "conversations" in record:
        messages = _from_sharegpt(record["conversations"], record.get("system"))
    elif "instruction" in record and "output" in record:
        messages = _from_alpaca(record)
    elif "question" in record and "answer" in record:
        messages = _from_question(record)
    else:
        raise Skipped("unknown format (no messages, conversations, instruction+output, or question+answer)")
    if not messages or messages[-1]["role"] != "assistant":
        raise Skipped("does not end with an assistant reply")
    if not messages[-1]["content"].strip():
        raise Skipped("empty assistant reply")
    return messages


def _from_alpaca(record: dict) -> list[dict]:
    output = record["output"]
    if isinstance(output, list):
        raise Skipped("output is a list (a preference pair, not SFT data)")
    if not isinstance(output, str) or not isinstance(record["instruction"], str):
        raise Skipped("instruction and output must be strings")
    messages = []
    if isinstance(record.get("system"), str) and record["system"].strip():
        messages.append({"role": "system", "content": record["system"]})
    for turn in record.get("history") or []:
        if not (isinstance(turn, (list, tuple)) and len(turn) == 2 and all(isinstance(t, str) for t in turn)):
            raise Skipped("history must be a list of [user, assistant] pairs")
        messages += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
    user = record["instruction"]
    extra = record.get("input")
    if isinstance(extra, str) and extra.strip():
        user = f"{user}\n\n{extra}" if user.strip() else extra
    if not user.strip():
        raise Skipped("empty instruction")
    return messages + [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def _from_question(record: dict) -> list[dict]:
    question, answer = record["question"], record["answer"]
    if not isinstance(question, str) or not isinstance(answer, str):
        raise Skipped("question and answer must be strings")
    if not question.strip():
        raise Skipped("empty question")
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def _from_messages(items) -> list[dict]:
    return _turns(items, "messages", "role", "content", "a message lacks string content", "unknown role")


def _from_sharegpt(items, system) -> list[dict]:
    start = [{"role": "system", "content": system}] if isinstance(system, str) and system.strip() else []
    return start + _turns(items, "conversations", "from", "value", "a turn lacks a string value",
                          "unknown speaker")


def _turns(items, name: str, role_key: str, text_key: str, no_text: str, bad_role: str) -> list[dict]:
    """OpenAI messages ({role, content}) and ShareGPT turns ({from, value}) as chat messages."""
    if not isinstance(items, list):
        raise Skipped(f"{name} is not a list")
    messages = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(text_key), str):
            raise Skipped(no_text)
        role = SHAREGPT_ROLES.get(str(item.get(role_key, "")).lower())
        if role is None:
            raise Skipped(f"{bad_role} {item.get(role_key)!r}")
        messages.append({"role": role, "content": item[text_key]})
    return messages


def load_records(paths: list[str], convert, what: str, many: bool = False,
                 read=read_records) -> tuple[list, Counter]:
    """Every record `read` finds in `paths` through `convert` (one item; with `many`, a list of
    them), in file order; records it rejects with Skipped counted by file and reason; a
    UserError when a file is missing or nothing is usable."""
    items, skipped = [], Counter()
    for path in map(str, paths):
        if not os.path.isfile(path):
            raise UserError(f"no such file: {path}")
        for record in read(path):
            try:
                converted = convert(record)
            except Skipped as reason:
                skipped[f"{os.path.basename(path)}: {reason}"] += 1
                continue
            items.extend(converted if many else [converted])
    if not items:
        raise UserError(f"no usable {what} in " + ", ".join(map(str, paths))
                        + (f" (skipped: {dict(skipped)})" if skipped else ""))
    return items, skipped


def load_conversations(paths: list[str]) -> tuple[list[list[dict]], Counter]:
    """All usable conversations in `paths`, and the skipped records counted by reason."""
    return load_records(paths, to_messages, "conversations")
