"""The reward model: the transformer with a scalar head, trained on preference pairs.

It reads a conversation and gives one number, the score of its final answer ("a virtual
human"). The head is `Linear(dim, 1, bias=False)` on the final normed hidden state of the last
real token — the answer's `<|end_of_turn|>` — as transformers' LlamaForSequenceClassification
scores the last non-pad token. Training minimises TRL's RewardTrainer loss, Bradley–Terry:

    -log σ(r_chosen − r_rejected − margin) + c · mean((r_chosen + r_rejected)²)

with `margin` from the data when it has one, and `center_rewards_coefficient` c (default off)
pulling rewards towards zero mean (so best-of-N and PPO see comparable scales). Held-out
accuracy is the share of pairs whose chosen answer scores strictly higher.

A checkpoint is a language-model checkpoint plus `reward_head.safetensors` (see checkpoint.py):
`load_reward_model` reads it back whole, `load_model` as the plain transformer under it.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from corpus.errors import UserError
from train.core.loop import Trainer
from train.data.preference_batches import (Example, PreferenceStage, answer_ids, collate, fit, pair_examples,
                                           split_by_prompt)
from train.data.preference_formats import load_pairs
from train.model.chat_template import check_messages, prompt_ids
from train.model.checkpoint import WEIGHTS, load_model, load_start, read_config, resolve
from train.model.lora import setup_lora
from train.model.transformer import ModelConfig, Transformer
from train.stages.preference_run import read_settings, start_line, write_run_record

from .config import RewardConfig

REWARD_TRAIN_DEFAULTS = dict(lr=1e-3)  # the new head needs a brisk rate; measured on the tiny preset
LORA_TRAIN_DEFAULTS = dict(lr=2e-3)


class RewardModel(Transformer):
    """A Transformer whose forward gives one reward per sequence instead of logits."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.reward_head = nn.Linear(config.dim, 1, bias=False)
        nn.init.normal_(self.reward_head.weight, std=0.02)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(b,) fp32 rewards of right-padded sequences, read at each one's last real token."""
        hidden = self.hidden_states(idx)
        last = hidden[torch.arange(idx.shape[0], device=idx.device), lengths.to(idx.device) - 1]
        return self.reward_head(last).squeeze(-1).float()

    @classmethod
    def from_language_model(cls, model: Transformer) -> "RewardModel":
        """A reward model starting from a language model's weights (LoRA adapters merged)."""
        from train.model.lora import has_lora, merge_lora
        if has_lora(model):
            merge_lora(model)
        reward_model = cls(model.config)
        missing, unexpected = reward_model.load_state_dict(model.state_dict(), strict=False)
        assert not unexpected and set(missing) == {"reward_head.weight"}, (missing, unexpected)
        return reward_model


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None,
                       center_rewards_coefficient: float = 0.0) -> torch.Tensor:
    """TRL RewardTrainer's loss, mean over pairs."""
    difference = chosen - rejected - (margin if margin is not None else 0.0)
    loss = -F.logsigmoid(difference).mean()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * ((chosen + rejected) ** 2).mean()
    return loss


class RewardStage(PreferenceStage):
    def __init__(self, *args, center_rewards_coefficient: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.center_rewards_coefficient = center_rewards_coefficient

    def loss(self, model, batch: dict):
        rewards = model(batch["ids"], batch["lengths"])
        chosen, rejected = rewards.chunk(2)
        loss = bradley_terry_loss(chosen, rejected, batch["margin"], self.center_rewards_coefficient)
        with torch.no_grad():
            metrics = {"accuracy": (chosen > rejected).float().mean().item(),
                       "reward_chosen": chosen.mean().item(), "reward_rejected": rejected.mean().item(),
                       "margin": (chosen - rejected).mean().item()}
        return loss, metrics


def train_reward(init: str, data_paths: list[str], run_dir: str, config_path: str | None = None,
                 overrides: dict | None = None, lora: dict | None = None,
                 options: dict | None = None, progress: bool = True) -> dict:
    """Train a reward model from `init` (an SFT checkpoint or run); resumes an existing RUN."""
    train_config, data_config, reward_config, lora = read_settings(
        config_path, "reward", RewardConfig, REWARD_TRAIN_DEFAULTS, LORA_TRAIN_DEFAULTS,
        overrides, lora, options)
    init_dir, tokenizer, start = load_start(init)
    model = RewardModel.from_language_model(start)
    pairs, skipped = load_pairs(list(data_paths))
    train_pairs, val_pairs = split_by_prompt(pairs, data_config)
    max_len = model.config.max_seq_len
    train, counts = pair_examples(train_pairs, tokenizer, max_len, data_config.overlong)
    validation, _ = pair_examples(val_pairs, tokenizer, max_len, data_config.overlong)
    note = setup_lora(model, lora, also_train=(model.reward_head.weight,))  # the new head trains in full
    summary = {"stage": "reward", "init": os.path.abspath(init_dir), "data_paths": list(map(str, data_paths)),
               "pairs": {"train": len(train), "validation": len(validation), **counts,
                         "skipped": dict(skipped)}}
    run = write_run_record(run_dir, summary, train_config, data_config, reward_config, lora)
    if progress:
        print(start_line("reward", "pairs", len(train), len(validation), counts, skipped, max_len, note),
              flush=True)
    stage = RewardStage(train, validation, train_config.batch_size, train_config.seed,
                        tokenizer.special.get("pad", tokenizer.eos_id),
                        center_rewards_coefficient=reward_config.center_rewards_coefficient)
    trainer = Trainer(model, stage, train_config, run, tokenizer,
                      run_config={"stage": "reward", "init": os.path.abspath(init_dir)}, progress=progress)
    return {**trainer.run(), "validation_pairs": len(validation)}


def load_reward_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> RewardModel:
    """A reward-model checkpoint (or run) with its head; LoRA ones come back with adapters on."""
    directory = resolve(path)
    saved = read_config(directory)
    if "reward_head" not in saved.get("heads", []):
        raise UserError(f"{directory} is not a reward model (it has no reward_head); "
                        "train one with `xiulian reward`")
    from train.model.checkpoint import load_weights
    if (directory / WEIGHTS).is_file():
        model = RewardModel(ModelConfig(**saved["model"]))
    else:  # a LoRA checkpoint: the base it names, then the adapters and the head
        from train.model.lora import apply_lora, read_adapter_config
        model = RewardModel.from_language_model(load_model(saved["init"]))
        adapter = read_adapter_config(directory)
        apply_lora(model, adapter["r"], adapter["lora_alpha"], adapter["target_modules"],
                   adapter.get("lora_dropout", 0.0))
    load_weights(model, directory)
    return model.to(device).eval()


@torch.no_grad()
def score(reward_model: RewardModel, tokenizer, conversations: list[list[dict]],
          batch_size: int = 16) -> list[float]:
    """The reward of each conversation's final assistant answer, in order.

    Long conversations are cut as in training (the prompt's start, then the answer's end), so a
    score means the same thing here as on the held-out pairs.
    """
    max_len = reward_model.config.max_seq_len
    examples = []
    for messages in conversations:
        messages = check_messages(messages)
        if not messages or messages[-1]["role"] != "assistant":
            raise UserError("a conversation to score must end with an assistant answer")
        prompt, (answer,) = fit(prompt_ids(tokenizer, messages[:-1]),
                                [answer_ids(tokenizer, messages[-1]["content"])], max_len)
        examples.append(Example(np.asarray(prompt, np.int64), (np.asarray(answer, np.int64),)))
    device = next(reward_model.parameters()).device
    pad_id = tokenizer.special.get("pad", tokenizer.eos_id)
    rewards: list[float] = []
    was_training = reward_model.training
    reward_model.eval()
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start:start + batch_size], pad_id)
        rewards += reward_model(batch["ids"].to(device), batch["lengths"].to(device)).tolist()
    reward_model.train(was_training)
    return rewards
