"""`[ppo]`: PPO's settings, and the flags they generate (train/core/config.py). No torch here, so
registering the commands stays fast."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from corpus.errors import UserError


@dataclass
class PPOConfig:
    """`[ppo]` in a PPO config. Defaults follow TRL's PPOConfig, except the KL target (set one
    for the adaptive controller) and the missing-EOS penalty (TRL: off)."""
    max_new_tokens: int = 64
    temperature: float = 0.7        # sampling and the log-probs alike (TRL divides logits by it)
    missing_eos_penalty: float = 1.0
    init_kl_coef: float = 0.05      # β, the weight of the per-token KL penalty
    kl_target: float | None = None  # KL per answer to steer β towards; unset or 0: β stays fixed
    kl_horizon: float = 10000       # answers over which the adaptive β may change by about ×e^0.2
    ppo_epochs: int = 4
    minibatches: int = 1            # minibatches per rollout; a minibatch is batch_size × grad_accum
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    safety_threshold: float = 0.0   # with --safety-reward: its score below this takes over

    flags: ClassVar[dict] = {
        "safety_threshold": ("with --safety-reward: its scores below T take over (default 0)", {"metavar": "T"}),
        "max_new_tokens": ("answer length limit (default 64)", {"metavar": "N"}),
        "temperature": "sampling temperature (default 0.7)",
        "missing_eos_penalty": ("subtracted from the score of an answer that never ends its turn (default 1)",
                                {"metavar": "P"}),
        "init_kl_coef": ("KL penalty coefficient (default 0.05)", {"metavar": "BETA"}),
        "kl_target": ("KL per answer (nats) to steer the coefficient towards; unset: fixed", {"metavar": "KL"}),
        "kl_horizon": ("adaptive controller's horizon (default 10000)", {"metavar": "N"}),
        "ppo_epochs": ("passes over each rollout (default 4)", {"metavar": "E"}),
        "minibatches": ("minibatches per rollout (default 1); a rollout is M x batch-size x grad-accum answers",
                        {"metavar": "M"}),
        "cliprange": "policy ratio clip (default 0.2)",
        "cliprange_value": "value clip (default 0.2)",
        "vf_coef": "weight of the value loss (default 0.1)",
        "gamma": "discount (default 1)",
        "lam": "GAE lambda (default 0.95)",
    }

    def __post_init__(self):
        if self.kl_target is not None and self.kl_target <= 0:
            self.kl_target = None
        if self.max_new_tokens < 1 or self.ppo_epochs < 1 or self.minibatches < 1:
            raise UserError("[ppo] max_new_tokens, ppo_epochs and minibatches must be at least 1")
        if self.temperature <= 0:
            raise UserError("[ppo] temperature must be above 0 (PPO needs sampled answers)")
        if self.kl_horizon <= 0 or self.init_kl_coef < 0:
            raise UserError("[ppo] kl_horizon must be above 0 and init_kl_coef not negative")
