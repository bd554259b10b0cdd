"""The reference model's log-probabilities for DPO and KTO: computed once, kept in the run.

DPO and KTO measure how far the policy has moved from the model it started from. Instead of a
second copy of the model in memory, one pass over the data with the starting model records
each answer's summed log-probability before the first step (with LoRA, through the base with
the adapters off — the same numbers at step 0, where B = 0, and the same definition as TRL's).
They are written to `RUN/reference_logps.safetensors`, so a resumed run reads them back rather
than recomputing them with weights that have since moved. A fingerprint of the tokenized data
stops a run from resuming on other data.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import xxhash

from corpus.errors import UserError
from train.data.preference_batches import Example, collate, sequence_logps
from train.model.lora import adapters_disabled

REFERENCE_FILE = "reference_logps.safetensors"


def fingerprint(splits: dict[str, list[Example]]) -> str:
    digest = xxhash.xxh64()
    for name in sorted(splits):
        digest.update(name.encode())
        for example in splits[name]:
            for part in (example.prompt, *example.answers):
                digest.update(np.int64(len(part)).tobytes() + part.tobytes())
    return digest.hexdigest()


@torch.no_grad()
def compute_reference(model, examples: list[Example], batch_size: int, pad_id: int,
                      device: torch.device, autocast, progress: bool = False) -> np.ndarray:
    """(n, answers) summed answer log-probs under `model` with any LoRA adapters off. Batches
    are formed from length-sorted examples, so little compute goes on padding."""
    answers = len(examples[0].answers) if examples else 2
    out = np.zeros((len(examples), answers), np.float32)
    order = sorted(range(len(examples)),
                   key=lambda i: len(examples[i].prompt) + max(map(len, examples[i].answers)))
    was_training = model.training
    model.eval()
    from tqdm import tqdm
    bar = tqdm(total=len(examples), desc="reference", unit="ex", disable=not progress, dynamic_ncols=True)
    with adapters_disabled(model):
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            batch = collate([examples[i] for i in chosen], pad_id)
            with autocast:
                logps = sequence_logps(model, batch["ids"].to(device), batch["answer_mask"].to(device))
            out[chosen] = logps.float().view(answers, len(chosen)).T.cpu().numpy()
            bar.update(len(chosen))
    bar.close()
    model.train(was_training)
    return out


def reference_logps(run_dir: str | os.PathLike, model, splits: dict[str, list[Example]],
                    batch_size: int, pad_id: int, device: torch.device, autocast,
                    progress: bool = False, is_main: bool = True) -> dict[str, np.ndarray]:
    """Per split, the (n, answers) reference log-probs: read from the run, or computed and saved."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    path = Path(run_dir) / REFERENCE_FILE
    expected = fingerprint(splits)
    if path.is_file():
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("fingerprint") != expected:
                raise UserError(f"{path} belongs to other data (or another tokenizer or context "
                                "length); write this run to a new -o folder")
            return {name: f.get_tensor(name).numpy() for name in splits}
    model.to(device)
    result = {name: compute_reference(model, examples, batch_size, pad_id, device, autocast, progress)
              for name, examples in splits.items()}
    if is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        save_file({name: torch.from_numpy(values) for name, values in result.items()}, str(temp),
                  metadata={"fingerprint": expected})
        temp.rename(path)
    return result
