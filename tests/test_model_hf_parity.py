"""Our decoder and transformers' LlamaForCausalLM compute the same function, name for name."""
import pytest
import torch

from train.model.transformer import ModelConfig, Transformer

transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")


@pytest.mark.parametrize("tie", [True, False])
def test_logits_match_llama_for_causal_lm(tie):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=101, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                         max_seq_len=64, tie_embeddings=tie)
    ours = Transformer(config).eval()
    hf_config = transformers.LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.dim, intermediate_size=config.hidden_dim,
        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads, max_position_embeddings=config.max_seq_len,
        rope_theta=config.rope_theta, rms_norm_eps=config.norm_eps, tie_word_embeddings=tie,
        attention_bias=False, mlp_bias=False)
    hf = transformers.LlamaForCausalLM(hf_config).eval()
    state = {("lm_head.weight" if k == "lm_head.weight" else f"model.{k}"): v
             for k, v in ours.state_dict().items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)
    idx = torch.randint(0, config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(ours(idx), hf(idx).logits, atol=1e-4)
