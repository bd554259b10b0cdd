"""PPO as a stage of the shared loop (loop.py): rollouts of sampled answers scored by a reward
model, then several optimizer steps on each rollout. The arithmetic lives in ppo.py.

One loop step is one optimizer step on one minibatch. When the stage's buffer is empty,
`next_batches` first does a rollout: the next prompts (a seeded order, epoch after epoch),
one answer each sampled with the KV cache (rollout.py), scored by the reward model, with
log-probs, values and reference log-probs from one forward pass, rewards, advantages and
returns. The rollout then serves `ppo_epochs` × `minibatches` steps, each epoch in its own
seeded order. The buffer, its position and the KL controller are part of the stage's state,
so re-running the command resumes exactly where the checkpoint was taken.

The policy is the starting model plus a value head (`Linear(dim, 1)` on the final hidden
states, a shared trunk as in TRL's AutoModelForCausalLMWithValueHead), saved as
`value_head.safetensors` beside a plain language model. The reference is the starting model,
frozen; with LoRA, the policy with its adapters off.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from train.core.stage import ExampleStage
from train.model.transformer import ModelConfig, Transformer
from train.serve.rollout import sample_answers

from . import arithmetic as P
from .config import PPOConfig


class PolicyWithValue(Transformer):
    """The language model plus a value head on the same hidden states. `model(ids)` is still the
    language model (sampling, the reference under LoRA); `model(ids, values=True)` gives
    (logits, values) from one pass."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.value_head = nn.Linear(config.dim, 1)
        nn.init.normal_(self.value_head.weight, std=0.02)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, idx, targets=None, attention_mask=None, cache=None, values: bool = False):
        if not values:
            return super().forward(idx, targets, attention_mask, cache)
        hidden = self.hidden_states(idx)
        return self.lm_head(hidden), self.value_head(hidden).squeeze(-1).float()

    @classmethod
    def from_language_model(cls, model: Transformer) -> "PolicyWithValue":
        policy = cls(model.config)
        missing, unexpected = policy.load_state_dict(model.state_dict(), strict=False)
        assert not unexpected and set(missing) == {"value_head.weight", "value_head.bias"}, (missing, unexpected)
        return policy


def answer_outputs(model, ids: torch.Tensor, prompt_lens: torch.Tensor, answer_lens: torch.Tensor,
                   temperature: float, values: bool = True, entropy: bool = False) -> dict:
    """Per answer token (n, A), left-aligned: `logps` at `temperature`, and `values` (the value
    of the state each token is chosen in) and `entropy` when asked."""
    inputs = ids[:, :-1]
    out = model(inputs, values=True) if values else model(inputs)
    logits, value = out if values else (out, None)
    width = int(answer_lens.max())
    positions = (prompt_lens[:, None] - 1 + torch.arange(width, device=ids.device)).clamp(max=inputs.shape[1] - 1)
    logits = logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1])).float() / temperature
    targets = ids.gather(1, positions + 1)
    result = {"logps": F.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)}
    if values:
        result["values"] = value.gather(1, positions)
    if entropy:
        result["entropy"] = P.entropy_from_logits(logits)
    return result


class PPOStage(ExampleStage):
    """Prompts in; minibatches of a rollout out. `prompts` are (messages, prompt ids) pairs."""
    empty_message = "no usable prompts"

    def __init__(self, prompts: list, policy, reference, reward_fn, tokenizer, options: PPOConfig,
                 batch_size: int, grad_accum: int, seed: int, device, autocast, gold_fn=None):
        pad_id = tokenizer.special.get("pad", tokenizer.eos_id)
        super().__init__(prompts, [], batch_size, seed, pad_id)
        self.policy, self.reference, self.reward_fn, self.gold_fn = policy, reference, reward_fn, gold_fn
        self.tokenizer, self.options = tokenizer, options
        self.grad_accum, self.device, self.autocast = grad_accum, device, autocast
        self.rollout_size = batch_size * grad_accum * options.minibatches
        self.kl = P.KLController(options.init_kl_coef, options.kl_target, options.kl_horizon)
        self.rollouts, self.position, self.buffer, self.stats = 0, 0, None, {}

    # ---- the loop's interface ---------------------------------------------------------------

    def next_batches(self, count: int, rank: int, world: int) -> list[dict]:
        if count != self.grad_accum or world != 1:
            raise ValueError("PPOStage serves grad_accum micro-batches to one process")
        if self.buffer is None:
            self.buffer, self.stats = self.rollout()
            self.rollouts, self.position = self.rollouts + 1, 0
        epoch, minibatch = divmod(self.position, self.options.minibatches)
        order = np.random.default_rng([self.seed, self.rollouts, epoch]).permutation(self.rollout_size)
        size = self.batch_size * self.grad_accum
        chosen = order[minibatch * size:(minibatch + 1) * size]
        batches = [self._slice(chosen[i:i + self.batch_size]) for i in range(0, size, self.batch_size)]
        self.position += 1
        if self.position == self.options.ppo_epochs * self.options.minibatches:
            self.buffer = None  # the next step samples a fresh rollout
        return batches

    @staticmethod
    def units(batch: dict) -> int:
        return int(batch["answer_lens"].sum())  # loss terms are means over answer tokens

    def loss(self, model, batch: dict):
        options = self.options
        out = answer_outputs(model, batch["ids"], batch["prompt_lens"], batch["answer_lens"], options.temperature)
        mask = P.answer_mask(batch["answer_lens"], out["logps"].shape[1])
        pg, pg_stats = P.policy_loss(out["logps"], batch["logps"], batch["advantages"], mask, options.cliprange)
        vf, vf_stats = P.value_loss(out["values"], batch["values"], batch["returns"], mask, options.cliprange_value)
        metrics = {**batch["stats"], "policy_loss": pg.item(), "value_loss": vf.item(), **pg_stats, **vf_stats}
        return pg + options.vf_coef * vf, metrics

    def validation_batches(self, rank: int, world: int):
        return []

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rollouts": self.rollouts, "position": self.position,
                "buffer": self.buffer, "stats": self.stats, "kl": self.kl.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.rollouts, self.position = state["rollouts"], state["position"]
        self.buffer, self.stats = state["buffer"], state["stats"]
        self.kl.load_state_dict(state["kl"])

    # ---- rollouts ---------------------------------------------------------------------------

    def _slice(self, rows) -> dict:
        rows = torch.as_tensor(rows)
        buffer = self.buffer
        lengths, answer_lens = buffer["lengths"][rows], buffer["answer_lens"][rows]
        width, answer_width = int(lengths.max()), int(answer_lens.max())
        batch = {"ids": buffer["ids"][rows, :width], "lengths": lengths, "prompt_lens": buffer["prompt_lens"][rows],
                 "answer_lens": answer_lens, "stats": dict(self.stats)}
        for name in ("logps", "values", "advantages", "returns"):
            batch[name] = buffer[name][rows, :answer_width]
        return batch

    @torch.no_grad()
    def rollout(self) -> tuple[dict, dict]:
        """Sample, score and evaluate one rollout: (buffer of CPU tensors, its statistics)."""
        options, tokenizer = self.options, self.tokenizer
        prompts = self._take(self.rollout_size)
        end_of_turn = tokenizer.special["end_of_turn"]
        answers = sample_answers(self.policy, [ids for _, ids in prompts], options.max_new_tokens,
                                 options.temperature, stop={end_of_turn},
                                 seed=self.seed * 100_003 + self.rollouts, max_batch=len(prompts))
        conversations = [messages + [{"role": "assistant", "content": tokenizer.decode(a.ids)}]
                         for (messages, _), a in zip(prompts, answers)]
        parts = self.reward_fn.score_parts(conversations)
        rewards = torch.tensor(parts["reward"], dtype=torch.float32)
        finished = torch.tensor([a.finished for a in answers])
        rows = [list(ids) + a.ids + ([end_of_turn] if a.finished else []) for (_, ids), a in zip(prompts, answers)]
        lengths = torch.tensor([len(r) for r in rows])
        prompt_lens = torch.tensor([len(ids) for _, ids in prompts])
        ids = torch.full((len(rows), int(lengths.max())), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row)
        buffer = {"ids": ids, "lengths": lengths, "prompt_lens": prompt_lens, "answer_lens": lengths - prompt_lens}
        out = self._evaluate(buffer)
        mask = P.answer_mask(buffer["answer_lens"], out["logps"].shape[1])
        scores = P.apply_missing_eos_penalty(rewards, finished, options.missing_eos_penalty)
        kl_coef = self.kl.value
        token_rewards, kl = P.per_token_rewards(out["logps"], out["ref_logps"], mask, scores, kl_coef)
        advantages, returns = P.gae(token_rewards, out["values"], mask, options.gamma, options.lam)
        advantages = P.masked_whiten(advantages, mask) * mask
        kl_per_answer = kl.sum(1)
        self.kl.update(kl_per_answer.mean().item(), len(rows))
        buffer.update(logps=out["logps"], values=out["values"] * mask, advantages=advantages, returns=returns)
        stats = {"rollout": self.rollouts + 1, "reward": rewards.mean().item(), "score": scores.mean().item(),
                 "objective": (scores - kl_coef * kl_per_answer).mean().item(),
                 "kl": kl_per_answer.mean().item(), "kl_coef": kl_coef,
                 "entropy": P.masked_mean(out["entropy"], mask).item(),
                 "answer_length": buffer["answer_lens"].float().mean().item(),
                 "finished": finished.float().mean().item()}
        if "safety_took_over" in parts:
            stats["safety_took_over"] = float(np.mean(parts["safety_took_over"]))
        if self.gold_fn is not None:
            stats["gold_reward"] = float(np.mean(self.gold_fn(conversations)))
        return buffer, stats

    def _evaluate(self, buffer: dict) -> dict:
        """Policy log-probs, values and entropy, and reference log-probs, for every answer token."""
        temperature, parts = self.options.temperature, []
        was_training = self.policy.training
        self.policy.eval()
        for start in range(0, len(buffer["ids"]), self.batch_size):
            rows = slice(start, start + self.batch_size)
            width = int(buffer["lengths"][rows].max())
            ids = buffer["ids"][rows, :width].to(self.device)
            prompt_lens = buffer["prompt_lens"][rows].to(self.device)
            answer_lens = buffer["answer_lens"][rows].to(self.device)
            with self.autocast:
                out = answer_outputs(self.policy, ids, prompt_lens, answer_lens, temperature, entropy=True)
                out["ref_logps"] = self.reference(ids, prompt_lens, answer_lens, temperature)
            parts.append({k: v.float().cpu() for k, v in out.items()})
        self.policy.train(was_training)
        width = int(buffer["answer_lens"].max())
        return {name: torch.cat([F.pad(p[name], (0, width - p[name].shape[1])) for p in parts])
                for name in parts[0]}


