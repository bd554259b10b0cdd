"""`[dpo]` and `[kto]`: the losses' settings, and the flags they generate (train/core/config.py).
No torch here, so registering the commands stays fast."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass
class DPOConfig:
    """`[dpo]` in a DPO config."""
    beta: float = 0.1
    label_smoothing: float = 0.0

    flags: ClassVar[dict] = {
        "beta": "strength of the pull to the reference (default 0.1)",
        "label_smoothing": "assumed share of flipped labels (cDPO; default 0)",
    }


@dataclass
class KTOConfig:
    """`[kto]` in a KTO config. TRL advises λ_D n_D / (λ_U n_U) in [1, 4/3]."""
    beta: float = 0.1
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0

    flags: ClassVar[dict] = {
        "beta": "default 0.1",
        "desirable_weight": "weight of good answers' loss (default 1)",
        "undesirable_weight": "weight of bad answers' loss (default 1)",
    }
