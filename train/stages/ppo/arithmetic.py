"""PPO's arithmetic for language models, as TRL's PPOTrainer defines it: small pure functions on
(answers, answer tokens) tensors with a mask of the real answer tokens.

    per-token reward  r_t = −β (log π(a_t) − log π_ref(a_t)),  plus the score at the last token
    GAE               δ_t = r_t + γ V_{t+1} − V_t,  A_t = δ_t + γλ A_{t+1}  (V past the end = 0)
    returns           R_t = A_t + V_t;  advantages then whitened over the real tokens
    policy loss       max(−A ρ, −A clamp(ρ, 1−ε, 1+ε)),  ρ = exp(log π − log π_old)
    value loss        ½ max((V − R)², (clamp(V, V_old − ε_v, V_old + ε_v) − R)²)

each a masked mean over answer tokens. β comes from a KL controller: fixed, or adaptive towards a
target KL per answer (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum()


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over the masked entries; Bessel-corrected as TRL's masked_var."""
    centred = values - masked_mean(values, mask)
    variance = masked_mean(centred ** 2, mask)
    if unbiased:
        count = mask.sum()
        variance = variance * count / (count - 1)
    return variance


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x − mean) / sqrt(var + 1e-8) over the masked entries (the mean added back if not shift_mean)."""
    mean, variance = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    return whitened if shift_mean else whitened + mean


def answer_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(n, width) bool: True at the first `lengths[i]` tokens of row i."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def apply_missing_eos_penalty(scores: torch.Tensor, finished: torch.Tensor, penalty: float) -> torch.Tensor:
    """Scores less `penalty` where the answer ran out of room instead of ending its turn (TRL's
    missing_eos_penalty): otherwise cutting an answer short costs nothing."""
    return scores - penalty * (~finished.bool()).to(scores.dtype)


def per_token_rewards(logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor,
                      scores: torch.Tensor, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(rewards, kl): kl = log π − log π_ref at each answer token (0 elsewhere); rewards =
    −kl_coef · kl, with each answer's score added at its last token."""
    mask = mask.to(logps.dtype)
    kl = (logps - ref_logps) * mask
    rewards = -kl_coef * kl
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rewards[torch.arange(len(scores), device=rewards.device), last] += scores.to(rewards.dtype)
    return rewards, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) by generalised advantage estimation along each answer; values and
    rewards past an answer's end count as 0, so its last token bootstraps from nothing."""
    mask = mask.to(values.dtype)
    values, rewards = values * mask, rewards * mask
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(values[:, 0])
    width = values.shape[1]
    for t in reversed(range(width)):
        next_values = values[:, t + 1] if t + 1 < width else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def policy_loss(logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, cliprange: float = 0.2) -> tuple[torch.Tensor, dict]:
    """The clipped surrogate objective's loss, and clipfrac and approx_kl (detached floats)."""
    mask = mask.to(logps.dtype)
    log_ratio = logps - old_logps
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {"clipfrac": masked_mean((clipped > unclipped).to(mask.dtype), mask).item(),
                 "approx_kl": masked_mean(0.5 * log_ratio ** 2, mask).item()}
    return loss, stats


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               mask: torch.Tensor, cliprange_value: float = 0.2) -> tuple[torch.Tensor, dict]:
    """The clipped value loss: the new value may not earn credit for moving more than ε_v."""
    mask = mask.to(values.dtype)
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped_loss = (values - returns) ** 2
    clipped_loss = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_loss, clipped_loss), mask)
    with torch.no_grad():
        stats = {"value_clipfrac": masked_mean((clipped_loss > unclipped_loss).to(mask.dtype), mask).item()}
    return loss, stats


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each softmax row: logsumexp(z) − Σ softmax(z) z."""
    logits = logits.float()
    return torch.logsumexp(logits, -1) - (torch.softmax(logits, -1) * logits).sum(-1)


@dataclass
class KLController:
    """β of the KL penalty. With a `target`, adaptive as in Ziegler et al. / TRL's
    AdaptiveKLController: after each rollout, β *= 1 + clip(KL/target − 1, ±0.2) · n / horizon,
    where KL is the mean per-answer KL and n the answers in the rollout. Without one, fixed."""
    value: float
    target: float | None = None
    horizon: float = 10000

    def update(self, current_kl: float, n_answers: int) -> None:
        if self.target is None:
            return
        error = min(max(current_kl / self.target - 1, -0.2), 0.2)
        self.value *= 1 + error * n_answers / self.horizon

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]
