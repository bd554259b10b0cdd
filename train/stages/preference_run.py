"""What `xiulian reward`, `dpo` and `kto` share around the loop: their settings, the run record
and the start-up line."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from train.core.config import LoraConfig, TrainConfig, resolve_tables, write_run_json
from train.data.preference_batches import PreferenceDataConfig

# Every preference stage evaluates its whole held-out split (up to 64 batches) for steady accuracy.
PREFERENCE_TRAIN_DEFAULTS = dict(batch_size=8, eval_every=50, eval_batches=64, max_steps=500,
                                 weight_decay=0.0)


def read_settings(config_path: str | None, section: str, section_class, defaults: dict,
                  lora_defaults: dict, overrides: dict | None, lora: dict | None,
                  section_overrides: dict | None):
    """(TrainConfig, PreferenceDataConfig, the `[section]` options, LoRA options): defaults, then
    the TOML file, then the command line."""
    tables = resolve_tables(
        config_path, {"train": TrainConfig, "data": PreferenceDataConfig, "lora": LoraConfig, section: section_class},
        flags={"train": overrides, "lora": lora, section: section_overrides},
        defaults={"train": {**PREFERENCE_TRAIN_DEFAULTS, **defaults}}, lora_train_defaults=lora_defaults)
    return tables["train"], tables["data"], tables[section], tables["lora"]


def write_run_record(run_dir: str, summary: dict, train: TrainConfig, data: PreferenceDataConfig,
                     options, lora: dict) -> Path:
    return write_run_json(run_dir, {**summary, "train": asdict(train), "data": asdict(data),
                                    "options": asdict(options), "lora": lora or None})


def start_line(stage: str, unit: str, train: int, validation: int, counts: dict, skipped,
               context: int, note: str = "") -> str:
    return (f"{stage}: {train:,} training and {validation:,} validation {unit} "
            f"({counts.get('truncated', 0)} cut to fit the {context}-token context, "
            f"{counts.get('dropped_overlong', 0)} dropped as too long, "
            f"{sum(skipped.values())} records skipped){note}")
