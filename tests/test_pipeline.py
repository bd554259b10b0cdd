"""The engine end to end on real pages: balanced books, readable shards, same bytes whatever
the worker count, and a SIGKILLed run that resumes to the same output."""
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import duckdb
import polars as pl
import pytest

from tests.conftest import ROOT, manifest, rows, run_cli


def digest(out):
    """sha256 of every shard and ledger file: 'same bytes' means exactly that."""
    files = sorted(p for sub in ("shards", "removed") for p in (out / sub).glob("*.parquet"))
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def inputs(shared_data):
    return [shared_data / "web/warc/CC-MAIN-2020-34_sample.warc.gz",
            shared_data / "web/html/gne_zh", shared_data / "web/html/trafilatura_cache"]


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    run_cli("clean", *inputs, "-o", out, "--workers", "1", "--shard-size", "200KB")
    return out


def test_books_balance_and_shards_open_in_polars_and_duckdb(reference):
    m = manifest(reference)
    c = m["counts"]
    assert c["read"] == c["kept"] + c["removed"] > 150
    assert sum(m["records_per_file"].values()) == c["read"]
    glob = f"{reference}/shards/*.parquet"
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == c["kept"]
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == c["kept"]
    ledger = rows(reference, "removed")
    assert len(ledger) == c["removed"] and all(r["step"] and r["reason"] for r in ledger)


def test_shards_are_bounded_and_text_is_clean(reference, shared_data):
    shards = manifest(reference)["shards"]
    assert len(shards) > 1
    docs = rows(reference)
    assert all(line == line.rstrip() for d in docs for line in d["text"].splitlines())
    assert any("\u4e00" <= ch <= "\u9fff" for d in docs for ch in d["text"][:50])
    # U+FFFD only where the page itself carries it (two thepaper.cn pages do), never from decoding
    for d in docs:
        if "\ufffd" in d["text"]:
            page = shared_data / "web/html/gne_zh" / json.loads(d["metadata"])["file"]
            assert "\ufffd".encode() in gzip.decompress(page.read_bytes()), d["metadata"]


def test_two_workers_give_the_same_bytes(inputs, reference, tmp_path):
    run_cli("clean", *inputs, "-o", tmp_path / "out", "--workers", "2", "--shard-size", "200KB")
    assert digest(tmp_path / "out") == digest(reference)


@pytest.mark.parametrize("when, how", [("early", signal.SIGKILL), ("after_first_task", signal.SIGKILL),
                                       ("after_first_task", signal.SIGINT)])
def test_sigkill_or_ctrl_c_then_resume_gives_the_same_bytes(inputs, reference, tmp_path, when, how):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "corpus.cli", "clean", *map(str, inputs), "-o", str(out),
           "--workers", "2", "--shard-size", "200KB", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        tasks = out / "tasks"
        finished = [p for p in tasks.iterdir() if ".tmp-" not in p.name] if tasks.exists() else []
        if when == "early" and tasks.exists() or when == "after_first_task" and finished:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, how)  # Ctrl-C in a terminal signals the whole process group, workers too
    if how == signal.SIGINT:  # it ends by itself, at once, with one line and no worker left behind
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "interrupted; run it again to resume" in err
        assert "Traceback" not in err
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)
    proc.wait()
    assert not (out / "manifest.json").exists(), "the run finished before it could be killed"
    resumed = run_cli("clean", *inputs, "-o", out, "--workers", "2", "--shard-size", "200KB")
    assert digest(out) == digest(reference)
    if when == "after_first_task":  # the user is told the run picked up where it stopped
        assert re.search(r"clean: resuming: [1-9]\d* of \d+ tasks done", resumed.stderr)


def test_rerun_of_a_finished_run_is_a_no_op_and_other_config_is_refused(inputs, reference, tmp_path):
    before = digest(reference)
    proc = run_cli("clean", *inputs, "-o", reference, "--shard-size", "200KB")
    assert "already complete" in proc.stdout and digest(reference) == before
    proc = run_cli("clean", *inputs, "-o", reference, "--shard-size", "1MB", check=False)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
