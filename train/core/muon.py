"""Muon for the hidden matrices, AdamW for the rest (Keller Jordan, 2024; modded-nanogpt).

Muon takes SGD's Nesterov momentum and replaces each matrix's update by the nearest
semi-orthogonal matrix (five Newton-Schulz iterations instead of an SVD), so every direction of
the update moves at the same rate: the largest single speed-up in the modded-nanogpt speedruns.
It suits only 2-D weights inside the network; embeddings, the output head and the norms' gains
stay on AdamW, as in the reference. One optimizer object holds both, so checkpoints and the
learning-rate schedule treat it like AdamW (`lr_scale` keeps Muon's rate proportional to `lr`).
"""
from __future__ import annotations

import torch


@torch.no_grad()
def orthogonalize(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately U V^T of g = U S V^T by the quintic Newton-Schulz iteration."""
    a, b, c = 3.4445, -4.7750, 2.0315  # coefficients tuned for fast convergence from the reference
    x = g.bfloat16() if g.is_cuda else g.float()  # bf16 is fast on GPUs, slow on CPUs
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(g.dtype)


class MuonWithAdamW(torch.optim.Optimizer):
    def __init__(self, model: torch.nn.Module, config):
        hidden, embeddings, gains = [], [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if p.dim() == 2 and ".layers." in f".{name}" and "lora_" not in name:
                hidden.append(p)
            elif p.dim() >= 2:
                embeddings.append(p)   # embed_tokens, lm_head, LoRA's rank-r factors
            else:
                gains.append(p)
        muon_lr = getattr(config, "muon_lr", 0.02)
        groups = [
            {"params": hidden, "muon": True, "lr": muon_lr, "lr_scale": muon_lr / config.lr,
             "momentum": 0.95, "weight_decay": config.weight_decay},
            {"params": embeddings, "muon": False, "lr": config.lr, "weight_decay": config.weight_decay},
            {"params": gains, "muon": False, "lr": config.lr, "weight_decay": 0.0},
        ]
        defaults = {"betas": (config.beta1, config.beta2), "eps": 1e-8, "lr_scale": 1.0}
        super().__init__([g for g in groups if g["params"]], defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, decay = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if decay:
                    p.mul_(1 - lr * decay)
                if group["muon"]:
                    buf = state.setdefault("momentum", torch.zeros_like(p))
                    buf.mul_(group["momentum"]).add_(p.grad)
                    update = orthogonalize(p.grad.add(buf, alpha=group["momentum"]))  # Nesterov
                    p.add_(update, alpha=-lr * max(1.0, p.size(0) / p.size(1)) ** 0.5)
                else:
                    _adam_update(p, state, group, lr)


def _adam_update(p: torch.Tensor, state: dict, group: dict, lr: float) -> None:
    beta1, beta2 = group["betas"]
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
    state["step"] += 1
    state["exp_avg"].lerp_(p.grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
    correction1 = 1 - beta1 ** state["step"]
    correction2 = 1 - beta2 ** state["step"]
    denom = (state["exp_avg_sq"] / correction2).sqrt_().add_(group["eps"])
    p.addcdiv_(state["exp_avg"], denom, value=-lr / correction1)
