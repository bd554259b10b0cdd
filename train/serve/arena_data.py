"""The arena's files: the prompts people judge answers to, and the preference log they fill.

The log is two append-only JSON Lines files. `PREFS.jsonl` holds only preference pairs,
`{"prompt", "chosen", "rejected", ...}`, so every line is one that `xiulian reward` and
`xiulian dpo` read as it is. Ties and "both bad" say nothing about which answer is better;
they go to `PREFS.ties.jsonl` beside it (`{"prompt", "answers", "judgement", ...}`), where they
are kept but cannot be mistaken for a pair. Each judgement is flushed and fsynced before the
page hears it was saved; on restart, prompts found in either file are not shown again.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import UserError
from train.model.chat_template import check_messages


@dataclass
class ArenaPrompt:
    prompt: str | list[dict]   # as written to the log: the user's text, or a conversation
    messages: list[dict]       # what the models answer: the conversation up to the last user turn

    @property
    def key(self) -> str:
        return prompt_key(self.prompt)


def prompt_key(prompt) -> str:
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def load_prompts(path: str | os.PathLike) -> tuple[list[ArenaPrompt], int]:
    """Prompts from .txt (one a line), .json (an array) or .jsonl; also the count of records that
    had no usable prompt. Repeated prompts are kept once."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no prompts file at {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".txt":
        records = [line.strip() for line in text.splitlines() if line.strip()]
    elif path.suffix == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(records, list):
            raise UserError(f"{path}: expected a JSON array of prompts")
    else:
        records = []
        for line in filter(str.strip, text.splitlines()):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append(None)  # counted below as unusable
    prompts, unusable, seen = [], 0, set()
    for record in records:
        prompt = _prompt(record)
        if prompt is None:
            unusable += 1
            continue
        if prompt.key not in seen:
            seen.add(prompt.key)
            prompts.append(prompt)
    if not prompts:
        raise UserError(f"{path}: no prompts found (expected `prompt`, `instruction` or `messages` "
                        "fields, or a .txt file with one prompt a line)")
    return prompts, unusable


def _prompt(record) -> ArenaPrompt | None:
    if isinstance(record, str):
        text = record.strip()
    elif not isinstance(record, dict):
        return None
    elif isinstance(record.get("messages"), list) or isinstance(record.get("prompt"), list):
        return _conversation(record.get("messages") or record.get("prompt"))
    elif isinstance(record.get("prompt"), str):
        text = record["prompt"].strip()
    elif isinstance(record.get("instruction"), str):  # Alpaca: the input, if any, follows
        extra = record.get("input")
        text = record["instruction"].strip()
        text += f"\n{extra.strip()}" if isinstance(extra, str) and extra.strip() else ""
    else:
        return None
    return ArenaPrompt(text, [{"role": "user", "content": text}]) if text else None


def _conversation(messages: list) -> ArenaPrompt | None:
    """A conversation, cut after its last user turn (what follows is a reference answer)."""
    try:
        messages = check_messages(messages)
    except UserError:
        return None
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    if last_user < 0:
        return None
    messages = messages[:last_user + 1]
    if len(messages) == 1:
        return ArenaPrompt(messages[0]["content"], messages)
    return ArenaPrompt(messages, messages)


class PreferenceLog:
    """Append-only judgement files; `judged` holds the prompt keys already in them."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        name = self.path.name.removesuffix(".jsonl")
        self.ties_path = self.path.with_name(f"{name}.ties.jsonl")
        self.judged: set[str] = set()
        self._lock = threading.Lock()
        for file in (self.path, self.ties_path):
            if file.is_file():
                _repair_tail(file)
                for line in file.read_text(encoding="utf-8").splitlines():
                    try:
                        self.judged.add(prompt_key(json.loads(line)["prompt"]))
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # a line someone edited by hand: leave it be

    def write(self, record: dict) -> None:
        """Append one judgement, durably: a pair to PREFS.jsonl, anything else to the ties file."""
        file = self.path if "chosen" in record else self.ties_path
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            file.parent.mkdir(parents=True, exist_ok=True)
            with open(file, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self.judged.add(prompt_key(record["prompt"]))


def _repair_tail(file: Path) -> None:
    """A crash mid-write can leave half a line (never acknowledged to the page): drop it, so the
    next judgement starts on a line of its own. A whole record missing its newline gets one."""
    data = file.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    try:
        json.loads(data[cut:])
        with open(file, "ab") as f:
            f.write(b"\n")
    except ValueError:
        with open(file, "r+b") as f:
            f.truncate(cut)
