"""LoRA: adapters train alone, merge exactly, switch off for a reference model, and PEFT loads them."""
from __future__ import annotations

import json

import pytest
import torch

from corpus.errors import UserError
from train.model.lora import (DEFAULT_TARGETS, LoRALinear, adapter_state_dict, adapters_disabled, apply_lora,
                              has_lora, load_adapter, lora_settings, merge_lora, save_adapter,
                              trainable_parameters)
from train.model.transformer import PRESETS, ModelConfig, Transformer

TINY = dict(vocab_size=256, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=32)


def tiny_model(tie_embeddings: bool = True, vocab_size: int = 256) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(**{**TINY, "vocab_size": vocab_size,
                                      "tie_embeddings": tie_embeddings})).eval()


def fixed_batch(vocab_size: int = 256) -> torch.Tensor:
    return torch.randint(0, vocab_size, (4, 17), generator=torch.Generator().manual_seed(1))


def train_steps(model: Transformer, batch: torch.Tensor, steps: int = 8, lr: float = 1e-2) -> list[float]:
    """A few AdamW steps on the trainable (adapter) parameters; returns the losses."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        _, loss = model(batch[:, :-1], batch[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def assert_every_adapter_learned(model: Transformer) -> None:
    """No lora_B is still zero: no adapter was skipped, as one is when a fused matmul reads
    only the projections' `.weight` instead of calling their forward."""
    idle = [n for n, p in model.named_parameters() if ".lora_B." in n and not p.abs().sum() > 0]
    assert not idle, f"adapters that never got a gradient: {idle[:3]}"


def logits(model: Transformer, batch: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(batch[:, :-1])


@pytest.mark.parametrize("tie", [True, False])
def test_fresh_adapters_leave_the_logits_unchanged(tie):
    model, batch = tiny_model(tie), fixed_batch()
    before = logits(model, batch)
    wrapped = apply_lora(model, rank=4)
    assert len(wrapped) == 2 * len(DEFAULT_TARGETS)
    assert wrapped[0] == "layers.0.self_attn.q_proj"
    assert lora_settings(model) == {"rank": 4, "alpha": 8, "dropout": 0.0,
                                    "targets": list(DEFAULT_TARGETS)}
    # B starts at zero (close, not equal: q, k, v may now run as three matmuls instead of one)
    assert torch.allclose(logits(model, batch), before, atol=1e-6)


@pytest.mark.parametrize("tie", [True, False])
def test_training_moves_only_the_adapters(tie):
    model, batch = tiny_model(tie), fixed_batch()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, rank=4, targets=("q_proj", "v_proj", "down_proj"), dropout=0.1)
    losses = train_steps(model, batch)
    assert losses[-1] < losses[0] - 0.1
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in base.items())  # bit-identical base
    assert all(p.grad is None for n, p in model.named_parameters() if ".lora_" not in n)
    assert_every_adapter_learned(model)
    assert "layers.0.self_attn.k_proj.lora_A.weight" not in after  # only the chosen targets


def test_rank_8_on_the_base_preset_trains_under_two_percent_of_its_parameters():
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = Transformer(ModelConfig(**PRESETS["base"]))
    apply_lora(model, rank=8)
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < 0.02 * total


@pytest.mark.parametrize("tie", [True, False])
def test_merge_gives_the_adapter_logits_and_a_plain_checkpoint(tie, tmp_path):
    from train.model.checkpoint import load_model, save
    model, batch = tiny_model(tie), fixed_batch()
    plain_keys = set(model.state_dict())
    apply_lora(model, rank=4, alpha=16)
    train_steps(model, batch)
    assert_every_adapter_learned(model)
    adapted = logits(model, batch)
    merge_lora(model)
    assert not has_lora(model) and set(model.state_dict()) == plain_keys
    assert all(p.requires_grad for p in model.parameters())
    assert torch.allclose(logits(model, batch), adapted, atol=1e-5)
    assert not torch.equal(logits(model, batch), logits(tiny_model(tie), batch))
    save(tmp_path / "merged", model, None)
    assert torch.allclose(logits(load_model(tmp_path / "merged"), batch), adapted, atol=1e-5)


def test_adapters_disabled_gives_the_base_model_back():
    model, batch = tiny_model(), fixed_batch()
    base_logits = logits(model, batch)
    apply_lora(model, rank=4)
    train_steps(model, batch)
    adapted = logits(model, batch)
    with adapters_disabled(model):
        assert torch.allclose(logits(model, batch), base_logits, atol=1e-6)
    assert torch.equal(logits(model, batch), adapted)  # switched back on afterwards


def test_save_and_load_adapter_round_trip(tmp_path):
    model, batch = tiny_model(), fixed_batch()
    apply_lora(model, rank=2, alpha=3, targets=("o_proj", "up_proj"), dropout=0.05)
    train_steps(model, batch, steps=3)
    save_adapter(tmp_path / "adapter", model, "some/base")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["target_modules"]) == (2, 3, ["o_proj", "up_proj"])
    assert sorted(adapter_state_dict(model))[0] == \
        "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"
    fresh = load_adapter(tiny_model(), tmp_path / "adapter")
    assert lora_settings(fresh) == lora_settings(model)
    assert torch.equal(logits(fresh, batch), logits(model, batch))
    assert sum(isinstance(m, LoRALinear) for m in fresh.modules()) == 4


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown LoRA targets.*qkv_proj"):
        apply_lora(tiny_model(), rank=4, targets=("q_proj", "qkv_proj"))
    with pytest.raises(UserError, match="rank must be at least 1"):
        apply_lora(tiny_model(), rank=0)
    model = tiny_model()
    apply_lora(model, rank=4)
    with pytest.raises(UserError, match="already has LoRA"):
        apply_lora(model, rank=4)
    save_adapter(tmp_path / "a", model, "base")
    with pytest.raises(UserError, match="does not fit the model|has shape"):
        load_adapter(Transformer(ModelConfig(**{**TINY, "dim": 32})), tmp_path / "a")
    with pytest.raises(UserError, match="no LoRA adapter at"):
        load_adapter(tiny_model(), tmp_path / "missing")


@pytest.mark.parametrize("tie", [True, False])
def test_peft_loads_our_adapter_onto_our_hf_export(tie, tokenizer_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from train.model.checkpoint import load_model, save
    from train.model.hf import export_hf
    from train.model.tokenizer import Tokenizer
    tokenizer = Tokenizer(tokenizer_dir)
    model = tiny_model(tie, vocab_size=tokenizer.vocab_size)
    save(tmp_path / "ckpt", model, tokenizer)
    export_hf(str(tmp_path / "ckpt"), str(tmp_path / "hf"))
    batch = torch.tensor([tokenizer.encode("北京大学 and the history of the university in 1898")] * 2)
    apply_lora(model, rank=4, alpha=12, dropout=0.05)
    train_steps(model, batch, steps=4)
    assert_every_adapter_learned(model)
    save_adapter(tmp_path / "adapter", model, str(tmp_path / "hf"))
    llama = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf")
    theirs = peft.PeftModel.from_pretrained(llama, tmp_path / "adapter").eval()
    ours = logits(model, batch)
    with torch.no_grad():
        assert torch.allclose(theirs(batch[:, :-1]).logits, ours, atol=1e-4)
        with theirs.disable_adapter():  # and the base alone still agrees, so the adapter mattered
            base = theirs(batch[:, :-1]).logits
    assert not torch.allclose(base, ours, atol=1e-3)
    with adapters_disabled(model):
        assert torch.allclose(logits(model, batch), base, atol=1e-4)
    # The other way: what PEFT's own save_pretrained writes loads onto our checkpoint.
    theirs.save_pretrained(tmp_path / "peft_saved")
    reloaded = load_adapter(load_model(tmp_path / "ckpt"), tmp_path / "peft_saved")
    assert torch.allclose(logits(reloaded, batch), ours, atol=1e-6)
