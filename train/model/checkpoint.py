"""Checkpoints: a folder with `model.safetensors`, `config.json` and the tokenizer files.

A LoRA run's checkpoint holds the adapter in PEFT's layout instead (`adapter_config.json`,
`adapter_model.safetensors`) and names its base checkpoint in `config.json`; loading it loads
the base and puts the adapters on.

A model with scalar heads beside the language model (a reward model's `reward_head`, PPO's
`value_head`) keeps each in `NAME.safetensors` and lists them in `config.json` under "heads";
`model.safetensors` (or the adapter) holds only the transformer, so `load_model` reads any such
checkpoint as a plain language model.

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

from .tokenizer import Tokenizer
from .transformer import ModelConfig, Transformer

WEIGHTS, CONFIG, TRAINER_STATE = "model.safetensors", "config.json", "trainer_state.pt"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def _is_checkpoint(directory: Path) -> bool:
    return (directory / CONFIG).is_file() and ((directory / WEIGHTS).is_file()
                                                or (directory / ADAPTER_WEIGHTS).is_file())


def _is_hugging_face(directory: Path) -> bool:
    """HF folders share our file names (config.json, model.safetensors); their config has no
    `model` section and names a `model_type` instead."""
    try:
        config = json.loads((directory / CONFIG).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "model" not in config and "model_type" in config


def holds_checkpoint(directory: str | os.PathLike) -> bool:
    """Is `directory` a xiulian checkpoint or a run folder with one (what a write would destroy)?"""
    try:
        return not _is_hugging_face(resolve(directory))
    except UserError:
        return False


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint folder from CKPT or RUN (its `checkpoint/`; `checkpoint.old/` if a save was cut)."""
    path = Path(path)
    for candidate in (path, path / "checkpoint", path / "checkpoint.old"):
        if _is_checkpoint(candidate):
            if _is_hugging_face(candidate):
                raise UserError(f"{candidate} is a Hugging Face model folder, not a xiulian "
                                f"checkpoint; convert it first: xiulian import-hf {candidate} -o CKPT")
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
    heads = scalar_heads(model)
    if heads:
        config["heads"] = heads
    for head in heads:
        save_file({f"{head}.{k}": v.detach().to("cpu").contiguous()
                   for k, v in getattr(model, head).state_dict().items()},
                  str(temp / f"{head}.safetensors"), metadata={"format": "pt"})
    from .lora import has_lora, lora_settings, save_adapter
    if has_lora(model):
        if not config.get("init"):
            raise ValueError("a LoRA checkpoint needs extra_config['init'], its base checkpoint")
        save_adapter(temp, model, config["init"])
        config["lora"] = lora_settings(model)
    else:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()
                 if k.split(".", 1)[0] not in heads}
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


def scalar_heads(model: torch.nn.Module) -> list[str]:
    """Names of the model's heads besides `lm_head` (`reward_head`, `value_head`)."""
    return [name for name, _ in model.named_children() if name.endswith("_head") and name != "lm_head"]


def _load_heads(model: torch.nn.Module, directory: Path) -> None:
    from safetensors.torch import load_file
    for head in scalar_heads(model):
        file = directory / f"{head}.safetensors"
        if not file.is_file():
            raise UserError(f"{directory} has no {head} ({file.name})")
        getattr(model, head).load_state_dict(
            {k.removeprefix(f"{head}."): v for k, v in load_file(str(file), device="cpu").items()})


def read_config(directory: str | os.PathLike) -> dict:
    return json.loads((resolve(directory) / CONFIG).read_text())


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Transformer:
    """The model of a checkpoint; for a LoRA checkpoint, its base with the adapters on."""
    directory = resolve(path)
    saved = read_config(directory)
    if not (directory / WEIGHTS).is_file():
        from .lora import has_lora, load_adapter, merge_lora
        base = saved.get("init")
        if not base:
            raise UserError(f"{directory}: a LoRA adapter whose config names no base checkpoint")
        base_model = load_model(base)
        if has_lora(base_model):  # adapters trained on top of another LoRA run: fold that one in
            merge_lora(base_model)
        return load_adapter(base_model, directory).to(device)
    model = Transformer(ModelConfig(**saved["model"]))
    load_weights(model, directory)
    return model.to(device)


def load_weights(model: Transformer, directory: str | os.PathLike) -> None:
    """Put a checkpoint's weights (full, or LoRA adapters onto a LoRA-wrapped model) into `model`,
    and its scalar heads when the model has them."""
    from safetensors.torch import load_file
    directory = Path(directory)
    from .lora import has_lora, load_adapter_state_dict
    if has_lora(model):
        load_adapter_state_dict(model, load_file(str(directory / ADAPTER_WEIGHTS)))
        _load_heads(model, directory)
        return
    state = load_file(str(directory / WEIGHTS), device="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    heads = scalar_heads(model)
    missing = [m for m in missing if not (model.config.tie_embeddings and m == "lm_head.weight")
               and m.split(".", 1)[0] not in heads]
    if missing or unexpected:
        raise UserError(f"{directory / WEIGHTS} does not fit its config: "
                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    _load_heads(model, directory)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    return Tokenizer(resolve(path))


def load_start(init: str | os.PathLike) -> tuple[Path, Tokenizer, Transformer]:
    """What a training stage starts from: (the checkpoint folder, its tokenizer, its model). A
    LoRA checkpoint's adapters are merged: they become part of the base the stage trains."""
    from .lora import has_lora, merge_lora
    directory = resolve(init)
    model = load_model(directory)
    if has_lora(model):
        merge_lora(model)
    return directory, load_tokenizer(directory), model


def load_trainer_state(path: str | os.PathLike) -> dict | None:
    file = Path(path) / TRAINER_STATE
    return torch.load(file, map_location="cpu", weights_only=False) if file.is_file() else None
