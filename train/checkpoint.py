"""Checkpoints: a folder with `model.safetensors`, `config.json` and the tokenizer files.

A LoRA run's checkpoint holds the adapter in PEFT's layout instead (`adapter_config.json`,
`adapter_model.safetensors`) and names its base checkpoint in `config.json`; loading it loads
the base and puts the adapters on.

A training run keeps its latest checkpoint in `RUN/checkpoint/`, with `trainer_state.pt`
(optimizer, RNG and data position) beside the weights so `xiulian pretrain -o RUN` resumes
exactly. A checkpoint is written to a temporary folder and swapped in by rename, so a run killed
mid-save still has its previous checkpoint. Everywhere a command takes CKPT, a RUN folder works
too and means its latest checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from corpus.errors import UserError

from .model import ModelConfig, Transformer
from .tokenizer import Tokenizer

WEIGHTS, CONFIG, TRAINER_STATE = "model.safetensors", "config.json", "trainer_state.pt"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def _is_checkpoint(directory: Path) -> bool:
    return (directory / CONFIG).is_file() and ((directory / WEIGHTS).is_file()
                                                or (directory / ADAPTER_WEIGHTS).is_file())


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint folder from CKPT or RUN (its `checkpoint/`; `checkpoint.old/` if a save was cut)."""
    path = Path(path)
    for candidate in (path, path / "checkpoint", path / "checkpoint.old"):
        if _is_checkpoint(candidate):
            return candidate
    raise UserError(f"no checkpoint at {path} (expected {WEIGHTS} and {CONFIG}, or a run folder)")


def save(directory: str | os.PathLike, model: Transformer, tokenizer: Tokenizer | None,
         extra_config: dict | None = None, trainer_state: dict | None = None) -> Path:
    """Write a checkpoint atomically: to `NAME.tmp`, then swap it in by rename."""
    from safetensors.torch import save_file
    final = Path(directory)
    temp, old = final.with_name(final.name + ".tmp"), final.with_name(final.name + ".old")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    config = {"model": model.config.to_dict(), **(extra_config or {})}
    from .lora import has_lora, lora_settings, save_adapter
    if has_lora(model):
        if not config.get("init"):
            raise ValueError("a LoRA checkpoint needs extra_config['init'], its base checkpoint")
        save_adapter(temp, model, config["init"])
        config["lora"] = lora_settings(model)
    else:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        if model.config.tie_embeddings:
            state.pop("lm_head.weight")  # the same tensor as embed_tokens.weight
        save_file(state, str(temp / WEIGHTS), metadata={"format": "pt"})
    (temp / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    if tokenizer is not None:
        tokenizer.save(temp)
    if trainer_state is not None:
        torch.save(trainer_state, temp / TRAINER_STATE)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    temp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_config(directory: str | os.PathLike) -> dict:
    return json.loads((resolve(directory) / CONFIG).read_text())


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Transformer:
    """The model of a checkpoint; for a LoRA checkpoint, its base with the adapters on."""
    directory = resolve(path)
    saved = read_config(directory)
    if not (directory / WEIGHTS).is_file():
        from .lora import load_adapter
        base = saved.get("init")
        if not base:
            raise UserError(f"{directory}: a LoRA adapter whose config names no base checkpoint")
        return load_adapter(load_model(base), directory).to(device)
    model = Transformer(ModelConfig(**saved["model"]))
    load_weights(model, directory)
    return model.to(device)


def load_weights(model: Transformer, directory: str | os.PathLike) -> None:
    """Put a checkpoint's weights (full, or LoRA adapters onto a LoRA-wrapped model) into `model`."""
    from safetensors.torch import load_file
    directory = Path(directory)
    from .lora import has_lora, load_adapter_state_dict
    if has_lora(model):
        load_adapter_state_dict(model, load_file(str(directory / ADAPTER_WEIGHTS)))
        return
    state = load_file(str(directory / WEIGHTS), device="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (model.config.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise UserError(f"{directory / WEIGHTS} does not fit its config: "
                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    return Tokenizer(resolve(path))


def load_trainer_state(path: str | os.PathLike) -> dict | None:
    file = Path(path) / TRAINER_STATE
    return torch.load(file, map_location="cpu", weights_only=False) if file.is_file() else None
