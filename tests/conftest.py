"""Shared fixtures: where the real data lives, and helpers to run the CLI and read its output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Under `pytest -n N` each of the N workers (and the CLI processes it starts) gets one torch
# thread: N workers of 2 threads each on N cores fight over them, and the tiny models here gain
# nothing from a second thread (the tiny recipe's test: 432 s beside another worker, 136 s alone).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEMO_WARC = ROOT / "data" / "demo" / "demo.warc.gz"


# The two longest tests (about 1.5 minutes each) start first: in collection order they came late,
# and `pytest -n 2` ended with one worker running one of them while the other sat idle.
LONGEST_FIRST = ("tests/test_recipe.py::test_tiny_recipe_runs_end_to_end_and_resumes",
                 "tests/test_ablation.py::test_tiny_ablation_runs_and_resumes")


def pytest_collection_modifyitems(config, items):
    """Name each test's `xdist_group` in its id, which is how `--dist loadgroup` keeps a group
    on one worker: xdist 3.8 writes `item._nodeid`, which pytest 9 no longer reads (it keeps the
    id in `item._id`), so the groups were split and each worker started its own Ray cluster.
    xdist sends the groups first (largest unit first); of the rest, the two longest go first."""
    if config.getoption("loadgroup", False):
        for item in items:
            groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                             for m in item.iter_markers("xdist_group")})
            if groups and "@" not in item.nodeid:
                _rename(item, f"{item.nodeid}@{'_'.join(groups)}")
    items.sort(key=lambda item: item.nodeid not in LONGEST_FIRST)  # stable: the rest keep their order


def _rename(item, nodeid: str) -> None:
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9 keeps the id as a string
        item._nodeid = nodeid
    else:
        item._id = NodeId.parse(nodeid)


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


@pytest.fixture(scope="session")
def prose_files(shared_data, tmp_path_factory) -> list[Path]:
    """The shared Chinese (CMRC contexts) and English (Wikipedia) prose as JSONL documents."""
    out = tmp_path_factory.mktemp("prose") / "en_wiki.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for i, line in enumerate(open(shared_data / "text" / "en_wikipedia_demo.txt", encoding="utf-8")):
            if line.strip():
                f.write(json.dumps({"id": f"enwiki-{i}", "text": line.strip()}) + "\n")
    return [shared_data / "text" / "zh_wikipedia_cmrc2018_contexts.jsonl", out]


@pytest.fixture(scope="session")
def tokenizer_dir(prose_files, tmp_path_factory) -> Path:
    """A 2,048-token BPE trained on the shared prose (a few seconds)."""
    from train.data.shards import find_files, iter_sample
    from train.model.tokenizer import train_tokenizer
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(iter_sample(find_files([str(p) for p in prose_files]), 10**9), out, 2048,
                    progress=False)
    return out


# A model small enough that a training test takes seconds on two cores.
TINY_TRAIN_TOML = """
[model]
dim = 64
n_layers = 2
n_heads = 4
n_kv_heads = 2
max_seq_len = 64
[train]
batch_size = 4
lr = 0.003
eval_every = 10
eval_batches = 2
"""


@pytest.fixture(scope="session")
def object_store():
    """A real S3-compatible server on 127.0.0.1 behind a fault-injecting proxy (tests/object_store.py)."""
    from tests.object_store import ObjectStore
    store = ObjectStore()
    yield store
    store.close()
