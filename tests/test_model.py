"""train/model/transformer.py: the Llama-style decoder behaves as a causal LM should."""
import math

import pytest
import torch
import torch.nn.functional as F

from train.model.transformer import PRESETS, KVCache, ModelConfig, Transformer, sample


def tiny(**overrides) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=97, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                                   max_seq_len=64, **overrides)).eval()


def test_initial_loss_is_near_uniform():
    model = tiny()
    g = torch.Generator().manual_seed(1)
    idx, targets = torch.randint(0, 97, (2, 2, 16), generator=g)
    logits, loss = model(idx, targets=targets)
    assert logits.shape == (2, 16, 97)
    assert abs(loss.item() - math.log(97)) < 0.2


def test_future_tokens_do_not_change_past_logits():
    model = tiny()
    a = torch.randint(0, 97, (1, 12), generator=torch.Generator().manual_seed(2))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 97
    assert torch.allclose(model(a)[0, :8], model(b)[0, :8], atol=1e-6)
    assert not torch.allclose(model(a)[0, 8:], model(b)[0, 8:])


@pytest.mark.parametrize("n", [40, 64, 65, 200])
def test_sliding_window_losses_score_each_target_once_with_its_context(n):
    """xiulian eval's losses: every target once, in order; a target past the first window is
    scored with the stride's overlap of context before it (here: directly, in one forward)."""
    from train.eval.perplexity import token_losses
    model = tiny()
    flat = torch.randint(0, 97, (n,), generator=torch.Generator().manual_seed(3)).numpy()
    slid, cut = token_losses(model, flat, batch_size=3, stride=16), token_losses(model, flat, stride=64)
    assert len(slid) == len(cut) == n - 1
    assert slid[:64] == pytest.approx(cut[:64], abs=1e-5)  # the first window is the same
    for target in range(64, n - 1):  # target i + 1 seen through the window its last stride ends in
        end = 64 + -(-(target + 1 - 64) // 16) * 16
        window = torch.from_numpy(flat[end - 64:end + 1][None])
        direct = F.cross_entropy(model(window[:, :-1])[0], window[0, 1:], reduction="none")
        assert slid[target] == pytest.approx(direct[target - (end - 64)].item(), abs=1e-5)


@pytest.mark.parametrize("tie", [True, False])
def test_kv_cache_decoding_equals_full_forward(tie):
    model = tiny(tie_embeddings=tie)
    idx = torch.randint(0, 97, (1, 20), generator=torch.Generator().manual_seed(3))
    full = model(idx)
    cache = KVCache(model.config.n_layers)
    parts = [model(idx[:, :7], cache=cache)] + [model(idx[:, i:i + 1], cache=cache) for i in range(7, 20)]
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


def test_padding_keys_are_masked():
    model = tiny()
    idx = torch.randint(1, 97, (1, 10), generator=torch.Generator().manual_seed(4))
    padded = torch.cat([idx, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 10), torch.zeros(1, 6)], dim=1)
    assert torch.allclose(model(padded, attention_mask=mask)[:, :10], model(idx), atol=1e-5)


def test_greedy_generation_matches_argmax_of_full_forward():
    model = tiny()
    prompt = torch.tensor([[5, 17, 42]])
    out = model.generate(prompt, max_new_tokens=8, temperature=0)
    expected = prompt
    for _ in range(8):
        expected = torch.cat([expected, model(expected)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, expected)
    stop = int(out[0, 5])
    first = 3 + out[0, 3:].tolist().index(stop)  # greedy output of a random model repeats itself
    stopped = model.generate(prompt, max_new_tokens=8, temperature=0, stop_tokens={stop})
    assert torch.equal(stopped, out[:, :first + 1])


def test_sampling_filters():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9]])
    g = torch.Generator().manual_seed(0)
    assert all(sample(logits, 1.0, top_k=1, generator=g).item() == 1 for _ in range(20))
    assert all(sample(logits, 1.0, top_p=0.01, generator=g).item() == 1 for _ in range(20))
    seen = {sample(logits, 1.0, top_k=2, generator=g).item() for _ in range(200)}
    assert seen == {1, 3}


def test_a_few_steps_fit_a_batch():
    model = tiny().train()
    idx = torch.randint(0, 97, (4, 32), generator=torch.Generator().manual_seed(5))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        _, loss = model(idx[:, :-1], targets=idx[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_config_checks_and_presets():
    with pytest.raises(ValueError):
        ModelConfig(dim=64, n_heads=4, n_kv_heads=3)
    model = Transformer(ModelConfig(vocab_size=1000, **PRESETS["tiny"]))
    assert model.flops_per_token(256) > 6 * model.num_params()
    assert model.config.hidden_dim % 64 == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_chunked_cross_entropy_matches_torch_with_ignored_targets(dtype):
    from train.kernels.chunked_cross_entropy import ChunkedCrossEntropy
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 700, 97, generator=g).to(dtype).requires_grad_(True)  # > one chunk
    targets = torch.randint(0, 97, (3, 700), generator=g)
    targets[0, :50] = -100
    ours = ChunkedCrossEntropy.apply(logits, targets)
    (grad_ours,) = torch.autograd.grad(ours, logits)
    reference = F.cross_entropy(logits.float().view(-1, 97), targets.view(-1), ignore_index=-100)
    (grad_ref,) = torch.autograd.grad(reference, logits)
    assert torch.allclose(ours.float(), reference, atol=1e-5)
    assert torch.allclose(grad_ours.float(), grad_ref.float(), atol=1e-6 if dtype == torch.float32 else 1e-3)
