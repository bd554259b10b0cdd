"""`xiulian ppo` without the command line: settings, prompts, the models, the loop (ppo_stage.py
has the stage, ppo.py the arithmetic)."""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from corpus.errors import UserError
from train.core.config import LoraConfig, TrainConfig, resolve_tables, write_run_json

from .config import PPOConfig
from .stage import PolicyWithValue, PPOStage, answer_outputs

PPO_TRAIN_DEFAULTS = dict(batch_size=8, lr=1e-4, max_steps=200, eval_every=50, weight_decay=0.0)
LORA_TRAIN_DEFAULTS = dict(lr=1e-3)


def read_ppo_settings(config_path, overrides, lora, options):
    """(TrainConfig, PPOConfig, LoRA options): defaults, then the TOML file, then the command line."""
    tables = resolve_tables(config_path, {"train": TrainConfig, "lora": LoraConfig, "ppo": PPOConfig},
                            flags={"train": overrides, "lora": lora, "ppo": options},
                            defaults={"train": PPO_TRAIN_DEFAULTS}, lora_train_defaults=LORA_TRAIN_DEFAULTS)
    return tables["train"], tables["ppo"], tables["lora"]


def prepare_prompts(paths: list[str], tokenizer, max_seq_len: int, max_new_tokens: int):
    """(messages, ids) per prompt, a long prompt cut to leave room for the answer (its first
    token and its end kept, down to half the context); and counts of cut and skipped records."""
    from train.data.sampling_prompts import fit_prompt, read_prompts
    from train.model.chat_template import prompt_ids
    prompts, skipped = read_prompts(list(paths))
    prepared, cut = [], 0
    for messages in prompts:
        ids = prompt_ids(tokenizer, messages)
        fitted = fit_prompt(ids, max_seq_len, max_new_tokens)
        cut += len(fitted) < len(ids)
        prepared.append((messages, fitted))
    return prepared, cut, skipped


def ppo(init: str, reward: str, prompt_paths: list[str], run_dir: str, config_path: str | None = None,
        overrides: dict | None = None, lora: dict | None = None, options: dict | None = None,
        gold_reward: str | None = None, safety_reward: str | None = None, progress: bool = True) -> dict:
    """PPO from `init` (usually SFT) against the reward model `reward`; resumes an existing RUN."""
    from train.core.distributed import Distributed
    from train.core.loop import Trainer, training_device
    from train.model.checkpoint import load_start, resolve
    from train.model.lora import adapters_disabled, setup_lora
    from train.stages.reward.reward_function import load_reward_function
    if Distributed.from_env().world > 1:
        raise UserError("ppo runs in one process (its rollouts and KL controller are not shared)")
    train_config, options, lora = read_ppo_settings(config_path, overrides, lora, options)
    init_dir, tokenizer, start = load_start(init)
    if "end_of_turn" not in tokenizer.special:
        raise UserError(f"{init_dir}: the tokenizer has no chat tokens; start PPO from an SFT checkpoint")
    torch.manual_seed(train_config.seed)  # the value head's initialisation
    policy = PolicyWithValue.from_language_model(start)
    prompts, cut, skipped = prepare_prompts(prompt_paths, tokenizer, start.config.max_seq_len,
                                            options.max_new_tokens)
    note = setup_lora(policy, lora, also_train=tuple(policy.value_head.parameters()))
    device, autocast, _ = training_device(train_config)
    if lora.get("rank"):
        del start

        def reference(ids, prompt_lens, answer_lens, temperature):
            with adapters_disabled(policy):
                return answer_outputs(policy, ids, prompt_lens, answer_lens, temperature, values=False)["logps"]
    else:
        frozen = start.to(device).eval().requires_grad_(False)

        def reference(ids, prompt_lens, answer_lens, temperature):
            return answer_outputs(frozen, ids, prompt_lens, answer_lens, temperature, values=False)["logps"]
    reward_fn = load_reward_function(reward, safety_reward, options.safety_threshold, str(device),
                                     train_config.batch_size)
    gold_fn = load_reward_function(gold_reward, device=str(device)) if gold_reward else None
    stage = PPOStage(prompts, policy, reference, reward_fn, tokenizer, options, train_config.batch_size,
                     train_config.grad_accum, train_config.seed, device, autocast, gold_fn)
    paths = {"init": os.path.abspath(init_dir), "reward": os.path.abspath(resolve(reward)),
             "gold_reward": gold_reward and os.path.abspath(resolve(gold_reward)),
             "safety_reward": safety_reward and os.path.abspath(resolve(safety_reward))}
    summary = {"stage": "ppo", **paths, "prompt_paths": list(map(str, prompt_paths)),
               "prompts": {"train": len(prompts), "truncated": cut, "skipped": dict(skipped)},
               "rollout_size": stage.rollout_size}
    run = write_run_json(run_dir, {**summary, "train": asdict(train_config), "options": asdict(options),
                                   "lora": lora or None})
    if progress:
        steps = options.ppo_epochs * options.minibatches
        target = f"adaptive towards KL {options.kl_target}" if options.kl_target else "fixed"
        print(f"ppo: {len(prompts):,} prompts ({cut} cut to fit the {policy.config.max_seq_len}-token context, "
              f"{sum(skipped.values())} records skipped); rollouts of {stage.rollout_size} answers, "
              f"{steps} steps each; KL coefficient {options.init_kl_coef} ({target}){note}", flush=True)
    trainer = Trainer(policy, stage, train_config, run, tokenizer,
                      run_config={"stage": "ppo", "init": paths["init"]}, progress=progress)
    result = trainer.run()
    from train.core.plots import read_metrics
    records = [r for r in read_metrics(run) if "reward" in r]
    if records:
        plot_ppo(run, options.kl_target)
        result.update(first=records[0], recent=recent_means(records))
    return result


def recent_means(records: list[dict], rollouts: int = 5) -> dict:
    """Rollout statistics averaged over the last few rollouts: one rollout is too noisy to quote."""
    last = list({r["rollout"]: r for r in records}.values())[-rollouts:]
    names = ("reward", "gold_reward", "kl", "kl_coef", "finished", "entropy", "answer_length")
    means = {name: sum(r[name] for r in last) / len(last) for name in names if name in last[0]}
    return {"rollouts": len(last), **means}


def plot_ppo(run_dir, kl_target: float | None = None, out=None, title: str | None = None):
    """RUN/ppo.png against the step: the reward model's score (and the gold one's), the score
    PPO optimises (less the missing-EOS penalty), and KL per answer with its coefficient."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from train.core.plots import read_metrics, smooth
    records = [r for r in read_metrics(run_dir) if "reward" in r]
    steps = [r["step"] for r in records]
    penalised = any(abs(r["score"] - r["reward"]) > 1e-9 for r in records)  # else the panel repeats
    fig, axes = plt.subplots(3 if penalised else 2, 1, figsize=(7, 7 if penalised else 5.5), dpi=120,
                             sharex=True)
    rewards, kl = axes[0], axes[-1]

    def curve(ax, name, color, label):
        values = [r[name] for r in records]
        ax.plot(steps, values, color=color, alpha=0.3, linewidth=0.8)
        ax.plot(steps, smooth(values), color=color, label=f"{label} (smoothed)")
    curve(rewards, "reward", "#3182bd", "reward model")
    if records and "gold_reward" in records[0]:
        curve(rewards, "gold_reward", "#31a354", "gold reward model")
    rewards.set_ylabel("score")
    if penalised:
        curve(axes[1], "score", "#756bb1", "score less missing-EOS penalty")
        axes[1].set_ylabel("score")
    kl.plot(steps, [r["kl"] for r in records], color="#e6550d", label="KL(π‖π_ref) per answer")
    if kl_target:
        kl.axhline(kl_target, color="#636363", linestyle="--", linewidth=1, label="KL target")
    kl.set_ylabel("nats")
    kl.set_xlabel("step")
    coef = kl.twinx()
    coef.plot(steps, [r["kl_coef"] for r in records], color="#969696", linewidth=1, label="KL coefficient")
    coef.set_ylabel("KL coefficient")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    coef.legend(loc="lower right", fontsize=8)
    fig.suptitle(title or Path(run_dir).name)
    fig.tight_layout()
    out = Path(out or Path(run_dir) / "ppo.png")
    fig.savefig(out)
    plt.close(fig)
    return out
