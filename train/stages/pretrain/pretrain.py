"""Stage one: next-token prediction on the cleaned shards.

`pretrain()` resolves the run's config (preset, then `--config` TOML, then command-line flags),
tokenises the shards into `RUN/data/`, and hands a `PretrainStage` to the shared loop. The
resolved config is written to `RUN/run.json`; re-running the same command on the same RUN
resumes it, and a model config that differs from the saved one is refused rather than mixed.
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from corpus.errors import UserError
from train.core.distributed import Distributed
from train.core.loop import TrainConfig, Trainer
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
    """Packed sequences from the token stream; validation on the held-out documents."""

    def __init__(self, data: Prepared, seq_len: int, eos_id: int, seed: int, batch_size: int,
                 eval_sequences: int):
        self.stream = TokenStream(data, seq_len, eos_id, seed)
        self.batch_size = batch_size
        self.validation = validation_sequences(data, seq_len, eos_id, eval_sequences)

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
    model = dict(PRESETS[preset])
    train = dict(PRESET_TRAIN[preset])
    data: dict = {}
    if config_path:
        try:
            with open(config_path, "rb") as f:
                file = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"cannot read config {config_path}: {exc}") from None
        unknown = sorted(set(file) - {"model", "train", "data"})
        if unknown:
            raise UserError(f"{config_path}: unknown section(s) {', '.join(unknown)}; "
                            "use [model], [train] and [data]")
        model.update(file.get("model", {}))
        train.update(file.get("train", {}))
        data.update(file.get("data", {}))
    train.update({k: v for k, v in overrides.items() if v is not None})
    model["vocab_size"] = 64 * -(-vocab_size // 64)  # padded to a multiple of 64 for fast matmuls
    try:
        model_config = ModelConfig(**model)
        data_config = DataConfig(**data)
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad [model] or [data] config: {exc}") from None
    train_config = TrainConfig.from_dict(train)
    return {"preset": preset, "model": model_config.to_dict(), "train": asdict(train_config),
            "data": asdict(data_config)}


def pretrain(data_paths: list[str], tokenizer_dir: str, run_dir: str, preset: str = "tiny",
             config_path: str | None = None, overrides: dict | None = None,
             progress: bool = True) -> dict:
    """Pretrain (or resume) a model on shards; returns the final step and validation loss."""
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
        saved.write_text(json.dumps({**config, "data_paths": list(data_paths),
                                     "tokenizer": os.path.abspath(tokenizer_dir)}, indent=2) + "\n")
    train_config = TrainConfig(**config["train"])
    data_config = DataConfig(**config["data"])
    if dist.is_main:
        prepared = prepare(data_paths, tokenizer, run / "data", data_config, progress)
    dist.barrier()
    if not dist.is_main:
        prepared = prepare(data_paths, tokenizer, run / "data", data_config, progress=False)
    model_config = ModelConfig(**config["model"])
    stage = PretrainStage(prepared, model_config.max_seq_len, tokenizer.eos_id, train_config.seed,
                          train_config.batch_size, train_config.eval_batches * train_config.batch_size)
    torch.manual_seed(train_config.seed)
    model = Transformer(model_config)
    if progress and dist.is_main:
        report = prepared.report
        print(f"pretrain: {model.num_params() / 1e6:.2f} M parameters; "
              f"{report['tokens']:,} tokens in {report['documents'] - report['validation_documents']:,} "
              f"training documents, {report['validation_documents']:,} held out for validation "
              f"({report['dropped_overlapping_validation']:,} dropped as overlapping them)", flush=True)
    trainer = Trainer(model, stage, train_config, run, tokenizer,
                      run_config={"stage": "pretrain", "preset": preset}, progress=progress)
    return trainer.run()
