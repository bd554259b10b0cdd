"""LoRA: train a small low-rank update beside each frozen projection, saved as PEFT saves it.

A wrapped projection computes `W x + B A dropout(x) * alpha / r` with W frozen, A (r x in)
initialised as nn.Linear is and B (out x r) zero, so training starts from the base model exactly.
Module and parameter names follow PEFT's LoRA layer (`q_proj.weight` stays the base weight,
`q_proj.lora_A.weight`, `q_proj.lora_B.weight` beside it), so the adapter file is our state dict
renamed with PEFT's prefix, and `peft.PeftModel.from_pretrained` puts it onto our HF export
(train/model/hf.py) with the same logits. `merge_lora` folds the update into W for a plain checkpoint.

The model must call a wrapped projection's forward: a fused matmul that reads only
`q_proj.weight` skips the adapter, so model.Attention may fuse q, k, v only for plain nn.Linear.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from corpus.errors import UserError

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
# PeftModelForCausalLM -> LoraModel -> LlamaForCausalLM -> LlamaModel: our names sit under `model.`.
PEFT_PREFIX = "base_model.model.model."


class LoRALinear(nn.Linear):
    """An nn.Linear whose `weight` (and `bias`) is the base layer's own Parameter, frozen, plus
    a trainable low-rank path. Subclassing nn.Linear keeps the base parameter's name, so a
    checkpoint's keys do not move and the base weight is shared, not copied."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        # Built on the meta device so nothing is allocated or initialised only to be replaced.
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None,
                         device="meta")
        self.weight, self.bias = base.weight, base.bias
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        like = dict(device=base.weight.device, dtype=base.weight.dtype)
        self.lora_A = nn.Linear(base.in_features, rank, bias=False, **like)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False, **like)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # as PEFT (and loralib) do
        nn.init.zeros_(self.lora_B.weight)  # B A = 0: the first step starts from the base model
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.dropout = dropout
        self.adapter_enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if not self.adapter_enabled:
            return out
        return out + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """B A * scaling in fp32, the update `merge_lora` adds to W."""
        return (self.lora_B.weight.float() @ self.lora_A.weight.float()) * self.scaling

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}"


def _lora_modules(model: nn.Module) -> list[tuple[str, LoRALinear]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)]


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def setup_lora(model: nn.Module, lora: dict, also_train: tuple = ()) -> str:
    """Wrap `model` with adapters when `lora` sets a rank (the stage's own new parameters, a
    reward or value head, train in full beside them); a note for the stage's start-up line."""
    if not lora.get("rank"):
        return ""
    apply_lora(model, **lora)
    for parameter in also_train:
        parameter.requires_grad_(True)
    trainable, total = trainable_parameters(model)
    return f"; LoRA rank {lora['rank']}: {trainable:,} of {total:,} parameters train"


def apply_lora(model: nn.Module, rank: int, alpha: float | None = None,
               targets=DEFAULT_TARGETS, dropout: float = 0.0) -> list[str]:
    """Wrap the `targets` projections of every block in place and freeze everything else
    (embeddings, head and norms included). Returns the wrapped module names."""
    targets = tuple(targets)
    unknown = sorted(set(targets) - set(DEFAULT_TARGETS))
    if unknown or not targets:
        raise UserError(f"unknown LoRA targets {unknown or '(none given)'}; "
                        f"choose from {', '.join(DEFAULT_TARGETS)}")
    if rank < 1:
        raise UserError(f"LoRA rank must be at least 1, not {rank}")
    if not 0 <= dropout < 1:
        raise UserError(f"LoRA dropout must be in [0, 1), not {dropout}")
    if has_lora(model):
        raise UserError("the model already has LoRA adapters; merge them first (xiulian lora merge)")
    alpha = 2 * rank if alpha is None else alpha
    wrapped = [name for name, m in model.named_modules()
               if name.startswith("layers.") and name.rpartition(".")[2] in targets
               and type(m) is nn.Linear]
    for name in wrapped:
        _replace(model, name, LoRALinear(model.get_submodule(name), rank, alpha, dropout))
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_" in name)
    return wrapped


def has_lora(model: nn.Module) -> bool:
    return any(isinstance(m, LoRALinear) for m in model.modules())


def lora_settings(model: nn.Module) -> dict | None:
    """{rank, alpha, targets, dropout} read off the wrapped modules; None without adapters."""
    wrapped = _lora_modules(model)
    if not wrapped:
        return None
    present = {name.rpartition(".")[2] for name, _ in wrapped}
    first = wrapped[0][1]
    return {"rank": first.rank, "alpha": first.alpha, "dropout": first.dropout,
            "targets": [t for t in DEFAULT_TARGETS if t in present]}


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, a tied embedding counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA weights under the names PEFT's `save_pretrained` writes (adapter name dropped):
    `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`."""
    return {PEFT_PREFIX + name: tensor for name, tensor in model.state_dict().items()
            if ".lora_A." in name or ".lora_B." in name}


def load_adapter_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy PEFT-named LoRA weights into a model that `apply_lora` wrapped the same way."""
    own = {PEFT_PREFIX + name: p for name, p in model.named_parameters() if ".lora_" in name}
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise UserError(f"the adapter does not fit the model: missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}")
    with torch.no_grad():
        for key, p in own.items():
            if state[key].shape != p.shape:
                raise UserError(f"adapter weight {key} has shape {tuple(state[key].shape)}, "
                                f"the model wants {tuple(p.shape)}")
            p.copy_(state[key])


def adapter_config(model: nn.Module, base_model_name_or_path: str) -> dict:
    """PEFT's adapter_config.json for these adapters; peft 0.21's LoraConfig fills the rest."""
    settings = lora_settings(model)
    if settings is None:
        raise UserError("the model has no LoRA adapters to save")
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM",
        "base_model_name_or_path": str(base_model_name_or_path),
        "r": settings["rank"], "lora_alpha": settings["alpha"], "lora_dropout": settings["dropout"],
        "target_modules": settings["targets"], "bias": "none", "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "use_rslora": False, "use_dora": False,
        "modules_to_save": None, "layers_to_transform": None, "rank_pattern": {}, "alpha_pattern": {},
    }


def save_adapter(directory: str | os.PathLike, model: nn.Module, base_model_name_or_path: str) -> Path:
    """Write adapter_config.json and adapter_model.safetensors, as `PeftModel.save_pretrained`."""
    from safetensors.torch import save_file
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = adapter_config(model, base_model_name_or_path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in adapter_state_dict(model).items()}
    save_file(state, str(out / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    (out / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return out


def read_adapter_config(directory: str | os.PathLike) -> dict:
    """The adapter's config, refusing the PEFT features this module does not implement."""
    path = Path(directory) / ADAPTER_CONFIG
    if not path.is_file() or not (Path(directory) / ADAPTER_WEIGHTS).is_file():
        raise UserError(f"no LoRA adapter at {directory} (expected {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS})")
    config = json.loads(path.read_text())
    if config.get("peft_type") != "LORA":
        raise UserError(f"{path}: peft_type {config.get('peft_type')!r} is not LORA")
    unsupported = [k for k in ("use_dora", "use_rslora", "fan_in_fan_out", "rank_pattern",
                               "alpha_pattern", "modules_to_save", "layers_to_transform")
                   if config.get(k)]
    if config.get("bias", "none") != "none" or not isinstance(config.get("target_modules"), list):
        unsupported += ["bias or target_modules pattern"]
    if unsupported:
        raise UserError(f"{path}: unsupported LoRA options {unsupported}")
    return config


def load_adapter(model: nn.Module, directory: str | os.PathLike) -> nn.Module:
    """Wrap a plain Transformer with the saved settings and load the adapter weights."""
    from safetensors.torch import load_file
    config = read_adapter_config(directory)
    apply_lora(model, config["r"], config["lora_alpha"], config["target_modules"],
               config.get("lora_dropout", 0.0))
    load_adapter_state_dict(model, load_file(str(Path(directory) / ADAPTER_WEIGHTS)))
    return model


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold W += B A * scaling into each base weight and put plain nn.Linear modules back, so
    the state dict has exactly a plain Transformer's keys; every parameter is trainable again."""
    for name, module in _lora_modules(model):
        module.weight.add_(module.delta_weight().to(module.weight.dtype))
        plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None,
                          device="meta")
        plain.weight, plain.bias = module.weight, module.bias
        _replace(model, name, plain)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """The base model, for as long as the block runs: DPO's reference model under LoRA."""
    modules = [m for _, m in _lora_modules(model)]
    before = [m.adapter_enabled for m in modules]
    for m in modules:
        m.adapter_enabled = False
    try:
        yield model
    finally:
        for m, enabled in zip(modules, before):
            m.adapter_enabled = enabled
