"""Stage two: instruction fine-tuning on conversations, with the loss on the assistant's tokens.

Conversations are rendered with the chat template (train/model/chat_template.py); only the assistant's text
and its `<|end_of_turn|>` are supervised, so the model learns to answer and to stop, not to
imitate users. Each micro-batch is right-padded to its longest example rather than packed:
with causal attention, right padding needs no attention mask (no real token ever sees a pad),
so nothing can leak between conversations and the logits are exactly those of each
conversation alone — packing would need a block-diagonal mask, which SDPA runs much slower on
CPU. Padding costs compute on short examples; sorting is avoided so batches stay i.i.d.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from corpus.errors import UserError
from train.core.config import LoraConfig, TrainConfig, resolve_tables, write_run_json
from train.core.loop import Trainer
from train.core.stage import ExampleStage
from train.data.sft_formats import load_conversations
from train.data.shards import unit_hash
from train.model.chat_template import render
from train.model.checkpoint import load_start
from train.model.lora import setup_lora

SFT_TRAIN_DEFAULTS = dict(lr=5e-4, batch_size=8, eval_every=50, max_steps=500, weight_decay=0.0)
LORA_TRAIN_DEFAULTS = dict(lr=2e-3)


@dataclass
class SFTDataConfig:
    """`[data]` in an SFT config."""
    val_fraction: float = 0.05      # conversations held out for validation loss
    max_val: int = 200
    train_on: str = "assistant"     # every assistant turn; "last": only the final reply
    overlong: str = "truncate"      # longer than the context: "truncate" it, or "drop" it
    split_seed: int = 0

    def __post_init__(self):
        if self.train_on not in ("assistant", "last"):
            raise UserError("[data] train_on must be 'assistant' or 'last'")
        if self.overlong not in ("truncate", "drop"):
            raise UserError("[data] overlong must be 'truncate' or 'drop'")


@dataclass
class Example:
    ids: np.ndarray        # int64 (L,)
    labels: np.ndarray     # int64 (L,): the id where supervised, -100 elsewhere


def build_examples(conversations: list[list[dict]], tokenizer, max_len: int, train_on: str,
                   overlong: str = "truncate") -> tuple[list[Example], dict]:
    """Rendered examples; counts of those cut short (or dropped) or left with nothing to learn.

    A truncated reply loses its end-of-turn token, so it teaches the model to go on rather than
    to stop; `overlong = "drop"` keeps only conversations that fit when that matters more.
    """
    examples, counts = [], {"truncated": 0, "dropped_overlong": 0, "nothing_supervised": 0}
    for messages in conversations:
        rendered = render(tokenizer, messages, train_on=train_on)
        ids, supervised = rendered.ids, rendered.supervised
        if len(ids) > max_len:
            if overlong == "drop":
                counts["dropped_overlong"] += 1
                continue
            counts["truncated"] += 1
            ids, supervised = ids[:max_len], supervised[:max_len]
        if not any(supervised[1:]):
            counts["nothing_supervised"] += 1
            continue
        ids_array = np.asarray(ids, np.int64)
        examples.append(Example(ids_array, np.where(supervised, ids_array, -100)))
    return examples, counts


def collate(examples: list[Example], pad_id: int) -> dict:
    """Right-padded inputs and targets (pads and unsupervised tokens are -100 targets)."""
    width = max(len(e.ids) for e in examples) - 1
    inputs = np.full((len(examples), width), pad_id, np.int64)
    targets = np.full((len(examples), width), -100, np.int64)
    for row, e in enumerate(examples):
        inputs[row, :len(e.ids) - 1] = e.ids[:-1]
        targets[row, :len(e.ids) - 1] = e.labels[1:]
    return {"inputs": torch.from_numpy(inputs), "targets": torch.from_numpy(targets),
            "lengths": torch.tensor([len(e.ids) - 1 for e in examples])}


def token_loss(model, batch: dict) -> torch.Tensor:
    """Mean cross-entropy over supervised targets; exactly 0 (not NaN) when there are none."""
    logits = model(batch["inputs"])
    targets = batch["targets"]
    total = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1),
                            ignore_index=-100, reduction="sum")
    return total / (targets != -100).sum().clamp(min=1)


class SFTStage(ExampleStage):
    empty_message = "no training conversations left after the validation split"
    collate = staticmethod(collate)

    @staticmethod
    def units(batch: dict) -> int:
        return int((batch["targets"] != -100).sum())

    @staticmethod
    def loss(model, batch: dict):
        return token_loss(model, batch), {}


def split_validation(conversations: list[list[dict]], config: SFTDataConfig):
    """(train, validation) by a stable hash of each conversation's text."""
    keyed = [(unit_hash(json.dumps(c, ensure_ascii=False, sort_keys=True), config.split_seed), i)
             for i, c in enumerate(conversations)]
    held = {i for h, i in sorted(keyed)[:config.max_val] if h < config.val_fraction}
    train = [c for i, c in enumerate(conversations) if i not in held]
    return train, [conversations[i] for i in sorted(held)]


def sft(init: str, data_paths: list[str], run_dir: str, config_path: str | None = None,
        overrides: dict | None = None, lora: dict | None = None, progress: bool = True) -> dict:
    """Fine-tune `init` (a checkpoint or run) on conversations; resumes an existing RUN."""
    tables = resolve_tables(config_path, {"train": TrainConfig, "data": SFTDataConfig, "lora": LoraConfig},
                            flags={"train": overrides, "lora": lora}, defaults={"train": SFT_TRAIN_DEFAULTS},
                            lora_train_defaults=LORA_TRAIN_DEFAULTS)
    train_config, data_config, lora = tables["train"], tables["data"], tables["lora"]
    init_dir, tokenizer, model = load_start(init)
    conversations, skipped = load_conversations(list(data_paths))
    train_conv, val_conv = split_validation(conversations, data_config)
    max_len = model.config.max_seq_len + 1
    train, counts = build_examples(train_conv, tokenizer, max_len, data_config.train_on,
                                   data_config.overlong)
    validation, _ = build_examples(val_conv, tokenizer, max_len, data_config.train_on,
                                   data_config.overlong)
    lora_note = setup_lora(model, lora)
    summary = {"stage": "sft", "init": os.path.abspath(init_dir), "data_paths": list(map(str, data_paths)),
               "train": asdict(train_config), "data": asdict(data_config), "lora": lora or None,
               "conversations": {"train": len(train), "validation": len(validation), **counts,
                                 "skipped": dict(skipped)}}
    run = write_run_json(run_dir, summary)
    if progress:
        print(f"sft: {len(train):,} training and {len(validation):,} validation conversations "
              f"({counts['truncated']} truncated to {max_len} tokens, "
              f"{counts['dropped_overlong']} dropped as too long, "
              f"{sum(skipped.values())} records skipped){lora_note}", flush=True)
    stage = SFTStage(train, validation, train_config.batch_size, train_config.seed,
                     tokenizer.special.get("pad", tokenizer.eos_id))
    trainer = Trainer(model, stage, train_config, run, tokenizer,
                      run_config={"stage": "sft", "init": os.path.abspath(init_dir)}, progress=progress)
    return trainer.run()
