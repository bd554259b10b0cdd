"""Hugging Face interop: export a checkpoint as a Llama model, import a Llama checkpoint.

Our parameter names are Llama's without the `model.` prefix (see model.py), so both directions
are a rename plus a config translation. The JSON is written by hand, not through transformers,
so exporting needs no extra install; `transformers.LlamaForCausalLM.from_pretrained` and
`AutoTokenizer.from_pretrained` load the result, and vLLM serves it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from corpus.errors import UserError

from . import checkpoint
from .tokenizer import Tokenizer
from .transformer import ModelConfig, Transformer


def hf_config(config: ModelConfig, tokenizer: Tokenizer | None) -> dict:
    special = {}
    if tokenizer is not None:
        special = {"bos_token_id": tokenizer.special.get("bos"), "eos_token_id": tokenizer.eos_id,
                   "pad_token_id": tokenizer.special.get("pad")}
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": config.vocab_size, "hidden_size": config.dim,
        "intermediate_size": config.hidden_dim, "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads, "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.head_dim, "max_position_embeddings": config.max_seq_len,
        "hidden_act": "silu", "rms_norm_eps": config.norm_eps,
        # transformers 4.x reads rope_theta; 5.x reads rope_parameters. Write both.
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "tie_word_embeddings": config.tie_embeddings, "attention_bias": False, "mlp_bias": False,
        "torch_dtype": "float32", "initializer_range": 0.02, "use_cache": True, **special,
    }


def export_hf(ckpt: str, out_dir: str) -> Path:
    """Write `out_dir` so LlamaForCausalLM and AutoTokenizer load it with our logits."""
    from safetensors.torch import save_file

    from .lora import has_lora, merge_lora
    out = Path(out_dir)
    if checkpoint.holds_checkpoint(out) or out.resolve() in (Path(ckpt).resolve(),
                                                            checkpoint.resolve(ckpt).resolve()):
        raise UserError(f"{out} holds a xiulian checkpoint (or is the run being exported); "
                        "export to a new folder")
    model = checkpoint.load_model(ckpt)
    if has_lora(model):
        merge_lora(model)  # vLLM and transformers get one plain model; the adapter stays in CKPT
    tokenizer = checkpoint.load_tokenizer(ckpt)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            if not model.config.tie_embeddings:
                state[name] = tensor.contiguous()
        else:
            state[f"model.{name}"] = tensor.contiguous()
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(model.config, tokenizer), indent=2) + "\n")
    stops = [tokenizer.eos_id] + ([tokenizer.special["end_of_turn"]]
                                  if "end_of_turn" in tokenizer.special else [])
    generation = {"bos_token_id": tokenizer.special.get("bos"), "eos_token_id": stops,
                  "pad_token_id": tokenizer.special.get("pad")}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    tokenizer.save(out)
    _add_chat_template(out / "tokenizer_config.json", tokenizer)
    return out


def _add_chat_template(path: Path, tokenizer: Tokenizer) -> None:
    """Our chat template, as Jinja, so `apply_chat_template` renders what we train on."""
    from .chat_template import CHAT_TEMPLATE
    if not {"user", "assistant", "end_of_turn"} <= set(tokenizer.special):
        return  # an imported tokenizer without our role tokens keeps its own template
    config = json.loads(path.read_text()) if path.is_file() else {}
    config["chat_template"] = CHAT_TEMPLATE
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _our_config(hf: dict, source: Path) -> ModelConfig:
    arch = hf.get("architectures") or []
    if hf.get("model_type") not in ("llama", None) and "LlamaForCausalLM" not in arch:
        raise UserError(f"{source}: model_type {hf.get('model_type')!r} is not a Llama-architecture model")
    rope = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or (rope if rope.get("rope_type", "default") != "default" else None)
    if scaling:
        raise UserError(f"{source}: rope scaling {scaling} is not supported (plain RoPE only)")
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise UserError(f"{source}: attention or MLP biases are not supported")
    heads = hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, hf["hidden_size"] // heads):
        raise UserError(f"{source}: head_dim {hf['head_dim']} != hidden_size / heads")
    if hf.get("hidden_act", "silu") != "silu":
        raise UserError(f"{source}: activation {hf['hidden_act']!r} is not SwiGLU (silu)")
    return ModelConfig(
        vocab_size=hf["vocab_size"], dim=hf["hidden_size"], n_layers=hf["num_hidden_layers"],
        n_heads=heads, n_kv_heads=hf.get("num_key_value_heads") or heads,
        hidden_dim=hf["intermediate_size"], max_seq_len=hf.get("max_position_embeddings", 2048),
        rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        norm_eps=hf.get("rms_norm_eps", 1e-6), tie_embeddings=bool(hf.get("tie_word_embeddings", False)))


def _hf_weights(source: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    files = sorted(source.glob("*.safetensors"))
    if files:
        state = {}
        for file in files:
            state.update(load_file(str(file)))
        return state
    bins = sorted(source.glob("pytorch_model*.bin"))
    if bins:
        state = {}
        for file in bins:
            state.update(torch.load(file, map_location="cpu", weights_only=True))
        return state
    raise UserError(f"{source}: no *.safetensors or pytorch_model*.bin weights")


def import_hf(source_dir: str, out_dir: str) -> Path:
    """Read a Llama-architecture HF checkpoint (weights, config, tokenizer) as our checkpoint."""
    source = Path(source_dir)
    if not (source / "config.json").is_file():
        raise UserError(f"{source}: no config.json; not a Hugging Face model folder")
    if Path(out_dir).resolve() == source.resolve():
        raise UserError(f"{out_dir}: would overwrite the folder being imported; import to a new folder")
    config = _our_config(json.loads((source / "config.json").read_text()), source)
    state = {}
    for name, tensor in _hf_weights(source).items():
        if "rotary_emb" in name:
            continue
        state[name.removeprefix("model.")] = tensor.float()
    model = Transformer(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (config.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise UserError(f"{source}: weights do not match a Llama model: missing {missing[:3]}, "
                        f"unexpected {unexpected[:3]}")
    tokenizer = Tokenizer(source) if (source / "tokenizer.json").is_file() else None
    if tokenizer is None:
        raise UserError(f"{source}: no tokenizer.json (only fast tokenizers can be imported)")
    return checkpoint.save(out_dir, model, tokenizer, {"imported_from": os.path.abspath(source)})
