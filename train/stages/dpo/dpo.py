"""DPO and KTO: learning straight from preferences, with no reward model and no sampling.

Both compare the policy's summed answer log-probability with the reference model's (the
starting checkpoint, precomputed once; see reference.py). β · (log π − log π_ref) is the
answer's implicit reward. Losses follow TRL's definitions:

DPO (sigmoid; `label_smoothing` ε > 0 is cDPO, for noisy labels):
    h = (log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))
    loss = −(1 − ε) log σ(β h) − ε log σ(−β h)

KTO (unpaired: each answer judged desirable or not), with the reference point z the batch-
mismatched KL estimate — prompt i with completion j ≠ i, z = max(0, mean(log π − log π_ref)),
no gradient through it:
    desirable:   λ_D (1 − σ(β (log π − log π_ref − z)))
    undesirable: λ_U (1 − σ(β (z − (log π − log π_ref))))
averaged over the batch's answers. Each example's mismatched completion is drawn once (another
example's, through a seeded shuffle), as TRL fixes it when preparing the data, so the reference
log-probs of the mismatched pairs can be precomputed too.

Held-out metrics (the loop's `val_*`): DPO's implicit-reward accuracy (chosen's reward strictly
above rejected's), rewards and margin; KTO's accuracy (reward on the side its label says), the
signed reward and the KL estimate.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from train.core.loop import Trainer, training_device
from train.data.preference_batches import (PreferenceStage, answer_ids, make_example, pair_examples,
                                           sequence_logps, split_by_prompt)
from train.data.preference_formats import load_judged, load_pairs
from train.model.chat_template import prompt_ids
from train.model.checkpoint import load_start
from train.model.lora import setup_lora
from train.stages.preference_run import read_settings, start_line, write_run_record

from .config import DPOConfig, KTOConfig
from .reference_logprobs import reference_logps

TRAIN_DEFAULTS = dict(lr=1e-4)
LORA_TRAIN_DEFAULTS = dict(lr=1e-3)


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected,
             beta: float = 0.1, label_smoothing: float = 0.0):
    """Per-pair losses and the (detached) implicit rewards of chosen and rejected."""
    h = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    losses = (-F.logsigmoid(beta * h) * (1 - label_smoothing)
              - F.logsigmoid(-beta * h) * label_smoothing)
    return (losses, beta * (policy_chosen - reference_chosen).detach(),
            beta * (policy_rejected - reference_rejected).detach())


def kto_loss(policy, reference, policy_mismatched, reference_mismatched, desirable,
             beta: float = 0.1, desirable_weight: float = 1.0, undesirable_weight: float = 1.0):
    """Per-answer losses, the (detached) implicit rewards, and the KL reference point."""
    kl = (policy_mismatched - reference_mismatched).mean().detach().clamp(min=0)
    log_ratio = policy - reference
    losses = torch.where(desirable.bool(),
                         desirable_weight * (1 - torch.sigmoid(beta * (log_ratio - kl))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (kl - log_ratio))))
    return losses, beta * log_ratio.detach(), kl


class DPOStage(PreferenceStage):
    def __init__(self, *args, options: DPOConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = options

    def loss(self, model, batch: dict):
        logps = sequence_logps(model, batch["ids"], batch["answer_mask"])
        chosen, rejected = logps.chunk(2)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            chosen, rejected, batch["ref_chosen"], batch["ref_rejected"],
            self.options.beta, self.options.label_smoothing)
        metrics = {"accuracy": (chosen_rewards > rejected_rewards).float().mean().item(),
                   "reward_chosen": chosen_rewards.mean().item(),
                   "reward_rejected": rejected_rewards.mean().item(),
                   "margin": (chosen_rewards - rejected_rewards).mean().item(),
                   "logps_chosen": chosen.detach().mean().item(),
                   "logps_rejected": rejected.detach().mean().item()}
        return losses.mean(), metrics


class KTOStage(PreferenceStage):
    def __init__(self, *args, options: KTOConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = options

    def loss(self, model, batch: dict):
        n = self.units(batch)
        ids, mask = batch["ids"], batch["answer_mask"]
        with torch.no_grad():  # the reference point carries no gradient (TRL: under no_grad too)
            mismatched = sequence_logps(model, ids[n:], mask[n:])
        policy = sequence_logps(model, ids[:n], mask[:n])
        desirable = batch["desirable"].bool()
        losses, rewards, kl = kto_loss(policy, batch["ref_completion"], mismatched, batch["ref_mismatched"],
                                       desirable, self.options.beta, self.options.desirable_weight,
                                       self.options.undesirable_weight)
        signed = torch.where(desirable, rewards, -rewards)
        metrics = {"accuracy": (signed > 0).float().mean().item(), "signed_reward": signed.mean().item(),
                   "kl": kl.item()}
        return losses.mean(), metrics


def judged_examples(judged, tokenizer, max_len: int, overlong: str, seed: int):
    """Each answer with a mismatched one: the next answer in a seeded shuffle (its own prompt
    kept), so the pairing is fixed for the run."""
    counts: dict = {}
    prompts = [prompt_ids(tokenizer, j.prompt) for j in judged]
    answers = [answer_ids(tokenizer, j.completion) for j in judged]
    order = np.random.default_rng(seed).permutation(len(judged))
    partner = np.empty(len(judged), np.int64)
    partner[order] = np.roll(order, 1)
    examples = [make_example(prompts[i], [answers[i], answers[partner[i]]], max_len, overlong, counts,
                             {"desirable": float(j.desirable)}) for i, j in enumerate(judged)]
    return [e for e in examples if e is not None], counts


def _attach_reference(run, model, splits, names, train_config, pad_id, progress):
    device, autocast, _ = training_device(train_config)
    values = reference_logps(run, model, splits, train_config.batch_size, pad_id, device, autocast, progress)
    for split, examples in splits.items():
        for example, row in zip(examples, values[split]):
            example.values.update(zip(names, map(float, row)))
    return values


def _train_on_preferences(stage_name: str, init, data_paths, run_dir, config_path, overrides, lora,
                          options, progress) -> dict:
    kind = DPOConfig if stage_name == "dpo" else KTOConfig
    train_config, data_config, loss_options, lora = read_settings(
        config_path, stage_name, kind, TRAIN_DEFAULTS, LORA_TRAIN_DEFAULTS, overrides, lora, options)
    init_dir, tokenizer, model = load_start(init)
    max_len = model.config.max_seq_len + 1  # the last token is only ever a target
    if stage_name == "dpo":
        items, skipped = load_pairs(list(data_paths))
        unit, names = "pairs", ("ref_chosen", "ref_rejected")
        make = lambda part: pair_examples(part, tokenizer, max_len, data_config.overlong)  # noqa: E731
    else:
        items, skipped = load_judged(list(data_paths))
        unit, names = "answers", ("ref_completion", "ref_mismatched")
        make = lambda part: judged_examples(part, tokenizer, max_len, data_config.overlong,  # noqa: E731
                                            train_config.seed)
    train_items, val_items = split_by_prompt(items, data_config)
    (train, counts), (validation, _) = make(train_items), make(val_items)
    note = setup_lora(model, lora)
    summary = {"stage": stage_name, "init": os.path.abspath(init_dir), "data_paths": list(map(str, data_paths)),
               unit: {"train": len(train), "validation": len(validation), **counts, "skipped": dict(skipped)}}
    if stage_name == "kto":
        summary[unit]["desirable"] = sum(e.values["desirable"] for e in train)
    run = write_run_record(run_dir, summary, train_config, data_config, loss_options, lora)
    if progress:
        print(start_line(stage_name, unit, len(train), len(validation), counts, skipped,
                         model.config.max_seq_len, note),
              flush=True)
    pad_id = tokenizer.special.get("pad", tokenizer.eos_id)
    reference = _attach_reference(run, model, {"train": train, "validation": validation}, names,
                                  train_config, pad_id, progress)
    stage_class = DPOStage if stage_name == "dpo" else KTOStage
    stage = stage_class(train, validation, train_config.batch_size, train_config.seed, pad_id,
                        options=loss_options)
    trainer = Trainer(model, stage, train_config, run, tokenizer,
                      run_config={"stage": stage_name, "init": os.path.abspath(init_dir)}, progress=progress)
    result = {**trainer.run(), "validation_" + unit: len(validation)}
    if stage_name == "dpo" and len(validation):
        # The starting point's own preference: does the SFT model already find chosen likelier?
        held = reference["validation"]
        result["reference_prefers_chosen"] = round(float((held[:, 0] > held[:, 1]).mean()), 4)
    return result


def dpo(init: str, data_paths: list[str], run_dir: str, config_path: str | None = None,
        overrides: dict | None = None, lora: dict | None = None, options: dict | None = None,
        progress: bool = True) -> dict:
    """DPO from `init` on preference pairs; resumes an existing RUN."""
    return _train_on_preferences("dpo", init, data_paths, run_dir, config_path, overrides, lora,
                                 options, progress)


def kto(init: str, data_paths: list[str], run_dir: str, config_path: str | None = None,
        overrides: dict | None = None, lora: dict | None = None, options: dict | None = None,
        progress: bool = True) -> dict:
    """KTO from `init` on judged answers (pairs count as one good and one bad); resumes a RUN."""
    return _train_on_preferences("kto", init, data_paths, run_dir, config_path, overrides, lora,
                                 options, progress)
