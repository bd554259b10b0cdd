"""Stage one: next-token prediction on the cleaned shards.

`pretrain()` resolves the run's config (preset, then `--config` TOML, then command-line flags),
tokenises the shards into `RUN/data/`, and hands a `PretrainStage` to the shared loop. The
resolved config is written to `RUN/run.json`; re-running the same command on the same RUN
resumes it, and a model config that differs from the saved one is refused rather than mixed.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from corpus.errors import UserError
from train.core.config import TrainConfig, resolve_tables, write_run_json
from train.core.distributed import Distributed
from train.core.loop import Trainer
from train.data.token_shards import DataConfig, Prepared, TokenStream, prepare, validation_sequences
from train.model.tokenizer import Tokenizer
from train.model.transformer import PRESETS, ModelConfig, Transformer

# What a preset sets besides the model's shape: a learning rate and batch its size trains well at.
PRESET_TRAIN = {
    "tiny": dict(lr=3e-3, batch_size=8, eval_every=50),
    "small": dict(lr=1.5e-3, batch_size=16, eval_every=200),
    "base": dict(lr=6e-4, batch_size=32, eval_every=500),
}


class PretrainStage:
    """Packed sequences from the token stream; validation on the held-out documents, or on
    `validation` windows given whole (a held-out text set outside the training data)."""

    def __init__(self, data: Prepared, seq_len: int, eos_id: int, seed: int, batch_size: int,
                 eval_sequences: int, validation: np.ndarray | None = None):
        self.stream = TokenStream(data, seq_len, eos_id, seed)
        self.batch_size = batch_size
        self.validation = (validation if validation is not None
                           else validation_sequences(data, seq_len, eos_id, eval_sequences))

    def next_batches(self, count: int, rank: int, world: int) -> list[dict]:
        sequences = self.stream.next_sequences(count * world * self.batch_size)
        mine = sequences.reshape(world, count, self.batch_size, -1)[rank]
        return [_as_batch(chunk) for chunk in mine]

    def validation_batches(self, rank: int, world: int):
        mine = self.validation[rank::world]
        for start in range(0, len(mine), self.batch_size):
            yield _as_batch(mine[start:start + self.batch_size])

    @staticmethod
    def units(batch: dict) -> int:
        return int(batch["targets"].numel())

    tokens = units

    @staticmethod
    def loss(model, batch: dict):
        _, loss = model(batch["inputs"], batch["targets"])
        return loss, {}

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)


def _as_batch(sequences: np.ndarray) -> dict:
    tensor = torch.from_numpy(np.ascontiguousarray(sequences))
    return {"inputs": tensor[:, :-1], "targets": tensor[:, 1:]}


def resolve_config(preset: str, config_path: str | None, overrides: dict,
                   vocab_size: int) -> dict:
    """{model, train, data} from the preset, the TOML file and the flags, in that order."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    tables = resolve_tables(config_path, {"model": ModelConfig, "train": TrainConfig, "data": DataConfig},
                            flags={"train": overrides},
                            defaults={"model": PRESETS[preset], "train": PRESET_TRAIN[preset]})
    model = replace(tables["model"], vocab_size=64 * -(-vocab_size // 64))  # padded for fast matmuls
    return {"preset": preset, "model": model.to_dict(), "train": asdict(tables["train"]),
            "data": asdict(tables["data"])}


def heldout_sequences(paths: list[str], tokenizer: Tokenizer, seq_len: int, count: int) -> np.ndarray:
    """`count` (seq_len + 1)-token windows spread evenly over held-out text (documents joined by
    end-of-text tokens), so every file of a mixed set (English and Chinese, say) is in the curve."""
    from train.data.shards import find_files, read_token_stream
    flat, _ = read_token_stream(find_files(paths), tokenizer, max_tokens=10_000_000)
    available = (len(flat) - 1) // seq_len
    if available < 1:
        raise UserError(f"--heldout: less than {seq_len + 1} tokens of text in {', '.join(paths)}")
    starts = np.unique(np.linspace(0, available - 1, min(count, available)).astype(np.int64)) * seq_len
    return np.stack([flat[s:s + seq_len + 1] for s in starts])


def pretrain(data_paths: list[str], tokenizer_dir: str, run_dir: str, preset: str = "tiny",
             config_path: str | None = None, overrides: dict | None = None,
             progress: bool = True, heldout: list[str] | None = None) -> dict:
    """Pretrain (or resume) a model on shards; returns the final step and validation loss.
    `heldout`: text files to validate on instead of a split of the shards (the same yardstick for
    runs on different data; keep them out of the training data, e.g. `clean --holdout-from`)."""
    tokenizer = Tokenizer(tokenizer_dir)
    config = resolve_config(preset, config_path, overrides or {}, tokenizer.vocab_size)
    run = Path(run_dir)
    saved = run / "run.json"
    if saved.is_file():
        previous = json.loads(saved.read_text())
        if previous.get("model") != config["model"]:
            raise UserError(f"{run} holds a run with another model config; "
                            "use a new -o folder (or delete this one) to start over")
    dist = Distributed.from_env()
    if dist.is_main:
        run.mkdir(parents=True, exist_ok=True)
        write_run_json(run, {**config, "data_paths": list(data_paths),
                             "tokenizer": os.path.abspath(tokenizer_dir), "heldout": list(heldout or [])})
    train_config = TrainConfig(**config["train"])
    data_config = DataConfig(**config["data"])
    if dist.is_main:
        prepared = prepare(data_paths, tokenizer, run / "data", data_config, progress)
    dist.barrier()
    if not dist.is_main:
        prepared = prepare(data_paths, tokenizer, run / "data", data_config, progress=False)
    model_config = ModelConfig(**config["model"])
    eval_sequences = train_config.eval_batches * train_config.batch_size
    validation = (heldout_sequences(heldout, tokenizer, model_config.max_seq_len, eval_sequences)
                  if heldout else None)
    stage = PretrainStage(prepared, model_config.max_seq_len, tokenizer.eos_id, train_config.seed,
                          train_config.batch_size, eval_sequences, validation)
    torch.manual_seed(train_config.seed)
    model = Transformer(model_config)
    if progress and dist.is_main:
        report = prepared.report
        print(f"pretrain: {model.num_params() / 1e6:.2f} M parameters; "
              f"{report['tokens']:,} tokens in {report['documents'] - report['validation_documents']:,} "
              f"training documents, {report['validation_documents']:,} held out for validation "
              f"({report['dropped_overlapping_validation']:,} dropped as overlapping them)"
              + (f"; validating on {len(validation)} windows of {', '.join(heldout)}" if heldout else ""),
              flush=True)
    trainer = Trainer(model, stage, train_config, run, tokenizer,
                      run_config={"stage": "pretrain", "preset": preset}, progress=progress)
    return trainer.run()
