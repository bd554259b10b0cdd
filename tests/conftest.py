"""Shared fixtures: where the real data lives, and helpers to run the CLI and read its output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEMO_WARC = ROOT / "data" / "demo" / "demo.warc.gz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "SOURCES.md").exists():
        pytest.skip(f"real-data test: {SHARED_DATA} is absent (it sits beside the project in CI)")
    return SHARED_DATA


def run_cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    """Run `xiulian` as a user would, in a fresh process."""
    proc = subprocess.run([sys.executable, "-m", "corpus.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"xiulian {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return proc


def manifest(out: Path) -> dict:
    return json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))


def rows(out: Path, sub: str = "shards") -> list[dict]:
    files = sorted((Path(out) / sub).glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
