"""The one training loop every stage shares: a stage supplies batches and a loss, this does the rest.

A stage is any object that meets `train.core.stage.Stage` (next_batches, units, tokens, loss,
validation_batches, state_dict / load_state_dict); the loop calls nothing else on it.

Each micro-batch's mean loss is scaled by its share of the step's units across all micro-batches
and processes, so gradient accumulation and DDP give the same gradient as one big batch, and a
micro-batch with no supervised unit contributes zero instead of NaN.

Resuming: if `RUN/checkpoint/` exists, the weights, optimizer, RNG and the stage's position come
back from it and the run goes on from its step; the learning-rate schedule is a function of the
step and the config only, so an interrupted run follows the same curve as an uninterrupted one.
SIGTERM (`timeout`, a scheduler's preemption) ends the step under way, saves, and exits with
status 143, so a run cut into time-limited segments loses no steps and matches an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch

from corpus.errors import UserError
from train.kernels.allocator import retain_freed_memory
from train.kernels.flops import cpu_has_native_bf16, mfu, peak_flops
from train.model import checkpoint

from .config import TrainConfig
from .distributed import Distributed
from .stage import Stage

# RUN/loss.png is redrawn at a save at most this often, and at the last step: drawing it costs
# ~0.2 s, which a run saving every few steps (an ablation's short proxies) paid again and again.
PLOT_EVERY_S = 30.0


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to `lr`, then cosine down to `lr * min_lr_ratio` at `max_steps`."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.max_steps - config.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device):
    """AdamW with weight decay on matrices only, fused (one kernel for all parameters: on a
    7 M-parameter model 4x faster on a CPU than the per-op foreach form); or Muon for the matrices."""
    if config.optimizer == "muon":
        from .muon import MuonWithAdamW
        return MuonWithAdamW(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in params if p.dim() >= 2]
    others = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": matrices, "weight_decay": config.weight_decay},
                              {"params": others, "weight_decay": 0.0}],
                             lr=config.lr, betas=(config.beta1, config.beta2),
                             fused=device.type in ("cuda", "cpu"))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def training_device(config: TrainConfig, dist: Distributed | None = None):
    """(device, autocast context, bf16?) a run trains with; also for passes before the loop."""
    dist = dist or Distributed.from_env()
    device = dist.device if dist.world > 1 else pick_device(config.device)
    native_bf16 = device.type == "cuda" or cpu_has_native_bf16()
    bf16 = config.dtype == "bf16" or (config.dtype == "auto" and native_bf16)
    if bf16 and not native_bf16 and dist.is_main:
        print("warning: dtype bf16 on a CPU without bf16 instructions (AVX512-BF16 or AMX) is "
              "emulated, about 30x slower than fp32; use dtype auto or fp32", file=sys.stderr)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    return device, autocast, bf16


class Trainer:
    def __init__(self, model, stage: Stage, config: TrainConfig, run_dir: str | os.PathLike,
                 tokenizer=None, run_config: dict | None = None, progress: bool = True):
        self.dist = Distributed.from_env()
        self.config, self.stage, self.tokenizer = config, stage, tokenizer
        self.run_dir = Path(run_dir)
        self.run_config = run_config or {}
        self.progress = progress and self.dist.is_main
        self.device, self.autocast, bf16 = training_device(config, self.dist)
        if self.device.type == "cpu":
            retain_freed_memory()  # each step's large tensors reuse the last step's pages
        self.dtype_name = "bf16" if bf16 else "fp32"
        self.model = model.to(self.device)     # the module whose weights we save
        self.optimizer = make_optimizer(self.model, config, self.device)
        self.step = 0
        self._resume()
        forward = torch.compile(self.model) if config.compile else self.model
        self.forward_model = self.dist.wrap(forward, self.device)

    # ---- resume and save -----------------------------------------------------------------

    def _resume(self) -> None:
        ckpt = self.run_dir / "checkpoint"
        if not (ckpt / checkpoint.TRAINER_STATE).is_file() and (self.run_dir / "checkpoint.old").is_dir():
            ckpt = self.run_dir / "checkpoint.old"  # killed between the two renames of a save
        state = checkpoint.load_trainer_state(ckpt)
        if state is None:
            return
        checkpoint.load_weights(self.model, ckpt)
        self.optimizer.load_state_dict(state["optimizer"])
        self.stage.load_state_dict(state["stage"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.step = state["step"]
        if self.dist.is_main:
            _truncate_metrics(self.run_dir / "metrics.jsonl", self.step)

    def save(self) -> None:
        if self.dist.is_main:
            rng = {"torch": torch.get_rng_state(),
                   "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}
            state = {"step": self.step, "optimizer": self.optimizer.state_dict(),
                     "stage": self.stage.state_dict(), "rng": rng}
            checkpoint.save(self.run_dir / "checkpoint", self.model, self.tokenizer,
                            {**self.run_config, "step": self.step}, state)
        self.dist.barrier()

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> dict:
        config = self.config
        if self.step >= config.max_steps:
            if self.progress:
                print(f"{self.run_dir}: already trained to step {self.step}", flush=True)
            return self._summary(None)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Line-buffered: `tail -f RUN/metrics.jsonl` shows every step as it happens.
        metrics = open(self.run_dir / "metrics.jsonl", "a", buffering=1) if self.dist.is_main else None
        peak = peak_flops(self.device, torch.bfloat16 if self.dtype_name == "bf16" else torch.float32)
        flops_per_token = self.model.flops_per_token(self.model.config.max_seq_len)
        save_every = config.save_every or config.eval_every or config.max_steps
        from tqdm import tqdm
        bar = tqdm(total=config.max_steps, initial=self.step, desc="train", unit="step",
                   disable=not self.progress, dynamic_ncols=True)
        last_val = None
        plotted_at = time.perf_counter()
        stop = _StopOnSigterm()
        while self.step < config.max_steps:
            started = time.perf_counter()
            record = self._train_step()
            elapsed = time.perf_counter() - started
            self.step += 1
            tokens_per_s = record["tokens"] / elapsed
            record.update(step=self.step, tokens_per_s=round(tokens_per_s, 1),
                          mfu=round(mfu(tokens_per_s, flops_per_token, peak), 5))
            if self.step % config.log_every == 0 or self.step == config.max_steps:
                self._log(metrics, record)
            if (config.eval_every and self.step % config.eval_every == 0) or self.step == config.max_steps:
                last_val = self.evaluate()
                if last_val is not None:
                    self._log(metrics, {"step": self.step, **last_val})
            if self.step % save_every == 0 or self.step == config.max_steps:
                metrics and metrics.flush()
                self.save()
                if self.dist.is_main and (self.step == config.max_steps
                                          or time.perf_counter() - plotted_at >= PLOT_EVERY_S):
                    from .plots import plot_run
                    plot_run(self.run_dir)
                    plotted_at = time.perf_counter()
            bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{tokens_per_s:,.0f}",
                            mfu=f"{record['mfu']:.1%}", refresh=False)
            bar.update(1)
            if self.dist.all_sum(float(stop.requested)) and self.step < config.max_steps:
                if self.step % save_every:
                    metrics and metrics.flush()
                    self.save()
                bar.close()
                stop.restore()
                if self.dist.is_main:
                    print(f"{self.run_dir}: stopped by SIGTERM at step {self.step}, saved; the same command resumes",
                          flush=True)
                raise SystemExit(143)
        stop.restore()
        bar.close()
        if metrics:
            metrics.close()
        return self._summary(last_val)

    def _train_step(self) -> dict:
        config, dist = self.config, self.dist
        lr = lr_at(self.step, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        batches = self.stage.next_batches(config.grad_accum, dist.rank, dist.world)
        units = dist.all_sum(float(sum(self.stage.units(b) for b in batches)))
        tokens = dist.all_sum(float(sum(self.stage.tokens(b) for b in batches)))
        self.model.train()
        loss_sum, metric_sums = 0.0, {}
        for i, batch in enumerate(batches):
            batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v
                     for k, v in batch.items()}
            share = self.stage.units(batch) / max(units, 1.0)
            with dist.no_sync(self.forward_model, last=i == len(batches) - 1), self.autocast:
                loss, extra = self.stage.loss(self.forward_model, batch)
                # DDP averages gradients over processes; scale up so the sum of shares is kept.
                (loss * share * dist.world).backward()
            loss_sum += loss.item() * share
            for name, value in extra.items():
                metric_sums[name] = metric_sums.get(name, 0.0) + value * share
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                   config.grad_clip if config.grad_clip > 0 else float("inf"))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss_total = dist.all_sum(loss_sum)
        record = {"loss": round(loss_total, 6), "lr": lr, "grad_norm": round(float(grad_norm), 4),
                  "tokens": int(tokens)}
        record.update({k: round(dist.all_sum(v), 6) for k, v in metric_sums.items()})
        return record

    @torch.no_grad()
    def evaluate(self) -> dict | None:
        """Mean validation loss (and perplexity) over the stage's validation batches."""
        self.model.eval()
        loss_sum, unit_sum, metric_sums = 0.0, 0.0, {}
        for i, batch in enumerate(self.stage.validation_batches(self.dist.rank, self.dist.world)):
            if i >= self.config.eval_batches:
                break
            units = self.stage.units(batch)
            batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with self.autocast:
                loss, extra = self.stage.loss(self.model, batch)
            if units:
                loss_sum += loss.item() * units
                unit_sum += units
                for name, value in extra.items():
                    metric_sums[name] = metric_sums.get(name, 0.0) + value * units
        loss_sum, unit_sum = self.dist.all_sum(loss_sum), self.dist.all_sum(unit_sum)
        if not unit_sum:
            return None
        val_loss = loss_sum / unit_sum
        result = {"val_loss": round(val_loss, 6), "val_ppl": round(math.exp(min(val_loss, 50)), 4)}
        result.update({f"val_{k}": round(self.dist.all_sum(v) / unit_sum, 6) for k, v in metric_sums.items()})
        return result

    def _log(self, metrics, record: dict) -> None:
        if metrics:
            metrics.write(json.dumps(record) + "\n")

    def _summary(self, last_val: dict | None) -> dict:
        return {"step": self.step, "run": str(self.run_dir), **(last_val or {})}


class _StopOnSigterm:
    """Notes a SIGTERM for the loop to act on between steps (only the main thread may install it)."""

    def __init__(self):
        self.requested, self.previous = False, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._note)

    def _note(self, signum, frame) -> None:
        self.requested = True

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past the checkpoint being resumed from, so no step is logged twice."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            pass  # the half-written last line of a killed run
    path.write_text("".join(line + "\n" for line in kept))


def config_dict(config) -> dict:
    return asdict(config)
