"""Where the pieces of a clean output are: shards, the removed ledger, the manifest, the
dedup and decontamination reports.

`xiulian stats` and `xiulian show` accept a clean output (OUT), its `shards/` folder, any
folder of Parquet files in the shard schema, or one Parquet file. Only a real clean output
has a funnel; a bare folder of shards is described by what is in it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from .. import fs
from ..errors import UserError
from ..output_layout import MANIFEST_FILE, REMOVED_DIR, RUN_FILE, SHARDS_DIR


@dataclass
class Layout:
    path: str                               # what the user named
    shard_files: list[str]
    out: str | None = None                  # the clean output folder, when there is one
    removed_files: list[str] = field(default_factory=list)
    manifest: dict | None = None
    run_config: dict | None = None          # from OUT/run.json: the step order without a manifest

    def optional(self, *parts: str) -> str | None:
        """OUT/<parts> when this is a clean output and that file or folder exists."""
        if self.out is None:
            return None
        path = os.path.join(self.out, *parts)
        return path if os.path.exists(path) else None


def _parquet_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith(".parquet") and not name.startswith("."))


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable ({exc})") from None


def locate(path: str) -> Layout:
    """Find the shards (and, for a clean output, the ledger and manifest) under `path`."""
    if fs.is_uri(path):
        named, path = path, fs.local_path(path)
        if path is None:
            raise UserError(f"{named}: stats and show read outputs on this machine (a path or a "
                            "file:// URI); copy it here first, e.g. `aws s3 sync` or `gcloud "
                            "storage rsync`")
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file or directory")
    if os.path.isfile(path):
        if not path.endswith(".parquet"):
            raise UserError(f"{path}: not a Parquet file or a clean output folder")
        layout = Layout(path, [path])
    else:
        out = None
        if os.path.isdir(os.path.join(path, SHARDS_DIR)):
            out = path
        elif (os.path.basename(os.path.normpath(path)) == SHARDS_DIR
              and os.path.exists(os.path.join(path, "..", MANIFEST_FILE))):
            out = os.path.normpath(os.path.join(path, ".."))
        if out is not None:
            removed = os.path.join(out, REMOVED_DIR)
            layout = Layout(path, _parquet_files(os.path.join(out, SHARDS_DIR)), out,
                            _parquet_files(removed) if os.path.isdir(removed) else [],
                            _read_json(os.path.join(out, MANIFEST_FILE)),
                            (_read_json(os.path.join(out, RUN_FILE)) or {}).get("config"))
        else:
            layout = Layout(path, _parquet_files(path))
    if not layout.shard_files:
        raise UserError(f"{path}: no Parquet shards (expected OUT/shards/*.parquet or *.parquet)")
    for shard in layout.shard_files:
        check_shard(shard)
    return layout


def check_shard(path: str) -> None:
    """A shard must be readable Parquet with a `text` column."""
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{path}: not readable Parquet ({exc})") from None
    if "text" not in names:
        raise UserError(f"{path}: not in the shard schema (no `text` column; has {', '.join(names)})")
