"""What `xiulian reward`, `dpo` and `kto` share around the loop: settings, LoRA, the run record."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from corpus.errors import UserError
from train.core.loop import TrainConfig
from train.data.preference_batches import PreferenceDataConfig
from train.stages.sft.sft import read_config as read_toml

# Every preference stage evaluates its whole held-out split (up to 64 batches) for steady accuracy.
PREFERENCE_TRAIN_DEFAULTS = dict(batch_size=8, eval_every=50, eval_batches=64, max_steps=500,
                                 weight_decay=0.0)


def _given(values: dict | None) -> dict:
    return {k: v for k, v in (values or {}).items() if v is not None}


def read_settings(config_path: str | None, section: str, section_class, defaults: dict,
                  lora_defaults: dict, overrides: dict | None, lora: dict | None,
                  section_overrides: dict | None):
    """(TrainConfig, PreferenceDataConfig, the `[section]` options, LoRA options): defaults, then
    the TOML file, then the command line."""
    file = read_toml(config_path, ("train", "data", "lora", section))
    lora = {**file.get("lora", {}), **_given(lora)}
    train = TrainConfig.from_dict({**PREFERENCE_TRAIN_DEFAULTS, **defaults,
                                   **(lora_defaults if lora.get("rank") else {}),
                                   **file.get("train", {}), **_given(overrides)})
    try:
        data = PreferenceDataConfig(**file.get("data", {}))
        options = section_class(**{**file.get(section, {}), **_given(section_overrides)})
    except TypeError as exc:
        raise UserError(f"bad [data] or [{section}] config: {exc}") from None
    return train, data, options, lora


def add_lora(model, lora: dict, also_train: tuple = ()) -> str:
    """Wrap `model` with LoRA adapters when asked; a note for the start-up line."""
    if not lora.get("rank"):
        return ""
    from train.model.lora import apply_lora, trainable_parameters
    apply_lora(model, **lora)
    for parameter in also_train:
        parameter.requires_grad_(True)
    trainable, total = trainable_parameters(model)
    return f"; LoRA rank {lora['rank']}: {trainable:,} of {total:,} parameters train"


def write_run_record(run_dir: str, summary: dict, train: TrainConfig, data: PreferenceDataConfig,
                     options, lora: dict) -> Path:
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    record = {**summary, "train": asdict(train), "data": asdict(data), "options": asdict(options),
              "lora": lora or None}
    (run / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return run


def start_line(stage: str, unit: str, train: int, validation: int, counts: dict, skipped,
               context: int, note: str = "") -> str:
    return (f"{stage}: {train:,} training and {validation:,} validation {unit} "
            f"({counts.get('truncated', 0)} cut to fit the {context}-token context, "
            f"{counts.get('dropped_overlong', 0)} dropped as too long, "
            f"{sum(skipped.values())} records skipped){note}")
