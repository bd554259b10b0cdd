"""Muon: orthogonalised updates for the hidden matrices, AdamW for the rest."""
import torch

from train.core.loop import TrainConfig, make_optimizer
from train.core.muon import orthogonalize
from train.model.transformer import ModelConfig, Transformer


def test_newton_schulz_gives_a_nearly_orthogonal_matrix():
    g = torch.randn(64, 160, generator=torch.Generator().manual_seed(0))
    singular = torch.linalg.svdvals(orthogonalize(g))
    assert 0.6 < singular.min() and singular.max() < 1.25  # the quintic's band, not exactly 1
    assert torch.allclose(orthogonalize(g.T), orthogonalize(g).T, atol=1e-5)


def fit(optimizer_name: str, steps: int) -> tuple[list[float], torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=128, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                                    max_seq_len=32))
    config = TrainConfig(max_steps=steps, lr=3e-3, optimizer=optimizer_name)
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    batch = torch.randint(0, 128, (4, 33), generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(steps):
        _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses, model, optimizer


def test_muon_memorises_a_batch_and_puts_only_hidden_matrices_on_muon():
    losses, model, optimizer = fit("muon", 30)
    assert losses[-1] < losses[0] - 2.0
    muon_params = {id(p) for g in optimizer.param_groups if g["muon"] for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in muon_params}
    assert names and all(n.startswith("layers.") and n.endswith("proj.weight") for n in names)
    assert "embed_tokens.weight" not in names


def test_muon_state_round_trips_for_exact_resume():
    _, model, optimizer = fit("muon", 3)
    copy = make_optimizer(model, TrainConfig(max_steps=3, lr=3e-3, optimizer="muon"), torch.device("cpu"))
    copy.load_state_dict(optimizer.state_dict())
    for p in model.parameters():
        for key, value in optimizer.state[p].items():
            assert torch.equal(torch.as_tensor(copy.state[p][key]), torch.as_tensor(value))
