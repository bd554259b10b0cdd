"""`[reward]`: the reward model's loss settings, and the flags they generate (train/core/config.py).
No torch here, so registering the commands stays fast."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass
class RewardConfig:
    """`[reward]` in a reward-model config."""
    center_rewards_coefficient: float = 0.0

    flags: ClassVar[dict] = {
        "center_rewards_coefficient": ("add C * mean((r_chosen + r_rejected)^2) to keep rewards centred "
                                       "(default 0)", {"metavar": "C"}),
    }
