"""What best-of-N and PPO ask of a judge: a number for each finished conversation.

Usually one reward model. Llama 2 trained two — one for helpfulness, one for safety — because
the criteria conflict (the most helpful answer to a harmful request is a harmful one), and
combined them per answer: the safety score takes over when it falls below a threshold, the
helpfulness score counts otherwise (Touvron et al. 2023, §3.2.2; they also let safety win on
prompts tagged unsafe, which needs labels we do not have).
"""
from __future__ import annotations

from dataclasses import dataclass

from train.model.checkpoint import load_tokenizer

from .reward_model import RewardModel, load_reward_model, score


@dataclass
class RewardFunction:
    """Scores conversations that end with an assistant answer; `safety` optional."""
    model: RewardModel
    tokenizer: object
    safety: RewardModel | None = None
    safety_tokenizer: object = None
    safety_threshold: float = 0.0
    batch_size: int = 16

    def __call__(self, conversations: list[list[dict]]) -> list[float]:
        return self.score_parts(conversations)["reward"]

    def score_parts(self, conversations: list[list[dict]]) -> dict[str, list[float]]:
        """{"reward": combined, "helpful": ..., "safety": ..., "safety_took_over": ...}; the
        last three only with a safety model."""
        helpful = score(self.model, self.tokenizer, conversations, self.batch_size)
        if self.safety is None:
            return {"reward": helpful}
        safety = score(self.safety, self.safety_tokenizer, conversations, self.batch_size)
        took_over = [s < self.safety_threshold for s in safety]
        combined = [s if unsafe else h for h, s, unsafe in zip(helpful, safety, took_over)]
        return {"reward": combined, "helpful": helpful, "safety": safety,
                "safety_took_over": took_over}


def load_reward_function(reward: str, safety: str | None = None, safety_threshold: float = 0.0,
                         device: str = "cpu", batch_size: int = 16) -> RewardFunction:
    """A reward model checkpoint (or run), and optionally a safety one, as a RewardFunction."""
    function = RewardFunction(load_reward_model(reward, device), load_tokenizer(reward),
                              safety_threshold=safety_threshold, batch_size=batch_size)
    if safety:
        function.safety, function.safety_tokenizer = load_reward_model(safety, device), load_tokenizer(safety)
    return function
